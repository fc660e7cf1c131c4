"""sensors: nanosensor digital twin, domain randomization, datasets and spike encoders."""
