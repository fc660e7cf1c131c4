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


class FixedLIFParams(NamedTuple):
    """Loihi fixed-point LIF parameters (Lava ``PyLifModelBitAcc``), integers: ``du_int``, ``dv_int`` the 12-bit
    decays (the current keeps ``4096 - du_int - 1`` parts in 4096 per step, the voltage ``4096 - dv_int``),
    ``vth_mant`` the threshold mantissa (effective threshold ``vth_mant << 6``), ``bias`` the effective bias
    ``bias_mant << bias_exp`` (scalar or per neuron)."""

    du_int: int
    dv_int: int
    vth_mant: int
    bias: int | np.ndarray = 0


class FixedLIFState(LIFState):
    """:class:`LIFState` of integers: current ``u`` and voltage ``v`` (24-bit values in int64 arrays)."""

    __slots__ = ()

    @classmethod
    def zeros(cls, shape) -> "FixedLIFState":
        return cls(np.zeros(shape, np.int64), np.zeros(shape, np.int64))


_UV_LIMIT = 2 ** 23


def _decay_toward_zero(x: np.ndarray, keep: int) -> np.ndarray:
    prod = x * keep
    return np.sign(prod) * (np.abs(prod) >> 12)


def lif_step_fixed(state: FixedLIFState, a_in, params: FixedLIFParams) -> tuple[FixedLIFState, np.ndarray]:
    """One Loihi fixed-point LIF step (Lava ``PyLifModelBitAcc``): ``(new state, boolean spikes)``.

    ``u = wrap24(trunc(u (4096 - du_int - 1) / 4096) + (a_in << 6))``,
    ``v = clip24(trunc(v (4096 - dv_int) / 4096) + u + bias)``, spike where
    ``v > vth_mant << 6``, then ``v = 0`` there. ``a_in`` is the integer input of
    this step (the sum of every projection's ``Dense`` output).
    """
    u = _decay_toward_zero(state.u, 4096 - (params.du_int + 1)) + (np.asarray(a_in, np.int64) << 6)
    u = np.where(u > _UV_LIMIT, u - 2 * _UV_LIMIT, u)
    u = np.where(u <= -_UV_LIMIT, u + 2 * _UV_LIMIT, u)
    v = _decay_toward_zero(state.v, 4096 - params.dv_int) + u + params.bias
    v = np.clip(v, -_UV_LIMIT + 1, _UV_LIMIT - 1)
    spikes = v > (params.vth_mant << 6)
    return FixedLIFState(u, np.where(spikes, 0, v)), spikes


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
