"""Device presets with their sources.

Each function returns a fresh model; keyword arguments override parameters
(``presets.ag_a_si(sigma_g_max=0.1, seed=3)``). :data:`PRESETS` maps names to
these functions and :func:`get` looks one up by name.

Sources
-------
ideal
    NeuroSim ``IdealDevice`` (MLP+NeuroSim V3.0, ``Cell.cpp``; Chen, Peng & Yu,
    "NeuroSim: A circuit-level macro model for benchmarking neuro-inspired
    architectures in online learning", IEEE TCAD 37(12), 2018): linear update,
    ``g_max = 5 uS``, ``g_min = 100 nS``, 64 levels, no noise.
ag_a_si
    Ag:a-Si memristor (Jo et al., "Nanoscale memristor device as synapse in
    neuromorphic systems", Nano Letters 10, 1297, 2010) with the parameters
    NeuroSim uses for it (Chen, Peng & Yu 2018, device table; MLP+NeuroSim V3.0
    manual): ``g_max = 38.46 nS`` (26 MOhm), ``g_min = 3.08 nS`` (325 MOhm),
    97 potentiation / 100 depression levels, nonlinearity 2.4 / -4.88,
    cycle-to-cycle noise 3.5 % of the conductance range per pulse (growing as
    ``sqrt(n)`` for ``n`` pulses, as NeuroSim's ``RealDevice::Write``). Note:
    NeuroSim's ``maxNumLevelLTP = 97`` counts the *pulses* from ``g_min`` to
    ``g_max`` (98 states); here ``n_levels`` counts the *states* (96 pulses), so
    the curve has the same shape with one pulse fewer.
pcm
    Phase-change memory as in IBM aihwkit's ``PCMLikeNoiseModel``
    (``aihwkit/inference/noise/pcm.py``), fitted on the devices of Nandakumar et
    al., "Phase-change memory models for deep learning training and inference",
    ICECS 2019: ``g_max = 25 uS`` (``g_min = 0``), drift reference time
    ``t0 = 20 s``, drift exponent ``nu = 0.05`` (aihwkit's mean ``nu`` is
    0.049-0.1, 0.049 for ``g >= 0.2 g_max``) with device spread 0.01 (aihwkit:
    0.008-0.045 depending on ``g``; we take one constant), programming noise
    ``write_sigma = 0.038`` of ``g_max`` (aihwkit's polynomial
    ``0.26348 + 1.9650 g/g_max - 1.1731 (g/g_max)^2`` uS at ``g = g_max/2``,
    0.95 uS), write-verify programming, read noise ``read_sigma = 0.014``
    (aihwkit's 1/f coefficient ``Q_s = 0.0088 (g/g_max)^-0.65`` at
    ``g = g_max/2``, without its accumulated log-time factor). Not from the
    source: the number of levels (64, a typical multi-level PCM resolution) and a
    linear pulse response; aihwkit's inference model has neither.
"""
from __future__ import annotations

from brian2 import nS, second, uS

from neurochip.devices.model import DeviceModel, LinearDevice, PCMDevice, SoftBoundedDevice

IDEAL_SOURCE = ("NeuroSim IdealDevice (MLP+NeuroSim V3.0 Cell.cpp; Chen, Peng & Yu, IEEE TCAD 37(12), 2018)")
AG_A_SI_SOURCE = ("Jo et al., Nano Lett. 10, 1297 (2010), Ag:a-Si; parameters as used by NeuroSim "
                  "(Chen, Peng & Yu, IEEE TCAD 37(12), 2018; MLP+NeuroSim V3.0 manual)")
PCM_SOURCE = ("IBM aihwkit PCMLikeNoiseModel (inference/noise/pcm.py), after Nandakumar et al., ICECS 2019; "
              "levels (64) and linear pulse response are assumptions")


def ideal(**overrides) -> DeviceModel:
    """Linear device, 64 levels, 0.1-5 uS, no noise (NeuroSim ``IdealDevice``)."""
    params = dict(g_min=100 * nS, g_max=5000 * nS, n_levels=64, label="ideal", source=IDEAL_SOURCE)
    params.update(overrides)
    return LinearDevice(**params)


def ag_a_si(**overrides) -> DeviceModel:
    """Ag:a-Si memristor as parameterized in NeuroSim (Jo et al. 2010)."""
    params = dict(g_min=3.08 * nS, g_max=38.46 * nS, n_levels=97, n_levels_d=100, nonlinearity_p=2.4,
                  nonlinearity_d=-4.88, c2c_sigma=0.035, label="ag_a_si", source=AG_A_SI_SOURCE)
    params.update(overrides)
    return SoftBoundedDevice(**params)


def pcm(**overrides) -> DeviceModel:
    """PCM after aihwkit's ``PCMLikeNoiseModel`` (Nandakumar et al. 2019)."""
    params = dict(g_min=0 * uS, g_max=25 * uS, n_levels=64, drift_nu=0.05, drift_nu_sigma=0.01,
                  drift_t0=20 * second, write_sigma=0.038, read_sigma=0.014, write_verify=True,
                  update_scheme="set_only", label="pcm", source=PCM_SOURCE)
    params.update(overrides)
    return PCMDevice(**params)


PRESETS = {"ideal": ideal, "ag_a_si": ag_a_si, "pcm": pcm}


def get(name: str, **overrides) -> DeviceModel:
    """The preset called ``name`` (see :data:`PRESETS`), with overrides."""
    if name not in PRESETS:
        raise ValueError(f"unknown device preset {name!r} (known: {', '.join(PRESETS)})")
    return PRESETS[name](**overrides)
