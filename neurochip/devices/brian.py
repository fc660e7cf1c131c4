"""Brian2 synapses holding memristive differential pairs.

Each synapse holds two devices, ``gp`` (``G+``) and ``gm`` (``G-``), with their
own drawn parameters (``gmin_p``, ``gmax_p``, ``ap_p``, ``ad_p``, ``nu_p``,
``free_p`` and the same with ``_m``) and the time they were last programmed
(``tprog_p``, ``tprog_m``; 0 at the start of the run). Shared constants:
``k_dev`` (weight per siemens), ``lp_dev`` / ``ld_dev`` (levels),
``c2c_dev``, ``read_dev``, ``t0_dev``, ``dw_step_dev``.

Read (every pre-synaptic spike, :data:`READ_CODE`)::

    dev_read = k (Gp_read - Gm_read);  a_in_post += dev_read
    G_read = G * clip((t - tprog)/t0, 1, inf)^(-nu) * (1 + read_sigma * randn())

``w = k_dev*(gp - gm)`` is a (noise-free, drift-free) subexpression that
learning rules may read.

The device as a weight part
---------------------------
:func:`device_part` is the device's share of a synapse for
:func:`neurochip.brian_synapses.build_synapses`: the model above, the read,
and ``write(dw)``, which turns a rule's weight change ``dw`` into programming
pulses with :func:`dw_update_code` (signed pulse counts on ``gp``/``gm``
through the device model, with cycle-to-cycle noise and bounds). The rule
part (``neurochip.plasticity.brian``) never sees device code. The numpy twin
is :func:`neurochip.devices.functional.apply_dw`; both round ``dw / dw_step``
half up and use the same pair scheme. Temporaries named ``dev_*`` and
``dw_rule``, and the variables above, are reserved for the device code.
"""
from __future__ import annotations

import logging

import brian2 as b2
import numpy as np

from neurochip.brian_synapses import WeightPart
from neurochip.devices import functional as F
from neurochip.devices.functional import dw_step

SYNAPSE_MODEL = """
gp : siemens
gm : siemens
gmin_p : siemens (constant)
gmax_p : siemens (constant)
gmin_m : siemens (constant)
gmax_m : siemens (constant)
ap_p : 1 (constant)
ad_p : 1 (constant)
ap_m : 1 (constant)
ad_m : 1 (constant)
nu_p : 1 (constant)
nu_m : 1 (constant)
free_p : 1 (constant)
free_m : 1 (constant)
tprog_p : second
tprog_m : second
k_dev : siemens**-1 (shared, constant)
lp_dev : 1 (shared, constant)
ld_dev : 1 (shared, constant)
c2c_dev : 1 (shared, constant)
read_dev : 1 (shared, constant)
t0_dev : second (shared, constant)
dw_step_dev : 1 (shared, constant)
w = k_dev*(gp - gm) : 1
"""

READ_CODE = (
    "dev_read = k_dev*(gp*clip((t - tprog_p)/t0_dev, 1, inf)**(-nu_p)*(1 + read_dev*randn())"
    " - gm*clip((t - tprog_m)/t0_dev, 1, inf)**(-nu_m)*(1 + read_dev*randn()))\n"
    "a_in_post += dev_read"
)

#: The read without read noise (used when ``read_sigma == 0``: no random numbers drawn).
READ_CODE_NOISELESS = (
    "dev_read = k_dev*(gp*clip((t - tprog_p)/t0_dev, 1, inf)**(-nu_p)"
    " - gm*clip((t - tprog_m)/t0_dev, 1, inf)**(-nu_m))\n"
    "a_in_post += dev_read"
)


def read_code(noise: bool = True) -> str:
    """The statements of a device read on a pre-synaptic spike (``dev_read``, added to ``a_in_post``)."""
    return READ_CODE if noise else READ_CODE_NOISELESS


class _DeviceReadOrderFilter(logging.Filter):
    """Drop Brian2's order-dependence warning for the device read only.

    Brian2 warns about any random number drawn in a block that adds into a
    post-synaptic variable; the reads of different synapses are independent
    draws summed into ``a_in_post``, so their order does not matter.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not ("may not be well-defined" in msg and "dev_read" in msg)


logging.getLogger("brian2.codegen.generators.base").addFilter(_DeviceReadOrderFilter())


def pulse_code(side: str, n: str) -> str:
    """Brian2 statements applying ``n`` (an expression, signed pulse count) to device ``gp`` (side ``"p"``) or ``gm`` (``"m"``).

    Same arithmetic as :func:`neurochip.devices.functional.program`: nearest
    level on the pulse direction's curve, ``+ n`` clipped to the curve, then
    cycle-to-cycle noise and the device's bounds; stuck devices (``free = 0``)
    and ``n == 0`` leave the device untouched.
    """
    if side not in ("p", "m"):
        raise ValueError(f"pulse_code: side should be 'p' or 'm', got {side!r}")
    g = "gp" if side == "p" else "gm"
    s = side
    return f"""
dev_up_{s} = int({n} > 0)
dev_a_{s} = dev_up_{s}*ap_{s} + (1 - dev_up_{s})*ad_{s}
dev_pmax_{s} = dev_up_{s}*(lp_dev - 1) + (1 - dev_up_{s})*(ld_dev - 1)
dev_y_{s} = clip(({g} - gmin_{s})/(gmax_{s} - gmin_{s}), 0, 1)
dev_x_{s} = clip(floor(-dev_a_{s}*log1p(dev_y_{s}*expm1(-1/dev_a_{s}))*dev_pmax_{s} + 0.5) + {n}, 0, dev_pmax_{s})
dev_g0_{s} = gmin_{s} + (gmax_{s} - gmin_{s})*(expm1(-(dev_x_{s}/dev_pmax_{s})/dev_a_{s})/expm1(-1/dev_a_{s}))
dev_g1_{s} = clip(dev_g0_{s} + c2c_dev*(gmax_{s} - gmin_{s})*sqrt(abs({n}))*randn(), gmin_{s}, gmax_{s})
dev_chg_{s} = int({n} != 0)*free_{s}
tprog_{s} = dev_chg_{s}*t + (1 - dev_chg_{s})*tprog_{s}
{g} = dev_chg_{s}*dev_g1_{s} + (1 - dev_chg_{s})*{g}
"""


def dw_update_code(dw: str = "dw", scheme: str = "pair") -> str:
    """Brian2 statements turning a weight change ``dw`` (expression) into pulses on ``gp`` / ``gm``.

    ``n = sign(dw) floor(|dw| / dw_step_dev + 1/2)``, split by ``scheme`` as in
    :func:`neurochip.devices.functional.dw_to_pulses`, then :func:`pulse_code`
    for ``gp`` and for ``gm``.
    """
    head = f"dev_n = sign({dw})*floor(abs({dw})/dw_step_dev + 0.5)\n"
    if scheme == "pair":
        head += """dev_mab = int(gm > gmin_m + 1e-6*(gmax_m - gmin_m))
dev_pab = int(gp > gmin_p + 1e-6*(gmax_p - gmin_p))
dev_pos = int(dev_n > 0)
dev_neg = int(dev_n < 0)
dev_np = (dev_pos*(1 - dev_mab) + dev_neg*dev_pab)*dev_n
dev_nm = -(dev_pos*dev_mab + dev_neg*(1 - dev_pab))*dev_n
"""
    elif scheme == "set_only":
        head += "dev_np = int(dev_n > 0)*dev_n\ndev_nm = -int(dev_n < 0)*dev_n\n"
    else:
        raise ValueError(f"dw_update_code: scheme should be 'pair' or 'set_only', got {scheme!r}")
    return head + pulse_code("p", "dev_np") + pulse_code("m", "dev_nm")


def set_device_variables(syn: b2.Synapses, device, mapping) -> None:
    """Load a :class:`~neurochip.devices.mapping.WeightMapping` (one pair per synapse) into ``syn``."""
    ap, am = mapping.arrays_plus, mapping.arrays_minus
    syn.gp = mapping.state_plus.g * b2.siemens
    syn.gm = mapping.state_minus.g * b2.siemens
    syn.gmin_p, syn.gmax_p = ap.g_min * b2.siemens, ap.g_max * b2.siemens
    syn.gmin_m, syn.gmax_m = am.g_min * b2.siemens, am.g_max * b2.siemens
    syn.ap_p, syn.ad_p, syn.ap_m, syn.ad_m = ap.a_p, ap.a_d, am.a_p, am.a_d
    syn.nu_p, syn.nu_m = ap.nu, am.nu
    syn.free_p = (ap.stuck == F.FREE).astype(float)
    syn.free_m = (am.stuck == F.FREE).astype(float)
    syn.tprog_p = 0 * b2.second
    syn.tprog_m = 0 * b2.second
    syn.k_dev = mapping.k / b2.siemens
    syn.lp_dev = device.n_levels
    syn.ld_dev = device.n_levels_d
    syn.c2c_dev = device.c2c_sigma
    syn.read_dev = device.read_sigma
    syn.t0_dev = device.drift_t0
    syn.dw_step_dev = dw_step(device, mapping.k)


def device_part(device, w):
    """The :class:`~neurochip.brian_synapses.WeightPart` of weights ``w`` stored in differential pairs.

    Parameters
    ----------
    device : neurochip.devices.DeviceModel
        Pairs are written with ``device.map_weights(w)`` (the device's seed), so a
        dense projection starts from exactly ``device.snapshot_weights(weights)``.
    w : array of shape (n_synapses,)
        Target weights in synapse order (``Projection.synapses()``).

    Returns
    -------
    WeightPart
        Model :data:`SYNAPSE_MODEL` (``w = k_dev*(gp - gm)`` is a subexpression a
        rule may read), read :func:`read_code` on each pre spike, and ``write(dw)``
        turning a rule's change ``dw`` into programming pulses
        (:func:`dw_update_code`, the device's update scheme). Build the synapses with
        :func:`neurochip.brian_synapses.build_synapses`; seed Brian2's generator with
        :func:`brian_seed` for runs that repeat.
    """
    mapping = device.map_weights(w)
    return WeightPart(model=SYNAPSE_MODEL, read=read_code(device.read_sigma > 0),
                      write=lambda dw: f"dw_rule = {dw}\n" + dw_update_code("dw_rule", scheme=device.update_scheme),
                      setup=lambda syn, i, j: set_device_variables(syn, device, mapping))


def brian_seed(device) -> int | None:
    """Seed for Brian2's random generator that a run with this device needs (``None``: it draws nothing).

    Read and cycle-to-cycle noise are drawn by Brian2's generated code from
    Brian2's global generator; the backend seeds it with this value for the
    duration of a run only (see :func:`neurochip.brian_backend.simulate`).
    """
    return int(device.seed) if device.read_sigma > 0 or device.c2c_sigma > 0 else None


def device_conductances(syn: b2.Synapses) -> tuple[np.ndarray, np.ndarray]:
    """``(G+, G-)`` of every synapse, floats in siemens, in Brian2's synapse order."""
    return np.asarray(syn.gp_), np.asarray(syn.gm_)


def device_weights(syn: b2.Synapses) -> np.ndarray:
    """Noise-free, drift-free weights ``k (G+ - G-)`` of every synapse."""
    return np.asarray(syn.w[:], dtype=float)
