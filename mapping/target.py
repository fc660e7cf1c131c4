"""Backend-neutral description of where a network is deployed.

A :class:`Target` names a backend (today only ``"lava"``), a precision
(``"float"`` or ``"fixed"``), a platform (``"sim"`` or ``"hw"``), the chip whose
resource model placement checks against (``"loihi1"`` or ``"loihi2"``), and the
wall-clock bound of every run. Nothing here imports Lava: another backend can
join by adding a name to :data:`BACKENDS` and a module with ``check_platform``/``wire``/``run``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from brian2 import Quantity, second

from neurochip._validation import check_quantity, describe

#: Backends by name: module with ``check_platform(target)``, ``wire(deployment, *, horizon, probes)``
#: and ``run(deployment, wired, steps, probes)`` (see :mod:`mapping.lava_backend`).
BACKENDS = {"lava": "mapping.lava_backend"}

PRECISIONS = ("float", "fixed")
PLATFORMS = ("sim", "hw")
CHIPS = ("loihi1", "loihi2")


@dataclass(frozen=True)
class Target:
    """Where and how a network runs.

    Parameters
    ----------
    name : str
        Label used in reports.
    backend : str
        Key of :data:`BACKENDS` (``"lava"``).
    precision : {"float", "fixed"}
        Floating-point simulation, or Loihi fixed point (12-bit decays, 24-bit
        state, 8-bit weight mantissas, see :mod:`mapping.quantization`).
    platform : {"sim", "hw"}
        Simulator on this machine, or a Loihi 2 system (needs Intel's
        ``lava-loihi`` extension).
    chip : {"loihi1", "loihi2"}
        Resource model for placement (:mod:`mapping.placement`).
    timeout : Quantity
        Wall-clock bound of one run (initialization, steps and stop), default 120 s.
    check_fit : bool
        Raise :class:`mapping.placement.PlacementError` when the network does not fit the chip.
    """

    name: str
    backend: str = "lava"
    precision: str = "float"
    platform: str = "sim"
    chip: str = "loihi2"
    timeout: Quantity = field(default_factory=lambda: 120 * second)
    check_fit: bool = True

    def __post_init__(self):
        owner = f"Target '{self.name}'"
        for attr, allowed in (("backend", tuple(BACKENDS)), ("precision", PRECISIONS),
                              ("platform", PLATFORMS), ("chip", CHIPS)):
            value = getattr(self, attr)
            if value not in allowed:
                raise ValueError(f"{owner}: {attr} should be one of {', '.join(allowed)}, "
                                 f"got {describe(value)}")
        object.__setattr__(self, "timeout",
                           check_quantity(owner, "timeout", self.timeout, second, positive=True))
        if self.platform == "hw" and self.precision != "fixed":
            raise ValueError(f"{owner}: the hardware platform runs fixed point only; "
                             f"got precision {self.precision!r}")

    @property
    def timeout_seconds(self) -> float:
        return float(self.timeout / second)

    def with_options(self, **changes) -> "Target":
        """A copy with some fields changed, e.g. ``target.with_options(timeout=10*second)``."""
        return replace(self, **changes)


#: The ready-made targets, by name.
TARGETS = {
    "loihi2-sim-float": Target("loihi2-sim-float", precision="float", platform="sim"),
    "loihi2-sim-fixed": Target("loihi2-sim-fixed", precision="fixed", platform="sim"),
    "loihi2-hw": Target("loihi2-hw", precision="fixed", platform="hw"),
}


def get_target(target) -> Target:
    """A :class:`Target` from itself or from a name in :data:`TARGETS`."""
    if isinstance(target, Target):
        return target
    if isinstance(target, str) and target in TARGETS:
        return TARGETS[target]
    raise ValueError(f"target should be a mapping.Target or one of {', '.join(TARGETS)}, "
                     f"got {describe(target)}")
