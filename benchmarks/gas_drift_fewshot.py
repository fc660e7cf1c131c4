"""Few-shot adaptation to sensor drift on the recorded gas data: the spiking classifier beside standard learners.

Protocol (issue 18): fit on batch 1; for each later batch, adapt with ``k`` labeled samples per gas
(k = 1, 5, 10; at most n - 1 of a gas with n rows) and score on the rest of that batch, over
``--draws`` shot draws (the same draws for every method). Methods:

- ``FewShotSpikingClassifier()`` with its defaults (the shipped default rule), and with each
  documented rule in place of it (``--rules``);
- on identical splits (scikit-learn): nearest class mean, 1-NN and RBF-SVM trained on the shots
  only (standardized on the shots), logistic regression on batch 1 only and on batch 1 + the shots
  (standardized on its training set), and the shot-only learners on the classifier's input
  scaling (``RayScaler`` fitted on batch 1) too;
- ``FewShotSpikingClassifier(backend="lava")`` (shots written on Lava's simulator, one network per
  shot) on the first batch, one draw at k = 5, with the default rule: its predictions against the
  numpy twin's, and its wall time (``--no-lava`` skips it).

Also how well the twin's drift randomization (``sensors.randomization.DriftSpec()``, around the twin
calibrated to batch 1) covers each later batch (``sensors.calibration.drift_coverage``), and the drift
signal of the default classifier (share of clock-decided samples, count ties, mean
margin) on each batch before and after adaptation. Batch 2 is the development check; nothing here
chose a setting (those were chosen on batch 1 and twin tasks, see docs/plasticity.md). Later batches
(``--batches 3 4 ...``) run the same protocol where their files exist.

Prints the tables; writes ``benchmarks/out/gas_drift_fewshot.json``.
Run: ``python benchmarks/gas_drift_fewshot.py [--draws 20] [--batches 2] [--no-lava] [--folder DIR]``.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # this checkout's packages before an installed copy

import numpy as np  # noqa: E402

from neurochip.encoding import RayScaler  # noqa: E402
from neurochip.io import write_json  # noqa: E402
from neurochip.plasticity import (FewShotSpikingClassifier, load_default_rule, pair_stdp, reward_stdp,  # noqa: E402
                                  supervised_hebbian)
from sensors import load_gas_drift  # noqa: E402
from sensors.calibration import calibrate_gas_twin, drift_coverage  # noqa: E402
from sensors.randomization import DRIFT_KINDS, DriftSpec  # noqa: E402
from sensors.tasks import recorded_shots  # noqa: E402


def documented_rules() -> dict:
    """The rules of docs/plasticity.md, in the exemplar classifier in place of the default one."""
    return {
        "default (the shipped rule)": "default",
        "exemplar writer supervised_hebbian(2^-2, 2^-2, tau 64)": supervised_hebbian(eta=2 ** -2, decay=2 ** -2,
                                                                                     tau=64.0),
        "supervised_hebbian() (its defaults)": supervised_hebbian(),
        "soft-bounded accumulation supervised_hebbian(2^-7, 0, w_soft 0.25)": supervised_hebbian(
            eta=2 ** -7, decay=0.0, w_soft=0.25),
        "pair_stdp(a+ 2^-5, a- 2^-5, [0, 1])": pair_stdp(a_plus=2 ** -5, a_minus=2 ** -5, w_min=0.0, w_max=1.0),
        "soft-bound pair_stdp(2^-5, w_soft 0.125)": pair_stdp(a_plus=2 ** -5, a_minus=2 ** -5, w_soft=0.125,
                                                              w_min=0.0, w_max=1.0),
        "reward_stdp() (third factor = label)": reward_stdp(w_min=0.0, w_max=1.0),
        "no plasticity": None,
    }


def baselines(X1, y1, Xs, ys, Xq, yq, ray: RayScaler) -> dict:
    """Accuracy of the scikit-learn learners on one split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier, NearestCentroid
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler
    from sklearn.svm import SVC

    z, rt = StandardScaler, FunctionTransformer(ray.transform)
    learners = {
        "nearest class mean, shots (standardized on the shots)": (make_pipeline(z(), NearestCentroid()), False),
        "1-NN, shots (standardized on the shots)": (make_pipeline(z(), KNeighborsClassifier(1)), False),
        "RBF-SVM, shots (standardized on the shots)": (make_pipeline(z(), SVC()), False),
        "logistic regression, batch 1 only": (make_pipeline(z(), LogisticRegression(max_iter=3000)), None),
        "logistic regression, batch 1 + shots": (make_pipeline(z(), LogisticRegression(max_iter=3000)), True),
        "nearest class mean, shots (RayScaler of batch 1)": (make_pipeline(rt, NearestCentroid()), False),
        "1-NN, shots (RayScaler of batch 1)": (make_pipeline(rt, KNeighborsClassifier(1)), False),
        "RBF-SVM, shots (RayScaler of batch 1, standardized)": (make_pipeline(rt, z(), SVC()), False),
    }
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (model, with_batch1) in learners.items():
            if with_batch1 is None:
                Xt, yt = X1, y1
            elif with_batch1:
                Xt, yt = np.vstack([X1, Xs]), np.concatenate([y1, ys])
            else:
                Xt, yt = Xs, ys
            out[name] = float(model.fit(Xt, yt).score(Xq, yq))
    return out


def drift_signal(clf, X) -> dict:
    s = clf.output_spikes(X)
    return {"clock_decided": float(s.clock_decided.mean()), "count_ties": float(s.count_tie.mean()),
            "first_ties": float(s.first_tie.mean()), "margin": float(s.margin.mean()),
            "output_spikes": float(s.counts.sum(axis=1).mean())}


def run_batch(b1, batch, rules: dict, ks, draws: int, seed: int) -> dict:
    X1, y1 = b1.features, b1.labels
    X, y = batch.features, batch.labels
    ray = RayScaler().fit(X1)
    fitted, fit_s = {}, {}
    for name, rule in rules.items():
        t = time.perf_counter()
        fitted[name] = FewShotSpikingClassifier(rule=rule, random_state=seed).fit(X1, y1)
        fit_s[name] = time.perf_counter() - t
    default = next(iter(rules))
    table, signal, extra = {}, {}, {}
    for k in ks:
        rows = []
        for d in range(draws):
            s, q = recorded_shots(y, k, random_state=[seed, k, d])
            row = {}
            for name in rules:
                m = copy.deepcopy(fitted[name]).adapt(X[s], y[s])
                row[name] = float(m.score(X[q], y[q]))
                if name == default:
                    row["_outputs"] = int(m.W_.shape[0])
                    row["_stale"] = len(m.stale_)
                    if d == 0:
                        signal[f"after adapt, k={k}"] = drift_signal(m, X[q])
            row.update(baselines(X1, y1, X[s], y[s], X[q], y[q], ray))
            rows.append(row)
        table[f"k={k}"] = {name: {"mean": float(np.mean([r[name] for r in rows])),
                                  "sd": float(np.std([r[name] for r in rows])),
                                  "values": [r[name] for r in rows]} for name in rows[0] if not name.startswith("_")}
        extra[f"k={k}"] = {"outputs_after_adapt": float(np.mean([r["_outputs"] for r in rows])),
                           "stale_classes": float(np.mean([r["_stale"] for r in rows]))}
    signal = {"fit on batch 1, no adaptation": drift_signal(fitted[default], X), **signal}
    twin = calibrate_gas_twin(X1, y1, b1.concentration)
    coverage = {name: drift_coverage(twin, X, y, batch.concentration, spec, scaler=ray, random_state=seed)
                for name, spec in (("no drift", DriftSpec(**{k: (0.0, 0.0) for k in DRIFT_KINDS})),
                                   ("DriftSpec() (the meta-learning tasks' randomization)", DriftSpec()))}
    return {"batch": batch.batch, "samples": int(len(batch)), "table": table, "default_extra": extra,
            "drift_coverage": coverage,
            "no_adaptation": {name: float(c.score(X, y)) for name, c in fitted.items()},
            "fit_outputs": {name: int(c.n_fit_outputs_) for name, c in fitted.items()},
            "fit_seconds": fit_s, "drift_signal": signal}


def lava_check(b1, batch, seed: int, k: int = 5) -> dict:
    """backend="lava" learns the numpy twin's weights; its predictions against numpy's; wall times."""
    import mapping  # noqa: F401  (registers the "lava" runner)

    s, q = recorded_shots(batch.labels, k, random_state=[seed, k, 0])
    out = {}
    for backend in ("numpy", "lava"):
        t = time.perf_counter()
        clf = FewShotSpikingClassifier(backend=backend, random_state=seed).fit(b1)
        t_fit = time.perf_counter() - t
        writes_fit = int(clf._clock_)
        t = time.perf_counter()
        clf.adapt(batch.features[s], batch.labels[s])
        t_adapt = time.perf_counter() - t
        out[backend] = {"clf": clf, "fit_s": t_fit, "adapt_s": t_adapt, "writes": int(clf._clock_),
                        "writes_fit": writes_fit, "pred": clf.predict(batch.features[q])}
    num, lava = out["numpy"], out["lava"]
    same_shape = num["clf"].W_.shape == lava["clf"].W_.shape
    return {"k": k, "same_network": bool(same_shape and np.array_equal(num["clf"].owner_, lava["clf"].owner_)),
            "max_abs_weight_diff": float(np.abs(num["clf"].W_ - lava["clf"].W_).max()) if same_shape else None,
            "predictions_identical": bool(np.array_equal(num["pred"], lava["pred"])),
            "accuracy": {b: float(np.mean(out[b]["pred"] == batch.labels[q])) for b in out},
            "seconds": {b: {"fit": out[b]["fit_s"], "adapt": out[b]["adapt_s"]} for b in out},
            "lava_seconds_per_write": (lava["fit_s"] + lava["adapt_s"]) / max(lava["writes"], 1),
            "writes": lava["writes"]}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=20, help="shot draws per k")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--batches", type=int, nargs="+", default=[2], help="later batches (files that exist)")
    parser.add_argument("--folder", default=None, help="folder of batch<N>.csv.gz (default: load_gas_drift's search)")
    parser.add_argument("--rules", choices=("all", "default"), default="all")
    parser.add_argument("--no-lava", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    b1 = load_gas_drift(1, folder=args.folder)
    rules = documented_rules()
    if args.rules == "default":
        rules = {k: v for k, v in rules.items() if v == "default"}
    results = {"protocol": "fit on batch 1; adapt with k shots per gas of a later batch; score on its other rows",
               "draws": args.draws, "default_rule": load_default_rule().to_dict(),
               "default_rule_lava": load_default_rule().lava_rule_string(), "batches": {}}
    for b in args.batches:
        try:
            batch = load_gas_drift(b, folder=args.folder)
        except ValueError as err:
            print(f"batch {b}: skipped ({err})")
            continue
        res = run_batch(b1, batch, rules, args.ks, args.draws, args.seed)
        results["batches"][str(b)] = res
        print(f"\n== fit on batch 1, adapt on batch {b} ({res['samples']} samples): accuracy %, mean +- sd over "
              f"{args.draws} shot draws")
        print(f"{'method':66s}" + "".join(f"{k:>16s}" for k in res["table"]))
        for name in res["table"][f"k={args.ks[0]}"]:
            print(f"{name[:66]:66s}" + "".join(f"{100 * c[name]['mean']:9.1f} +- {100 * c[name]['sd']:4.1f}"
                                               for c in res["table"].values()))
        default = next(iter(rules))
        print(f"{'no adaptation (fit on batch 1 only), default rule':66s}"
              f"{100 * res['no_adaptation'][default]:9.1f}")
        five = res["table"].get("k=5")
        if five:
            svm = five["RBF-SVM, shots (standardized on the shots)"]["mean"]
            svm_ray = five["RBF-SVM, shots (RayScaler of batch 1, standardized)"]["mean"]
            ours = five[default]["mean"]
            res["target_k5"] = {"accuracy": ours, "at_least_0.90": ours >= 0.90,
                                "minus_rbf_svm_standardized_points": 100 * (ours - svm),
                                "minus_rbf_svm_rayscaled_points": 100 * (ours - svm_ray),
                                "within_3_points_of_both": ours >= max(svm, svm_ray) - 0.03}
            print(f"target at k=5: {100 * ours:.1f} % (>= 90: {ours >= 0.9}); minus RBF-SVM on the shots: "
                  f"{100 * (ours - svm):+.1f} points (standardized), {100 * (ours - svm_ray):+.1f} (ray-scaled)")
        for name, cov in res["drift_coverage"].items():
            print(f"twin randomization '{name}': {100 * cov['inside']:.1f} % of batch {b}'s (gas, feature) medians "
                  f"inside its 5-95 % band; median shift from the calibrated twin: recorded "
                  f"{cov['shift_recorded']:.2f}, randomized {cov['shift_randomized']:.2f} (log units)")
        for when, sig in res["drift_signal"].items():
            print(f"drift signal, {when}: clock-decided {100 * sig['clock_decided']:.1f} %, count ties "
                  f"{100 * sig['count_ties']:.1f} %, margin {sig['margin']:.2f} spikes")
    if not args.no_lava and results["batches"]:
        b = int(next(iter(results["batches"])))
        lava = lava_check(b1, load_gas_drift(b, folder=args.folder), args.seed)
        results["lava"] = lava
        print(f"\n== backend='lava' (default rule, batch {b}, k={lava['k']}, one draw): predictions identical to "
              f"numpy: {lava['predictions_identical']}, same network: {lava['same_network']}, max |W - W_numpy| "
              f"{lava['max_abs_weight_diff']:.2e}; accuracy {100 * lava['accuracy']['lava']:.1f} % (numpy "
              f"{100 * lava['accuracy']['numpy']:.1f} %)")
        print(f"   fit + adapt: lava {lava['seconds']['lava']['fit']:.1f} + {lava['seconds']['lava']['adapt']:.1f} s "
              f"({lava['writes']} shots written, {lava['lava_seconds_per_write']:.2f} s each), numpy "
              f"{lava['seconds']['numpy']['fit']:.2f} + {lava['seconds']['numpy']['adapt']:.2f} s")
    results["wall_time_s"] = time.perf_counter() - start
    write_json(ROOT / "benchmarks" / "out" / "gas_drift_fewshot.json", results)
    print(f"\nwrote benchmarks/out/gas_drift_fewshot.json in {results['wall_time_s']:.0f} s")
    return results


if __name__ == "__main__":
    main()
