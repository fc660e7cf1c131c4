"""mapping: compile a neurochip network for a neuromorphic target and run it.

>>> from mapping import compile, run                                  # doctest: +SKIP
>>> dep = compile(net, "loihi2-sim-fixed")                            # doctest: +SKIP
>>> dep.report["quantization"]["populations"]["exc"]["scale"]         # doctest: +SKIP
>>> result = run(dep, 200)       # a neurochip.SimulationResult       # doctest: +SKIP

The public interface is backend-neutral (:class:`Target`, :class:`Deployment`,
:func:`compile`, :func:`run`, :func:`verify`); Lava is imported only by the
backend module :mod:`mapping.lava_backend` and the package :mod:`mapping.lava`
(one lowering per node kind, the run machinery), and only when a deployment is wired.
"""
from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from neurochip.network import Network
from neurochip.reference import check_probes, check_steps
from neurochip.results import SimulationResult, compare_spikes
from neurochip.runners import register_runner as _register_runner

from mapping import quantization_learning
from mapping.placement import (LOIHI1, LOIHI2, RESOURCE_MODELS, Placement, PlacementError,
                               ResourceModel, place)
from mapping.quantization import QuantizationError, QuantizedNetwork, dequantize, quantize
from mapping.target import BACKENDS, TARGETS, Target, get_target
from mapping.compress import CompressionReport, compress, compress_weights  # noqa: E402  (the module name is shadowed)

# The Lava runners of neurochip.runners (mapping/runner.py), by reference: imported when first used.
_register_runner("lava", "mapping.runner:run_lava_float")
_register_runner("lava-fixed", "mapping.runner:run_lava_fixed")

__all__ = ["compile", "run", "verify", "fixed_point_breakdown", "Deployment", "Target", "TARGETS", "get_target", "quantize",
           "dequantize", "QuantizationError", "QuantizedNetwork", "place", "Placement",
           "PlacementError", "ResourceModel", "LOIHI1", "LOIHI2", "RESOURCE_MODELS",
           "compress", "compress_weights", "CompressionReport",
           "snapshot_weights"]


@dataclass
class Deployment:
    """A network compiled for a target.

    Attributes
    ----------
    network : Network
        The description that was compiled.
    target : Target
    weights : dict of str to array
        Float weights per projection as deployed (memristive projections: the
        device's conductance snapshot).
    quantized : QuantizedNetwork or None
        Integer parameters (fixed-point targets).
    placement : Placement or None
    report : dict
        ``"quantization"`` (fixed point), ``"placement"``, and after :func:`verify`
        ``"agreement"``.
    wired : object
        The backend's wired processes (Lava: :class:`mapping.lava_backend.Wired`);
        rebuilt by :func:`run` when used or when a run needs a longer input horizon.
    learning : dict of str to neurochip.plasticity.fixed.LearningPlan
        Fixed point: how each plastic projection learns in integers
        (:func:`mapping.quantization_learning.quantize_learning`).
    regulator : neurochip.regulator.MetaRegulator or None
        The attached meta-regulator (see :func:`compile`).
    """

    network: Network
    target: Target
    weights: dict
    quantized: QuantizedNetwork | None = None
    placement: Placement | None = None
    report: dict = field(default_factory=dict)
    wired: Any = None
    learning: dict = field(default_factory=dict)
    regulator: Any = None

    @property
    def backend(self):
        return importlib.import_module(BACKENDS[self.target.backend])


def snapshot_weights(net: Network, *, random_state=None) -> dict:
    """Float weights of every projection; memristive ones through ``proj.device.snapshot_weights``.

    With ``random_state=None`` each device model uses its own seed, which gives the
    same conductance snapshot as the Brian2 backend's initial weights. Otherwise one
    seeded generator is used for all memristive projections, in network order, so the
    same ``random_state`` gives the same snapshot.
    """
    rng = None if random_state is None else np.random.default_rng(random_state)
    out = {}
    for proj in net.projections:
        if proj.device is None:
            out[proj.name] = proj.weights
            continue
        if rng is None:
            w = proj.device.snapshot_weights(proj.weights)
        else:
            w = proj.device.snapshot_weights(proj.weights, random_state=rng)
        if sp.issparse(proj.weights):
            w = sp.csr_matrix(w, dtype=float)
        else:
            w = np.asarray(w, dtype=float)
        values = w.data if sp.issparse(w) else w
        if w.shape != proj.shape or not np.all(np.isfinite(values)):
            raise ValueError(f"Projection '{proj.name}': device {type(proj.device).__name__}."
                             f"snapshot_weights should return finite weights of shape {proj.shape}, "
                             f"got shape {w.shape}")
        out[proj.name] = w
    return out


def third_factor_of(proj) -> str | None:
    """Name of the label / reward source driving ``y3`` of a plastic projection (``None``: the post spikes)."""
    return None if proj.plasticity is None else getattr(proj.plasticity, "third_factor", None)


def _check_third_factor(network, proj, third, target) -> None:
    """A label / reward third factor runs on Lava as Loihi3F: float, a spike source, one per population."""
    sources = {src.name: src for src in network.sources}
    post = next(pop for pop in network.populations if pop.name == proj.post)
    if third not in sources:
        known = ", ".join(sorted(sources)) or "none"
        raise ValueError(f"Projection '{proj.name}': third factor {third!r} should name a spike source of "
                         f"the network to run on Lava (sources: {known}); a population as third factor "
                         f"runs in Brian2 only")
    if sources[third].size != post.size:
        raise ValueError(f"Projection '{proj.name}': third factor source {third!r} should have the post "
                         f"size {post.size}, got {sources[third].size}")
    others = [p.name for p in network.projections
              if p is not proj and p.post == proj.post and third_factor_of(p) is not None]
    if others:
        raise ValueError(f"Projection '{proj.name}': population '{proj.post}' holds the y traces of one "
                         f"Loihi3F rule on Lava, but projection(s) {', '.join(others)} also have a third "
                         f"factor; keep one per post population")


def compile(network: Network, target: Target | str = "loihi2-sim-float", *, random_state=None,
            vth_bits: int | None = None, min_vth_bits: int = 12, weight_parts: int | None = None,
            calibrate_steps: int | None = None, calibration_margin: float = 2.0,
            compensate: bool | None = None, verify_steps: int | None = None, wire: bool = True,
            learning: Mapping | None = None, strict_rule: bool = False, regulator=None) -> Deployment:
    """Compile ``network`` for ``target``.

    Steps: device snapshots of memristive projections (seeded by
    ``random_state``), placement on the target chip's cores (error if it does not
    fit, unless ``target.check_fit`` is false), quantization for fixed-point
    targets (see :func:`mapping.quantization.quantize`), then wiring of the backend's
    processes.

    Parameters
    ----------
    network : Network
    target : Target or str
        ``"loihi2-sim-float"``, ``"loihi2-sim-fixed"``, ``"loihi2-hw"`` or a :class:`Target`.
    random_state : int or numpy Generator, optional
        Seed of device snapshots (default: each device model's own seed, as Brian2).
    vth_bits, min_vth_bits, weight_parts : int, optional
        Fixed-point scaling and weight precision (see :func:`mapping.quantization.quantize`).
        By default chosen per network (:mod:`mapping.calibration`); given, they override the
        choice: ``vth_bits`` sets every scale by ``quantize``'s rule with that threshold target,
        ``weight_parts=1`` plain 8-bit weights, ``weight_parts=2`` each projection as two 8-bit
        projections (weight and rounding residual). By default two parts are considered when
        the doubled synapses fit the chip, and kept when they agree better.
    calibrate_steps : int, optional
        Fixed point: length of the calibration run of the numpy float reference (default
        :data:`mapping.calibration.DEFAULT_CALIBRATION_STEPS`, 200). The scales use its
        observed input and state ranges times ``calibration_margin``, and candidate
        quantizations are compared against it (in the integer model, on that run only); the
        best is deployed, and ``report["calibration"]`` lists the candidates with their
        agreement and says why. ``0``: no calibration run, worst-case ranges (every pre neuron
        spiking in one step) and the analytic choice (nearest decays, gain compensated unless
        ``compensate=False``, two parts when they fit).
    compensate : bool, optional
        Fixed point: absorb the rounded decays' steady-state gain in threshold, bias and
        initial state (:func:`mapping.quantization.gain_compensation`). ``None``: measured
        with and without, with the four 12-bit neighbours of each decay; ``True``: always;
        ``False``: nearest decays, not compensated (one parameter at a time; with
        ``calibrate_steps=0, weight_parts=1`` the plain quantization of earlier versions).
    verify_steps : int, optional
        Before returning, run the deployment and the float reference side by side
        for this many steps (:func:`verify`); the agreement is in
        ``report["agreement"]``.
    wire : bool
        Build the backend processes now (else at the first :func:`run`).
    learning : dict, optional
        Fixed point, plastic projections: ``{"trace_headroom": {projection: {trace:
        impulses}}, "rng_seed": int}`` (see
        :func:`mapping.quantization_learning.quantize_learning`).
    strict_rule : bool
        Raise :class:`mapping.quantization_learning.RuleMismatchError` instead of
        warning (:class:`~mapping.quantization_learning.DeployedRuleWarning`) when a
        plastic projection's deployed rule differs from the rule given (coefficients
        off Lava's grid; on fixed point also after rescaling, rounded time constants
        and impulses). The differences are in ``report["plasticity"]``.
    regulator : neurochip.regulator.MetaRegulator, optional
        A fitted meta-regulator attached to the deployment (floating-point targets):
        a regulator process fed by the monitored nodes' spike ports drives the
        regulated populations' thresholds and output hold and the gated projections'
        plasticity during every :func:`run` (see :mod:`mapping.lava.regulation`);
        its log and actions are in ``result.info["regulator"]``.

    Returns
    -------
    Deployment

    Raises
    ------
    PlacementError, QuantizationError, ValueError
        Does not fit; cannot be represented; unsupported feature for the target.
    mapping.lava_backend.LavaUnavailableError
        Hardware target without Intel's Lava extension.
    """
    if not isinstance(network, Network):
        raise ValueError(f"compile: network should be a neurochip.Network, got {type(network).__name__}")
    network.validate()  # fields may have changed since construction (issue 12)
    target = get_target(target)
    backend = importlib.import_module(BACKENDS[target.backend])
    backend.check_platform(target)
    for proj in network.projections:
        if proj.plasticity is not None:
            if not hasattr(proj.plasticity, "lava_rule_kwargs"):
                raise ValueError(f"Projection '{proj.name}': plasticity {type(proj.plasticity).__name__} "
                                 f"has no lava_rule_kwargs(); it cannot run as a LearningDense")
            if proj.device is not None:
                raise ValueError(f"Projection '{proj.name}': plastic memristive projections cannot run on "
                                 f"Lava: LearningDense updates float (or, in fixed point, 8-bit integer) weights, "
                                 f"not the device's conductance pulses (nonlinear response, cycle-to-cycle noise, "
                                 f"differential pair); drop the device (or the plasticity) for deployment, or "
                                 f"learn through the device in Brian2 / numpy (neurochip.plasticity.functional."
                                 f"run_rule_device)")
            third = third_factor_of(proj)
            if third is not None:
                _check_third_factor(network, proj, third, target)
            if getattr(proj, "gated", False) and target.precision == "fixed":
                raise ValueError(f"Projection '{proj.name}': gated plasticity is opened by an attached regulator, "
                                 f"which runs on floating-point targets in this version (target "
                                 f"'{target.name}' is fixed point); compile for 'loihi2-sim-float' or set "
                                 f"gated=False")
            if proj.delay != 1:
                raise ValueError(f"Projection '{proj.name}': plastic projections need delay 1 "
                                 f"(LearningDense has no delays), got {proj.delay}")
    learning = dict(learning or {})
    unknown = sorted(set(learning) - set(quantization_learning.OPTIONS))
    if unknown:
        raise ValueError(f"compile: learning has unknown option(s) {', '.join(unknown)} "
                         f"(known: {', '.join(quantization_learning.OPTIONS)})")
    if target.precision == "fixed":
        quantization_learning.check_rules(network)
    if regulator is not None:
        from neurochip.regulator.attached import check_attachable

        check_attachable(regulator, network, "compile")
        if target.precision == "fixed":
            raise ValueError(f"compile: an attached regulator runs on floating-point targets in this version "
                             f"(target '{target.name}' is fixed point); compile for 'loihi2-sim-float'")
    weights = snapshot_weights(network, random_state=random_state)
    report = {"target": target.name}
    plastic = {}
    for proj in network.projections:
        if proj.plasticity is not None:
            rule = proj.plasticity
            on_grid = None
            if hasattr(rule, "quantized"):
                # Lava runs the emitted string: coefficients snapped to m * 2**e.
                on_grid = bool(rule.quantized() == rule)
            plastic[proj.name] = {"rule": type(rule).__name__, "lava_rule_kwargs": rule.lava_rule_kwargs(),
                                  "coefficients_on_lava_grid": on_grid}
    placement, quantized, plans = None, None, {}
    if target.precision == "fixed":
        learns = bool(quantization_learning.plastic_projections(network))
        analytic_for_learning = learns and calibrate_steps is None
        if analytic_for_learning:
            # The measured choice runs the integer model of inference only: learning networks get the
            # analytic scaling (over every weight the rule can reach), then their learning plan.
            calibrate_steps = 0
        scaling = quantization_learning.envelope_weights(network, weights) if learns else weights
        quantized, placement = _quantize_for(network, target, scaling, report, vth_bits=vth_bits,
                                             min_vth_bits=min_vth_bits, weight_parts=weight_parts,
                                             calibrate_steps=calibrate_steps, margin=calibration_margin,
                                             compensate=compensate)
        if analytic_for_learning:
            report["calibration"]["why"] = ("plastic projection(s): the integer model of the measured choice "
                                            "does not learn, so the analytic choice over the weights' envelope")
        if learns:
            plans = quantization_learning.quantize_learning(
                network, weights, quantized, vth_bits=vth_bits or 20, min_vth_bits=min_vth_bits,
                horizon=_horizon(network, 0), **learning)
            report["quantization"] = quantized.report
    elif target.check_fit:
        # Raises PlacementError naming the resource and the excess.
        placement = place(network, RESOURCE_MODELS[target.chip])
        report["placement"] = placement.report()
    differences = quantization_learning.check_deployed_rules(network, target, plans, strict=strict_rule)
    for name, entry in plastic.items():
        entry["deployed_differences"] = {k: list(v) for k, v in differences.get(name, {}).items()}
        if name in plans:
            entry["fixed_point"] = quantized.report["learning"][name]
    if plastic:
        report["plasticity"] = plastic
    dep = Deployment(network=network, target=target, weights=weights, quantized=quantized,
                     placement=placement, report=report, learning=plans, regulator=regulator)
    if verify_steps:
        verify(dep, check_steps(verify_steps))
    if wire and network.populations:
        dep.wired = backend.wire(dep, horizon=_horizon(network, 0), probes={})
    return dep


def _place_parts(network: Network, target: Target, parts: int) -> Placement:
    """Placement with every synapse deployed ``parts`` times (weight and residual part)."""
    import dataclasses

    model = RESOURCE_MODELS[target.chip]
    if parts == 2:
        model = dataclasses.replace(model, weight_bits=2 * model.weight_bits,
                                    delay_bits=2 * model.delay_bits, index_bits=2 * model.index_bits)
    return place(network, model)


def _quantize_for(network: Network, target: Target, weights: dict, report: dict, *, vth_bits, min_vth_bits,
                  weight_parts, calibrate_steps, margin, compensate) -> tuple:
    """Fixed point: the integers (chosen by :mod:`mapping.calibration` unless the options fix them) and placement.

    Placement errors name the resource and the excess; two parts that do not fit are
    dropped from the choice (and the report says so) unless ``weight_parts=2`` asks for them.
    """
    from mapping.calibration import DEFAULT_CALIBRATION_STEPS, choose
    from mapping.quantization import ScaleChoice

    if weight_parts not in (None, 1, 2) or isinstance(weight_parts, bool):
        raise ValueError(f"compile: weight_parts should be 1, 2 or None (chosen), got {weight_parts!r}")
    if compensate not in (None, True, False):
        raise ValueError(f"compile: compensate should be True, False or None (measured), got {compensate!r}")
    steps = DEFAULT_CALIBRATION_STEPS if calibrate_steps is None else check_steps(calibrate_steps)
    parts_allowed = (weight_parts,) if weight_parts is not None else (1, 2)
    fit_note = placement = None
    if target.check_fit:
        placement = _place_parts(network, target, 1)  # before any run: a network that does not fit fails fast
    if target.check_fit and weight_parts is None:
        try:
            _place_parts(network, target, 2)
        except PlacementError as err:
            parts_allowed, fit_note = (1,), f"two weight parts do not fit {target.chip}: {err}"
    elif target.check_fit and weight_parts == 2:
        _place_parts(network, target, 2)
    if steps:
        quantized, choice = choose(_with_weights(network, weights), steps=steps, margin=margin,
                                   weight_parts=parts_allowed, compensate=compensate, vth_bits=vth_bits,
                                   min_vth_bits=min_vth_bits)
        report["calibration"] = choice
    else:
        parts, comp = max(parts_allowed), compensate is not False
        quantized = quantize(network, weights=weights, vth_bits=vth_bits, min_vth_bits=min_vth_bits,
                             weight_parts=parts, margin=margin,
                             choices={p: ScaleChoice(compensate=comp) for p in network.population_names})
        report["calibration"] = {
            "steps": 0, "why": "calibrate_steps=0: no calibration run; worst-case ranges, analytic choice",
            "chosen": f"{parts} weight part(s), nearest decays, {'gain compensated' if comp else 'not compensated'}"}
    if fit_note:
        report["calibration"]["two_parts"] = fit_note
    report["quantization"] = quantized.report
    if target.check_fit:
        if any(q.residual is not None for q in quantized.projections.values()):
            placement = _place_parts(network, target, 2)
        report["placement"] = placement.report()
    return quantized, placement


def _with_weights(net: Network, weights: dict) -> Network:
    """``net`` with the deployed float weights (memristive snapshots), for float references."""
    if all(weights[p.name] is p.weights for p in net.projections):
        return net
    from neurochip.network import Projection

    return Network(populations=net.populations, sources=net.sources, dt=net.dt, name=net.name,
                   projections=[Projection(p.name, p.pre, p.post, weights[p.name], delay=p.delay,
                                           plasticity=p.plasticity, gated=p.gated) for p in net.projections])


def _horizon(net: Network, steps: int) -> int:
    last = max((int(s.steps.max()) + 1 for s in net.sources if s.steps.size), default=1)
    return max(steps, last, 1)


def run(deployment: Deployment, steps: int, probes: Mapping[str, Sequence[str]] | None = None
        ) -> SimulationResult:
    """Run a deployment for ``steps`` steps from its initial state.

    Parameters
    ----------
    deployment : Deployment
    steps : int
    probes : dict of population name to list of variables, optional
        State traces to record (``"u"``, ``"v"``), in float units (fixed point:
        integers divided by the population's scale).

    Returns
    -------
    SimulationResult
        The same type as :func:`neurochip.simulate`; ``info`` holds timings,
        for plastic projections ``weights`` (learned, ``(n_post, n_pre)`` lists, as
        the Brian2 backend) and, with an attached regulator, ``regulator`` (log,
        actions, gate and hold intervals, withheld spikes).

    Raises
    ------
    mapping.lava_backend.LavaRunError
        A Lava child process failed (``__cause__`` is its exception).
    mapping.lava_backend.LavaTimeoutError
        The run exceeded ``deployment.target.timeout``.
    """
    if not isinstance(deployment, Deployment):
        raise ValueError(f"run: deployment should be a mapping.Deployment (from mapping.compile), "
                         f"got {type(deployment).__name__}")
    start = time.perf_counter()
    steps = check_steps(steps)
    net = deployment.network
    probes = check_probes(net, probes)
    if steps == 0 or not net.populations:
        from neurochip.reference import simulate as reference

        result = reference(net, steps, probes, regulator=deployment.regulator)
        result.backend = f"{deployment.target.backend}-{deployment.target.name}"
        result.wall_time = time.perf_counter() - start
        return result
    backend = deployment.backend
    wired = deployment.wired
    want = {k: tuple(v) for k, v in probes.items()}
    if wired is None or wired.used or wired.horizon < steps or wired.probes != want:
        wired = backend.wire(deployment, horizon=_horizon(net, steps), probes=probes)
        deployment.wired = wired
    result = backend.run(deployment, wired, steps, probes)
    # Fresh processes for the next run (Lava processes run once).
    deployment.wired = None
    return result


def verify(deployment: Deployment, steps: int, *, reference: str = "numpy",
           tolerance_steps: int = 1) -> dict:
    """Run the deployment and a float reference side by side; report spike agreement.

    Parameters
    ----------
    deployment : Deployment
    steps : int
    reference : {"numpy", "brian2"}
        Float reference: :func:`neurochip.reference.simulate` or :func:`neurochip.simulate`.
    tolerance_steps : int
        Spikes within this many steps count as agreeing.

    Returns
    -------
    dict
        Per population: counts, exact matches, matches within tolerance and the
        agreement fraction (see :func:`neurochip.compare_spikes`), plus the total.
        Fixed point also has ``"breakdown"``: where the remaining disagreement comes from
        (see :func:`fixed_point_breakdown`). Also stored in ``deployment.report["agreement"]``.
    """
    if reference not in ("numpy", "brian2"):
        raise ValueError(f"verify: reference should be 'numpy' or 'brian2', got {reference!r}")
    plastic = [p.name for p in deployment.network.projections if p.plasticity is not None]
    if plastic:
        raise ValueError(f"verify: the float references have no plasticity yet; projection(s) "
                         f"{', '.join(plastic)} are plastic")
    net = deployment.network
    ref_net = _with_weights(net, deployment.weights)
    if reference == "numpy":
        from neurochip.reference import simulate as ref_simulate
    else:
        from neurochip import simulate as ref_simulate
    ref = ref_simulate(ref_net, steps, regulator=deployment.regulator)   # an attached regulator acts in both
    got = run(deployment, steps)
    out = {"reference": reference, "tolerance_steps": tolerance_steps, "steps": steps,
           "populations": {}}
    total = {"n_a": 0, "n_b": 0, "exact": 0, "within_tolerance": 0}
    for pop in net.population_names:
        c = compare_spikes(ref, got, pop, tolerance_steps=tolerance_steps)
        out["populations"][pop] = c
        for k in total:
            total[k] += c[k]
    n = max(total["n_a"], total["n_b"])
    total["agreement"] = total["within_tolerance"] / n if n else 1.0
    total["exact_fraction"] = total["exact"] / n if n else 1.0
    out["total"] = total
    if deployment.quantized is not None:
        out["breakdown"] = fixed_point_breakdown(ref_net, deployment.quantized, steps, reference=ref, run=got)
    deployment.report["agreement"] = out
    return out


def fixed_point_breakdown(net: Network, quantized: QuantizedNetwork, steps: int, *, reference=None,
                          run=None) -> dict:
    """How much of a fixed-point deployment's disagreement with float is parameter resolution, how much arithmetic.

    Parameters
    ----------
    net : Network
        The network with its deployed float weights.
    quantized : QuantizedNetwork
    steps : int
    reference, run : SimulationResult, optional
        The float reference run of ``net`` and the fixed-point run (Lava) of ``steps`` steps,
        if already made (the numpy reference and the integer model otherwise).

    Returns
    -------
    dict
        ``"resolution"``: the float run of the dequantized network (:func:`dequantize`: the
        parameters the integers represent, in float arithmetic) against the float reference;
        ``"arithmetic"``: the fixed-point run against that dequantized float run (truncating
        decays, wrap / clip, floored shifts); each ``{"spikes", "exact", "within_1", "score"}``
        pooled over the populations. ``"overflow"``: neuron-steps with ``u`` wrapped, ``v``
        clipped, or an input beyond 16 bits, counted by the integer model
        (:func:`mapping.fixed_point.simulate_fixed`); ``"integer_model_matches_run"``: its
        spikes equal those of ``run``.
    """
    from neurochip.reference import simulate as ref_simulate

    from mapping.calibration import agreement
    from mapping.fixed_point import overflow_total, simulate_fixed

    pops = net.population_names
    ref = reference if reference is not None else ref_simulate(net, steps)
    model = simulate_fixed(net, quantized, steps)
    got = run if run is not None else model
    deq = ref_simulate(dequantize(net, quantized), steps)
    same = all(np.array_equal(model.raster(p), got.raster(p)) for p in pops)
    return {"resolution": agreement(ref, deq, pops), "arithmetic": agreement(deq, got, pops),
            "overflow": overflow_total(model), "integer_model_matches_run": bool(same)}
