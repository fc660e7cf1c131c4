"""The Loihi CUBA LIF neuron, once: a pure numpy step and the Brian2 code block.

Per step, in the order of Lava's ``PyLifModelFloat`` (DESIGN.md)::

    u = u * (1 - du) + a_in          # synaptic current
    v = v * (1 - dv) + u + bias      # membrane voltage
    spike where v > vth;  v = 0 there

:func:`lif_step` is that update on numpy arrays (Norse style:
``state, spikes = lif_step(state, a_in, params)``), batched over leading axes
by broadcasting. Every numpy implementation of the neuron in the code base calls
it (the reference simulator, the few-shot winner-take-all twin), so they share
one floating-point order of operations: Brian2, the numpy reference and Lava's
float LIF agree spike for spike.

:data:`BRIAN_LIF_MODEL`, :data:`BRIAN_LIF_UPDATE` and :func:`brian_lif_group`
are the same update as Brian2 code: a ``run_regularly`` operation at the start
of every step (``when="start"``) plus an input accumulator ``a_in`` that
synapses add to and the update consumes (Lava ``Dense``'s one-step latency).
Every Brian2 LIF of the code base is built by :func:`brian_lif_group`.

:func:`lif_step_fixed` is the same neuron in Loihi's fixed-point arithmetic (Lava
``PyLifModelBitAcc``): 12-bit decays, 24-bit state with wrap (u) and clip (v),
truncating decays, ``a_in << 6``, threshold ``vth_mant << 6``. It is the one
integer step of the code base (``mapping.fixed_point`` runs networks with it).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class LIFParams(NamedTuple):
    """Loihi float LIF parameters (fractions per step; arrays broadcast against the state).

    ``du``, ``dv`` are the fractions of current and voltage lost per step
    (Lava's floating-point ``du`` / ``dv``), ``vth`` the threshold, ``bias`` a
    constant input to ``v`` every step.
    """

    du: float | np.ndarray
    dv: float | np.ndarray
    vth: float | np.ndarray
    bias: float | np.ndarray = 0.0


class LIFState(NamedTuple):
    """Synaptic current ``u`` and membrane voltage ``v`` (arrays of one shape, e.g. ``(..., n)``)."""

    u: np.ndarray
    v: np.ndarray

    @classmethod
    def zeros(cls, shape) -> "LIFState":
        """All-zero state of ``shape``."""
        return cls(np.zeros(shape), np.zeros(shape))


def lif_step(state: LIFState, a_in, params: LIFParams) -> tuple[LIFState, np.ndarray]:
    """One Loihi float LIF step: ``(new state, boolean spikes)``.

    Parameters
    ----------
    state : LIFState
        ``u`` and ``v`` of the previous step (not modified).
    a_in : array
        Input current of this step (weighted spikes), broadcast against ``state.u``.
    params : LIFParams
        Broadcast against the state (scalars, per-neuron arrays, or batch arrays).

    Returns
    -------
    state : LIFState
        ``u = u (1 - du) + a_in``, ``v = v (1 - dv) + u + bias``, then ``v = 0`` where it spiked.
    spikes : ndarray of bool
        ``v > vth`` (before the reset).
    """
    u = state.u * (1 - params.du) + a_in
    v = state.v * (1 - params.dv) + u + params.bias
    spikes = v > params.vth
    return LIFState(u, np.where(spikes, 0.0, v)), spikes


#: Brian2 model of the LIF group: state, input accumulator and per-neuron bias;
#: decays and threshold are shared constants of the group.
BRIAN_LIF_MODEL = """
u : 1
v : 1
a_in : 1
bias : 1
du : 1 (shared, constant)
dv : 1 (shared, constant)
vth : 1 (shared, constant)
"""

#: The update of :func:`lif_step` as Brian2 abstract code (run at the start of each step;
#: the threshold ``v > vth`` and reset ``v = 0`` follow in Brian2's own slots).
BRIAN_LIF_UPDATE = """
u = u*(1 - du) + a_in
v = v*(1 - dv) + u + bias
a_in = 0
"""


def brian_lif_group(n: int, *, du: float, dv: float, vth: float, bias=0.0, u_init=0.0, v_init=0.0, dt,
                    name: str):
    """A ``brian2.NeuronGroup`` of ``n`` Loihi LIF neurons running :data:`BRIAN_LIF_UPDATE`.

    Parameters
    ----------
    n : int
    du, dv, vth : float
        Shared decays and threshold (see :class:`LIFParams`).
    bias, u_init, v_init : float or array of shape (n,)
    dt : brian2 Quantity
        One step.
    name : str
        Brian2 name of the group; its update operation is ``f"{name}_update"``.
        Canonical names (``neurochip_pop0``, ...) let networks of the same
        structure share Brian2's compiled code.

    Returns
    -------
    brian2.NeuronGroup
        Synapses add their input to ``a_in_post``; ``u``, ``v`` are recorded at
        the end of each step by a ``StateMonitor(..., when="end")``.
    """
    import brian2 as b2

    g = b2.NeuronGroup(n, BRIAN_LIF_MODEL, threshold="v > vth", reset="v = 0", dt=dt, name=name)
    g.du = du
    g.dv = dv
    g.vth = vth
    g.bias = bias
    g.u = u_init
    g.v = v_init
    g.run_regularly(BRIAN_LIF_UPDATE, dt=dt, when="start", name=f"{name}_update")
    return g


# ----------------------------------------------------------------- Loihi fixed point
#: Loihi's fixed-point LIF: decays are ``d / 2**DECAY_BITS``; ``u``, ``v`` are 24-bit
#: (``|x| < 2**23``); synaptic input and threshold are shifted left by 6 (MSB alignment).
DECAY_BITS = 12
UV_LIMIT = 2 ** 23
ACT_SHIFT = 6
VTH_SHIFT = 6


class FixedLIFParams(NamedTuple):
    """Integer LIF parameters, as Lava's fixed-point ``LIF`` takes them.

    ``du_int``, ``dv_int`` are 12-bit decays (the current loses ``(du_int + 1) / 4096``
    per step, Loihi adds 1; the voltage ``dv_int / 4096``); the threshold is
    ``vth_mant << 6``; the bias ``bias_mant << bias_exp`` (per neuron or scalar).
    """

    du_int: int
    dv_int: int
    vth_mant: int
    bias_mant: int | np.ndarray = 0
    bias_exp: int | np.ndarray = 0


class FixedLIFOverflow(NamedTuple):
    """Where one fixed-point step left the 24-bit range: ``u`` wrapped, ``v`` clipped (boolean arrays)."""

    u_wrapped: np.ndarray
    v_clipped: np.ndarray


def _decayed(x: np.ndarray, keep: int) -> np.ndarray:
    """``trunc(x * keep / 4096)`` toward zero, in int64 (Lava: ``sign(x) * (|x * keep| >> 12)``)."""
    y = x * keep
    return np.sign(y) * (np.abs(y) >> DECAY_BITS)


def lif_step_fixed(state: LIFState, a_in, params: FixedLIFParams
                   ) -> tuple[LIFState, np.ndarray, FixedLIFOverflow]:
    """One Loihi fixed-point LIF step on integers: ``(new state, spikes, overflow)``.

    Bit for bit the update of Lava's ``PyLifModelBitAcc``::

        u = wrap24( trunc(u * (4096 - du_int - 1) / 4096) + (a_in << 6) )
        v = clip24( trunc(v * (4096 - dv_int) / 4096) + u + (bias_mant << bias_exp) )
        spike where v > (vth_mant << 6);  v = 0 there

    with ``wrap24``: above ``2**23`` subtract ``2**24``, at or below ``-2**23`` add it;
    ``clip24``: to ``[-2**23 + 1, 2**23 - 1]``.

    Parameters
    ----------
    state : LIFState
        Integer ``u``, ``v`` (int64 arrays) of the previous step (not modified).
    a_in : array of int
        Synaptic input of this step (the summed, exponent-shifted weights of Lava's ``Dense``).
    params : FixedLIFParams

    Returns
    -------
    state : LIFState
        int64 ``u``, ``v`` after the step (``v = 0`` where it spiked).
    spikes : ndarray of bool
    overflow : FixedLIFOverflow
        Where ``u`` wrapped and ``v`` was clipped in this step.
    """
    u = _decayed(np.asarray(state.u, np.int64), 2 ** DECAY_BITS - (params.du_int + 1))
    u = u + (np.asarray(a_in, np.int64) << ACT_SHIFT)
    wrapped = (u > UV_LIMIT) | (u <= -UV_LIMIT)
    u = np.where(u > UV_LIMIT, u - 2 * UV_LIMIT, u)
    u = np.where(u <= -UV_LIMIT, u + 2 * UV_LIMIT, u)
    bias = np.left_shift(np.asarray(params.bias_mant, np.int64), np.asarray(params.bias_exp, np.int64))
    v = _decayed(np.asarray(state.v, np.int64), 2 ** DECAY_BITS - params.dv_int) + u + bias
    clipped = (v < -UV_LIMIT + 1) | (v > UV_LIMIT - 1)
    v = np.clip(v, -UV_LIMIT + 1, UV_LIMIT - 1)
    spikes = v > (int(params.vth_mant) << VTH_SHIFT)
    return LIFState(u, np.where(spikes, 0, v)), spikes, FixedLIFOverflow(wrapped, clipped)
