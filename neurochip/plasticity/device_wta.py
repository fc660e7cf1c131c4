"""The few-shot network learning through memristive devices, batched over candidate rules and pulse gains.

The plastic weights of :func:`~neurochip.plasticity.wta.wta_network` stored on
differential pairs ``w = k (G+ - G-)`` of a :class:`~neurochip.devices.DeviceModel`:
the weights are written with ``device.map_weights`` (the device's seed, one pair
per synapse in (pre, post) order, as the Brian2 backend and
:func:`~neurochip.plasticity.functional.run_rule_device` do; the pair's full range
is the rules' weight bound), and every step the
rule's ``dw`` becomes programming pulses, ``round(pulse_gain * dw / dw_level)``
per synapse (:func:`neurochip.devices.functional.apply_dw`): the device's
nonlinear curve, its bounds and its cycle-to-cycle noise act on each update.
``pulse_gain`` (pulses per nominal level, the device's learning rate) may differ
per candidate, so a meta-learner can search it with the rule. Prediction reads
the conductances (no read noise) and runs the float twin.
"""
from __future__ import annotations

import numpy as np

from neurochip.devices import functional as DF
from neurochip.lif import LIFState, lif_step
from neurochip.plasticity.functional import RuleParams, delta_w, init_state, trace_step
from neurochip.plasticity.fixed_wta import padded
from neurochip.plasticity.wta import OutputParams, _static_current, _twin_arrays, teacher_bias


def learn_through_device(W0, rasters, out: OutputParams, device, *, rule: RuleParams, labels, pulse_gain=None,
                         random_state=None, w_range: float | None = None) -> np.ndarray:
    """Learn ``rasters`` sample by sample through ``device``; returns the weights read after learning.

    Parameters
    ----------
    W0 : array (n_out, n_in)
        Weights written to the devices before learning (the same devices for every candidate).
    rasters : bool array (n_samples, steps, n_in)
    out : OutputParams
    device : neurochip.devices.DeviceModel
    rule : RuleParams
        Batch of ``B`` candidate rules (leading axis); the device bounds replace ``w_min`` / ``w_max``.
    labels : int array (n_samples,)
    pulse_gain : float or array (B,), optional
        Pulses per nominal level of requested change per candidate (default ``device.pulse_gain``).
    random_state : int or Generator, optional
        Cycle-to-cycle noise (default: the device's seed).
    w_range : float, optional
        Weight of a full-range pair, ``k (g_max - g_min)``: default the largest
        finite bound of the rules (so learning can reach it; the initial weights'
        largest magnitude would leave no room to grow), else ``max |W0|``.

    Returns
    -------
    ndarray (B, n_out, n_in)
    """
    W0 = np.asarray(W0, dtype=float)
    n_out, n_in = W0.shape
    batch = np.shape(rule.coef)[:-1]
    rasters = np.asarray(rasters, dtype=bool)
    twin = _twin_arrays(n_out, n_in, rasters.shape[1], out)
    lif, lateral_t = twin.lif, twin.lateral_t
    pi, qi = np.meshgrid(np.arange(n_in), np.arange(n_out), indexing="ij")
    pi, qi = pi.ravel(), qi.ravel()
    if w_range is None:
        bounds = np.abs(np.concatenate([np.ravel(rule.w_min), np.ravel(rule.w_max)]))
        bounds = bounds[np.isfinite(bounds)]
        w_range = float(bounds.max()) if bounds.size else None
    k = None if w_range is None else w_range / (device.g_max_s - device.g_min_s)
    mapping = device.map_weights(W0.T.ravel(), k=k)
    shape = (*batch, pi.size)
    sp = DF.DeviceState(np.broadcast_to(mapping.state_plus.g, shape).copy(),
                        np.broadcast_to(mapping.state_plus.t_prog, shape).copy())
    sm = DF.DeviceState(np.broadcast_to(mapping.state_minus.g, shape).copy(),
                        np.broadcast_to(mapping.state_minus.t_prog, shape).copy())
    gain = device.pulse_gain if pulse_gain is None else pulse_gain
    step = np.broadcast_to(np.asarray(DF.dw_step(device, mapping.k, gain), dtype=float), batch)[..., None]
    rng = device.rng(random_state)
    pad, total = padded(rasters, out)
    static = _static_current(rasters, twin, total) if twin.ff or twin.clock_steps.size else None
    n_samples = pad.shape[0]
    W = np.zeros((*batch, n_out, n_in))
    W[..., qi, pi] = mapping.k * (sp.g - sm.g)
    t = 0.0
    for s in range(n_samples):
        onehot = teacher_bias(n_out, labels[s], 1.0)
        lif_s = lif._replace(bias=teacher_bias(n_out, labels[s], out.teacher))
        traces = init_state(n_in, n_out, batch)
        state = LIFState.zeros((*batch, n_out))
        prev_out = np.zeros_like(state.u)
        sent = np.zeros_like(state.u)
        for k in range(total):
            a_in = sent if static is None else sent + static[s, k]
            state, spk = lif_step(state, a_in + prev_out @ lateral_t, lif_s)
            pre = pad[s, k]
            sent = W @ pre.astype(float)
            traces = trace_step(traces, pre, spk, onehot, rule)
            dw = delta_w(W, traces, pre, spk, rule)
            sp, sm = DF.apply_dw(sp, sm, dw[..., qi, pi], mapping.arrays_plus, mapping.arrays_minus,
                                 device.pulse_params, step, device.update_scheme, rng, t=t)
            W[..., qi, pi] = mapping.k * (sp.g - sm.g)
            prev_out = spk.astype(float)
            t += 1.0
    return W
