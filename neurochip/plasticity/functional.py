"""Pure numpy implementation of the trace equations (Norse style, batchable).

Every function works on arrays with optional leading batch axes (for instance
one axis of candidate rules), so many rules can run at once.

One step ``k`` (Lava ``LearningDense`` floating point, ``t_epoch = 1``)::

    x1 = x1 * exp(-1/x1_tau) + x1_impulse * x0        # x0 = pre spikes of step k
    x2 = x2 * exp(-1/x2_tau) + x2_impulse * x0
    y1 = y1 * exp(-1/y1_tau) + y1_impulse * y0        # y0 = post spikes of step k
    y2 = y2 * exp(-1/y2_tau) + y2_impulse * y0
    y3 = y3 * exp(-1/y3_tau) + y3_impulse * r         # r = third-factor events
    dw = sum_k c_k * D_k * F_k   (terms of neurochip.plasticity.rules.TERMS, with the old w)
    w  = clip(w + dw, w_min, w_max)

Weights have shape ``(..., n_post, n_pre)`` (NIR / Lava ``Dense`` convention).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from neurochip.plasticity.rules import TERMS, TRACE_NAMES, LearningRule


class RuleParams(NamedTuple):
    """Array form of one rule or a batch of rules (leading axes)."""

    coef: np.ndarray      # (..., n_terms)
    decay: np.ndarray     # (..., 5): x1, x2, y1, y2, y3
    impulse: np.ndarray   # (..., 5)
    w_min: np.ndarray     # (...)
    w_max: np.ndarray     # (...)


class TraceState(NamedTuple):
    """Pre traces ``x`` of shape (..., 2, n_pre) and post traces ``y`` of shape (..., 3, n_post)."""

    x: np.ndarray
    y: np.ndarray


def rule_params(rules: LearningRule | Sequence[LearningRule]) -> RuleParams:
    """:class:`RuleParams` of one rule, or of a list of rules stacked on a leading axis."""
    if isinstance(rules, LearningRule):
        d, i = rules.decays(), rules.impulses()
        return RuleParams(rules.coefficient_array(), np.array([d[t] for t in TRACE_NAMES]),
                          np.array([i[t] for t in TRACE_NAMES]), np.float64(rules.w_min),
                          np.float64(rules.w_max))
    parts = [rule_params(r) for r in rules]
    return RuleParams(*(np.stack([getattr(p, f) for p in parts]) for f in RuleParams._fields))


def init_state(n_pre: int, n_post: int, batch: tuple = ()) -> TraceState:
    """All traces zero."""
    return TraceState(np.zeros((*batch, 2, n_pre)), np.zeros((*batch, 3, n_post)))


def trace_step(state: TraceState, pre, post, third, params: RuleParams) -> TraceState:
    """Decay the traces by one step and add the impulses of this step's events."""
    pre = np.asarray(pre, dtype=float)
    post = np.asarray(post, dtype=float)
    third = np.asarray(third, dtype=float)
    dec, imp = params.decay, params.impulse
    x = state.x * dec[..., 0:2, None] + imp[..., 0:2, None] * pre[..., None, :]
    y12 = state.y[..., 0:2, :] * dec[..., 2:4, None] + imp[..., 2:4, None] * post[..., None, :]
    y3 = state.y[..., 2, :] * dec[..., 4, None] + imp[..., 4, None] * third
    return TraceState(x, np.concatenate([y12, y3[..., None, :]], axis=-2))


def delta_w(w, state: TraceState, pre, post, params: RuleParams) -> np.ndarray:
    """``dw`` of one step from the (already updated) traces, the spikes and the old weights."""
    w = np.asarray(w, dtype=float)
    pre = np.asarray(pre, dtype=float)
    post = np.asarray(post, dtype=float)
    values = {
        "x0": pre[..., None, :], "y0": post[..., :, None], "u0": 1.0,
        "x1": state.x[..., 0, None, :], "x2": state.x[..., 1, None, :],
        "y1": state.y[..., 0, :, None], "y2": state.y[..., 1, :, None],
        "y3": state.y[..., 2, :, None], "w": w,
    }
    coef = params.coef
    dw = np.zeros(np.broadcast_shapes(w.shape, coef.shape[:-1] + (1, 1)))
    for k, (_, dep, factors) in enumerate(TERMS):
        c = coef[..., k]
        if not np.any(c):
            continue
        # Same association as the Brian2 code: ((c * dep) * f1) * f2.
        term = np.asarray(c)[..., None, None] * values[dep]
        for f in factors:
            term = term * values[f]
        dw = dw + term
    return dw


def plasticity_step(w, state: TraceState, pre, post, third, params: RuleParams):
    """One step: traces, then ``w = clip(w + dw)``. Returns ``(w, dw, state)``."""
    state = trace_step(state, pre, post, third, params)
    dw = delta_w(w, state, pre, post, params)
    w_new = np.clip(w + dw, np.asarray(params.w_min)[..., None, None], np.asarray(params.w_max)[..., None, None])
    return w_new, dw, state


def run_rule(rule: LearningRule, pre, post, w0, third=None) -> tuple[np.ndarray, TraceState]:
    """Apply ``rule`` on given spike rasters.

    Parameters
    ----------
    rule : LearningRule
    pre : array of shape (steps, n_pre)
        Pre spikes (bool or 0/1).
    post : array of shape (steps, n_post)
        Post spikes.
    w0 : array of shape (n_post, n_pre)
        Initial weights.
    third : array of shape (steps, n_post), optional
        Third-factor events; default: the post spikes (Loihi2F).

    Returns
    -------
    w : ndarray (n_post, n_pre)
        Weights after the last step.
    state : TraceState
    """
    pre = np.asarray(pre, dtype=float)
    post = np.asarray(post, dtype=float)
    if pre.ndim != 2 or post.ndim != 2 or pre.shape[0] != post.shape[0]:
        raise ValueError(f"run_rule: pre and post should be (steps, n) rasters with the same number "
                         f"of steps, got shapes {pre.shape} and {post.shape}")
    w = np.array(w0, dtype=float)
    if w.shape != (post.shape[1], pre.shape[1]):
        raise ValueError(f"run_rule: w0 should have shape (n_post, n_pre) = {(post.shape[1], pre.shape[1])}, "
                         f"got {w.shape}")
    third = post if third is None else np.asarray(third, dtype=float)
    if third.shape != post.shape:
        raise ValueError(f"run_rule: third should have the shape of post {post.shape}, got {third.shape}")
    params = rule_params(rule)
    state = init_state(pre.shape[1], post.shape[1])
    for k in range(pre.shape[0]):
        w, _, state = plasticity_step(w, state, pre[k], post[k], third[k], params)
    return w, state


def stdp_window(rule: LearningRule, delays) -> np.ndarray:
    """``dw`` of one pre/post pair per delay ``d = t_post - t_pre`` (steps), from :func:`run_rule`."""
    delays = np.asarray(delays, dtype=int)
    span = int(np.abs(delays).max()) if delays.size else 0
    out = np.zeros(delays.shape, dtype=float)
    for n, d in enumerate(delays.ravel()):
        steps = 2 * span + 3
        pre = np.zeros((steps, 1))
        post = np.zeros((steps, 1))
        t0 = span + 1
        pre[t0, 0] = 1
        post[t0 + d, 0] = 1
        w, _ = run_rule(rule, pre, post, np.zeros((1, 1)))
        out.ravel()[n] = w[0, 0]
    return out


def run_rule_device(rule: LearningRule, pre, post, device, w0, third=None):
    """:func:`run_rule` through a memristive device model (numpy twin of the Brian2 code).

    The weights live on differential pairs written with ``device.map_weights(w0)``
    (the device's seed, one pair per synapse in (pre, post) order, as in the
    Brian2 backend); every step the rule's ``dw`` is applied as programming
    pulses with :func:`neurochip.devices.functional.apply_dw` and the weight is
    read back as ``k (G+ - G-)``. Exact against Brian2 for devices without
    cycle-to-cycle noise. Returns ``(w, (state_plus, state_minus))``.
    """
    from neurochip.devices import functional as DF

    pre = np.asarray(pre, dtype=float)
    post = np.asarray(post, dtype=float)
    w0 = np.asarray(w0, dtype=float)
    n_post, n_pre = w0.shape
    pi, qi = np.meshgrid(np.arange(n_pre), np.arange(n_post), indexing="ij")
    pi, qi = pi.ravel(), qi.ravel()
    mapping = device.map_weights(w0.T.ravel())
    sp, sm = mapping.state_plus, mapping.state_minus
    ap, am = mapping.arrays_plus, mapping.arrays_minus
    k = mapping.k
    step = DF.dw_step(device, k)
    params = rule_params(rule)
    state = init_state(n_pre, n_post)
    third = post if third is None else np.asarray(third, dtype=float)
    rng = np.random.default_rng(device.seed)
    w = np.zeros((n_post, n_pre))
    for t in range(pre.shape[0]):
        w[qi, pi] = k * (sp.g - sm.g)
        state = trace_step(state, pre[t], post[t], third[t], params)
        dw = delta_w(w, state, pre[t], post[t], params)
        sp, sm = DF.apply_dw(sp, sm, dw[qi, pi], ap, am, device.pulse_params, step,
                             device.update_scheme, rng, t=float(t))
    w[qi, pi] = k * (sp.g - sm.g)
    return w, (sp, sm)
