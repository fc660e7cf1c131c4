"""Event-driven learning against always-on learning on a twin stream with injected drift (issue 19 item 2).

Stream (``sensors.twin``): an array of ``n_sensors`` nanosensors cross-sensitive to analytes A and B
(``SensorArray.random``, seed ``array_seed``). A sample lasts 2 s: a pulse of A or B (random class,
0.1-0.3 mM, 1 s from 0.1 s), then carrier. Send-on-delta encoding (``sensors.encoders.delta_encode``,
threshold ``delta_factor`` noise floors): the UP and DOWN channels of every sensor form source ``x``.

Network (one description for both learners): ``x -> out`` (one LIF per class) with the label-gated
prototype rule ``supervised_hebbian`` (third factor: source ``label``, the sample's class neuron
every step), lateral inhibition in ``out``; ``error`` (one LIF per class): ``out_j`` excites it,
``label_j`` inhibits it, so ``error_j`` spikes when ``out_j`` fires without its label (a wrong
output). Event-driven: the plastic projection is ``gated``; a meta-regulator monitoring ``error``
(policy ``learn``) opens the gate on an error alarm and closes it when the band is re-established.

Drift: from sample ``drift_at`` on, the A and B sensitivities of the ``n_swapped`` most selective
sensors (largest ``|log(|S_A| / |S_B|)|``) are exchanged, ramped over ``ramp_s`` seconds (the signal
is the blend of the twin's responses with the old and the new sensitivities, same noise).

Per seed (stream and noise; the array is fixed): (1) pre-training, always-on, from flat weights on
``pretrain`` pre-drift samples; (2) calibration of the regulator on ``calibration`` pre-drift
samples (gate closed); (3) the measured stream of ``samples`` samples (drift at ``drift_at``), from
the pre-trained weights, once always-on (``gated=False``, no regulator) and once event-driven.
Accuracy: per sample, the ``out`` neuron with most spikes (none: wrong). Learning energy: the
plastic projection's learning updates in joules (``neurochip.energy``, Loihi 1: 120 pJ per update;
the rule has ``u0`` terms, so every synapse updates at every step the rule runs).

Also replayed on the event-driven run: the same band on the inputs ``x`` (spike density of the
encoder), to see whether a density alarm would have opened learning on this drift.

Run: ``python benchmarks/bench_event_learning.py [--seeds 0 1 2] [--lr 11] [--quick]``
(``--sweep`` also measures the rule rates ``--sweep-lr`` on ``--sweep-seeds``). Prints the
figures and writes ``benchmarks/out/bench_event_learning.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
from brian2 import joule, mmolar, ms, second

from neurochip import Network, Population, Projection, SpikeSource, reference
from neurochip.energy import LOIHI1, estimate_energy, learning_energy
from neurochip.io import write_json
from neurochip.plasticity import supervised_hebbian
from neurochip.plasticity.wta import lateral_weights
from neurochip.regulator import MetaRegulator
from sensors import twin
from sensors.encoders import delta_encode

SAMPLE_S, PULSE_S = 2.0, 1.0


@dataclasses.dataclass
class Setup:
    """The array, its drifted twin and the encoder of one benchmark configuration."""

    dt_ms: float
    n_sensors: int
    array_seed: int
    n_swapped: int
    delta_factor: float

    def __post_init__(self):
        self.dt = self.dt_ms * ms
        self.steps_per_sample = int(round(SAMPLE_S * 1e3 / self.dt_ms))
        self.array = twin.SensorArray.random(self.n_sensors, ("A", "B"), random_state=self.array_seed)
        s = self.array.sensitivity
        self.swapped = np.argsort(np.abs(np.log(np.abs(s[:, 0]) / np.abs(s[:, 1]))))[::-1][:self.n_swapped]
        drifted = s.copy()
        drifted[self.swapped] = drifted[self.swapped, ::-1]
        self.drifted = dataclasses.replace(self.array, sensitivity=drifted)
        self.floor = self.array.noise_floor(dt=self.dt)

    def stream(self, n: int, seed: int, *, drift_at: int | None = None, ramp_s: float = 10.0):
        """``(signals (n_sensors, steps), labels (n,))`` of ``n`` samples."""
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, 2, n)
        pulses = [twin.Pulse("AB"[c], float(rng.uniform(0.1, 0.3)) * mmolar, onset=(i * SAMPLE_S + 0.1) * second,
                             duration=PULSE_S * second) for i, c in enumerate(labels)]
        noise_seed = int(rng.integers(0, 2 ** 31))
        y = self.array.simulate(pulses, duration=n * SAMPLE_S * second, dt=self.dt, random_state=noise_seed)
        if drift_at is not None:
            y1 = self.drifted.simulate(pulses, duration=n * SAMPLE_S * second, dt=self.dt, random_state=noise_seed)
            t = np.arange(y.shape[1]) * self.dt_ms * 1e-3
            a = np.clip((t - drift_at * SAMPLE_S) / ramp_s, 0.0, 1.0)
            y = (1 - a) * y + a * y1
        return y, labels

    def network(self, y, labels, weights, *, rule, gated: bool, w_inh: float) -> Network:
        up, down, _ = delta_encode(y, self.delta_factor * self.floor)
        idx, st = np.nonzero(np.concatenate([up, down]))
        T = y.shape[1]
        label_idx = np.repeat(labels, self.steps_per_sample)[:T]
        return Network(
            dt=self.dt, name="event_learning",
            sources=[SpikeSource("x", 2 * self.n_sensors, indices=idx, steps=st),
                     SpikeSource("label", 2, indices=label_idx, steps=np.arange(T))],
            populations=[Population("out", 2, du=0.25, dv=0.05, vth=1.0),
                         Population("error", 2, du=1.0, dv=1.0, vth=0.5)],
            projections=[Projection("plastic", "x", "out", weights, plasticity=rule, gated=gated),
                         Projection("wta", "out", "out", lateral_weights(2, w_inh)),
                         Projection("err_out", "out", "error", np.eye(2)),
                         Projection("err_label", "label", "error", -2.0 * np.eye(2))])


def correct(result, labels, steps_per_sample: int) -> np.ndarray:
    """Per sample: the label's ``out`` neuron spiked most (a sample without output spikes is wrong)."""
    s = result.spikes["out"]
    counts = np.zeros((len(labels), 2))
    np.add.at(counts, (s.steps // steps_per_sample, s.indices), 1)
    return (counts.argmax(axis=1) == labels) & (counts.sum(axis=1) > 0)


def rule_of(lr: int):
    """``supervised_hebbian`` with decay ``2**-lr`` per step and ``eta = 4 * decay`` (on Lava's grid)."""
    rule = supervised_hebbian(eta=2.0 ** -(lr - 2), decay=2.0 ** -lr, tau=16.0, w_min=-4.0, w_max=4.0)
    return dataclasses.replace(rule, third_factor="label")


def run_seed(setup: Setup, seed: int, args, lr: int) -> dict:
    rule = rule_of(lr)
    sps = setup.steps_per_sample
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2 ** 31, 3)
    # 1. pre-training (always-on, pre-drift)
    y, labels = setup.stream(args.pretrain, int(seeds[0]))
    w_flat = np.full((2, 2 * setup.n_sensors), 0.05)
    pre = reference.simulate(setup.network(y, labels, w_flat, rule=rule, gated=False, w_inh=args.w_inh), y.shape[1])
    w0 = np.array(pre.info["weights"]["plastic"])
    # 2. calibration of the regulator (gate closed)
    y, labels = setup.stream(args.calibration, int(seeds[1]))
    net = setup.network(y, labels, w0, rule=rule, gated=True, w_inh=args.w_inh)
    calib = reference.simulate(net, y.shape[1])
    reg = MetaRegulator(window=args.window, k=args.k, persist=args.persist, populations=["error"],
                        policy="learn").fit(net, calib)
    # the same band on the inputs instead (replayed below): does spike density see this drift?
    inputs = MetaRegulator(window=args.window, k=args.k, persist=args.persist, populations=["x"]).fit(net, calib)
    out = {"seed": seed, "calibration_accuracy": float(correct(calib, labels, sps).mean()),
           "band_high": float(reg.band_.high[0]), "band_mean": float(reg.mean_[0])}
    # 3. the measured stream, both learners from w0
    y, labels = setup.stream(args.samples, int(seeds[2]), drift_at=args.drift_at, ramp_s=args.ramp_s)
    for name, gated in (("always_on", False), ("event_driven", True)):
        t0 = time.perf_counter()
        net = setup.network(y, labels, w0, rule=rule, gated=gated, w_inh=args.w_inh)
        res = reference.simulate(net, y.shape[1], regulator=reg if gated else None)
        ok = correct(res, labels, sps)
        report = estimate_energy(net, res, LOIHI1)
        info = res.info.get("regulator", {})
        out[name] = {"accuracy": float(ok.mean()), "accuracy_pre_drift": float(ok[:args.drift_at].mean()),
                     "accuracy_post_drift": float(ok[args.drift_at:].mean()),
                     "accuracy_last_half": float(ok[args.samples // 2:].mean()),
                     "learning_energy_J": learning_energy(report), "total_energy_J": float(report.total / joule),
                     "learning_updates": report.counts.projections["plastic"]["learning_updates"],
                     "regulator_energy_J": float(sum(report.regulator.values())),
                     "gate_open_steps": info.get("gate_open_steps", y.shape[1]),
                     "gate_openings": len(info.get("gate_intervals", [])) if gated else None,
                     "wall_s": time.perf_counter() - t0}
        if gated:
            onset = args.drift_at * sps
            first = [e for e in info["log"]["events"] if e["kind"] != "recovered"]
            after = [e["step"] for e in first if e["step"] >= onset]
            out[name]["first_error_alarm_after_drift_samples"] = (after[0] - onset + 1) / sps if after else None
            out[name]["error_alarms_before_drift"] = sum(1 for e in first if e["step"] < onset)
            seen = [e.step for e in inputs.detect(res).events if e.kind != "recovered"]
            out["input_density_alarms"] = {"before_drift": sum(1 for k in seen if k < onset),
                                           "after_drift": sum(1 for k in seen if k >= onset)}
    a, e = out["always_on"], out["event_driven"]
    out["accuracy_difference_points"] = 100 * (e["accuracy"] - a["accuracy"])
    # None: the event-driven learner never learned (an infinite ratio)
    out["learning_energy_ratio"] = a["learning_energy_J"] / e["learning_energy_J"] if e["learning_energy_J"] else None
    return out


def summarize(runs: list, args) -> dict:
    diff = [r["accuracy_difference_points"] for r in runs]
    ratio = [np.inf if r["learning_energy_ratio"] is None else r["learning_energy_ratio"] for r in runs]
    acc = {k: [r[k]["accuracy"] for r in runs] for k in ("always_on", "event_driven")}
    return {"seeds": [r["seed"] for r in runs], "accuracy_always_on": acc["always_on"],
            "accuracy_event_driven": acc["event_driven"],
            "mean_accuracy_always_on": float(np.mean(acc["always_on"])),
            "mean_accuracy_event_driven": float(np.mean(acc["event_driven"])),
            "mean_accuracy_difference_points": float(np.mean(diff)), "min_accuracy_difference_points": float(min(diff)),
            "median_learning_energy_ratio": _finite(np.median(ratio)), "min_learning_energy_ratio": _finite(min(ratio)),
            "target_accuracy_within_1_point": bool(np.mean(diff) >= -1.0),
            "target_learning_energy_5x": bool(min(ratio) >= 5.0)}


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _times(ratio) -> str:
    return "inf" if ratio is None else f"{ratio:.1f}"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lr", type=int, default=11, help="rule decay 2**-lr per step (eta = 4 decay)")
    parser.add_argument("--sweep", action="store_true", help="also measure the rates --sweep-lr")
    parser.add_argument("--sweep-lr", type=int, nargs="+", default=[12, 13])
    parser.add_argument("--sweep-seeds", type=int, nargs="+", default=None, help="seeds of the sweep (default: --seeds)")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--drift-at", type=int, default=30)
    parser.add_argument("--ramp-s", type=float, default=10.0)
    parser.add_argument("--pretrain", type=int, default=40)
    parser.add_argument("--calibration", type=int, default=30)
    parser.add_argument("--window", type=int, default=1000, help="regulator window (steps; 1000 = one sample)")
    parser.add_argument("--persist", type=int, default=2)
    parser.add_argument("--k", type=float, default=3.0)
    parser.add_argument("--w-inh", type=float, default=1.0)
    parser.add_argument("--dt-ms", type=float, default=2.0)
    parser.add_argument("--n-sensors", type=int, default=8)
    parser.add_argument("--array-seed", type=int, default=0)
    parser.add_argument("--n-swapped", type=int, default=2)
    parser.add_argument("--delta-factor", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="seconds: 12 samples, one seed (CI)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "out" / "bench_event_learning.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.samples, args.drift_at, args.pretrain, args.calibration = [0], 12, 4, 6, 4
        args.ramp_s, args.sweep = 2.0, False
    setup = Setup(dt_ms=args.dt_ms, n_sensors=args.n_sensors, array_seed=args.array_seed,
                  n_swapped=args.n_swapped, delta_factor=args.delta_factor)
    start = time.perf_counter()
    out = {"config": {k: v for k, v in vars(args).items() if k != "out"},
           "swapped_sensors": setup.swapped.tolist(), "profile": LOIHI1.name, "runs": {}, "summary": {}}
    for lr in [args.lr, *(args.sweep_lr if args.sweep else [])]:
        runs = []
        for seed in (args.seeds if lr == args.lr or args.sweep_seeds is None else args.sweep_seeds):
            r = run_seed(setup, seed, args, lr)
            a, e = r["always_on"], r["event_driven"]
            print(f"lr 2^-{lr} seed {seed}: accuracy always-on {a['accuracy']:.3f} event-driven {e['accuracy']:.3f} "
                  f"({r['accuracy_difference_points']:+.1f} points; post-drift {a['accuracy_post_drift']:.3f} / "
                  f"{e['accuracy_post_drift']:.3f}); learning energy {a['learning_energy_J']:.3e} J / "
                  f"{e['learning_energy_J']:.3e} J ({_times(r['learning_energy_ratio'])}x less), gate open "
                  f"{e['gate_open_steps']} of {args.samples * setup.steps_per_sample} steps in "
                  f"{e['gate_openings']} openings", flush=True)
            runs.append(r)
        out["runs"][f"lr{lr}"] = runs
        out["summary"][f"lr{lr}"] = s = summarize(runs, args)
        print(f"lr 2^-{lr}: mean accuracy {s['mean_accuracy_always_on']:.3f} always-on, "
              f"{s['mean_accuracy_event_driven']:.3f} event-driven ({s['mean_accuracy_difference_points']:+.1f} "
              f"points, target >= -1: {s['target_accuracy_within_1_point']}); learning energy ratio median "
              f"{_times(s['median_learning_energy_ratio'])}x, min {_times(s['min_learning_energy_ratio'])}x (target >= 5: "
              f"{s['target_learning_energy_5x']})", flush=True)
    out["wall_time_s"] = time.perf_counter() - start
    write_json(args.out, out)
    print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
