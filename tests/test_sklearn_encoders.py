"""The encoders are scikit-learn transformers: check_estimator (with the exact list of checks that cannot
pass, and why), clone / get_params / set_params, Pipeline, cross_val_score, GridSearchCV, NotFittedError."""
import numpy as np
import pytest
from brian2 import Hz, ms
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline

from _sklearn import UNITS, assert_conforms
from neurochip.encoding import LatencyPopulationEncoder
from sensors.encoders import DeltaEncoder, LatencyEncoder, PopulationEncoder, RateEncoder

RANDOM_ORDER = ("random numbers come from one seeded stream over the whole batch in (sample, channel, step) "
                "order (documented; the Brian2 model reads the same numbers), so a reordered or partial batch "
                "gets other spikes; the same batch and seed give the same spikes")
CASES = [
    (DeltaEncoder(output="counts"), {"check_parameters_default_constructible": UNITS}),
    (DeltaEncoder(output="flat"), {"check_parameters_default_constructible": UNITS}),
    (RateEncoder(output="counts", random_state=0), {"check_parameters_default_constructible": UNITS,
                                                    "check_methods_sample_order_invariance": RANDOM_ORDER,
                                                    "check_methods_subset_invariance": RANDOM_ORDER}),
    (LatencyEncoder(output="flat"), {"check_parameters_default_constructible": UNITS}),
    (LatencyEncoder(output="counts"), {"check_parameters_default_constructible": UNITS}),
    (PopulationEncoder(output="counts"), {"check_parameters_default_constructible": UNITS}),
    (PopulationEncoder(output="flat"), {"check_parameters_default_constructible": UNITS}),
    (LatencyPopulationEncoder(output="counts"),
     {"check_dtype_object": "a non-numeric element of X is a ValueError naming the encoder (the project's rule "
                            "for bad input), where the check wants numpy's TypeError"}),
    (LatencyPopulationEncoder(output="flat"),
     {"check_dtype_object": "as above: ValueError naming the encoder, not TypeError"}),
]


@pytest.mark.parametrize("estimator, expected", CASES, ids=lambda v: repr(v) if not isinstance(v, dict) else "")
def test_check_estimator(estimator, expected):
    assert assert_conforms(estimator, expected) > 40


def recordings(n=24, channels=3, steps=60, seed=0):
    """Two classes of noisy ramps: rising (class 1) and flat (class 0)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.linspace(0, 1, steps)
    X = rng.normal(0, 0.05, (n, channels, steps)) + y[:, None, None] * t[None, None, :]
    return X, y


SERIES, FEATURES = np.random.default_rng(0).normal(size=(2, 3, 8)), np.random.default_rng(0).normal(size=(4, 3))


@pytest.mark.parametrize("encoder, X", [(DeltaEncoder(factor=4.0), SERIES),
                                        (RateEncoder(max_rate=300 * Hz, random_state=3), SERIES),
                                        (LatencyEncoder(t_min=4 * ms), SERIES), (PopulationEncoder(n_fields=4), FEATURES),
                                        (LatencyPopulationEncoder(n_centers=4), FEATURES)])
def test_clone_get_set_params_and_not_fitted(encoder, X):
    params = encoder.get_params()
    twin = clone(encoder)
    assert twin is not encoder and twin.get_params().keys() == params.keys()
    for k, v in params.items():
        assert repr(twin.get_params()[k]) == repr(v), k
    with pytest.raises(NotFittedError, match="fit"):
        encoder.transform(X)
    # a clone with the same parameters gives the same output; set_params changes what a clone builds
    a, b = clone(encoder).fit(X).transform(X), clone(encoder).fit(X).transform(X)
    assert repr(a) == repr(b)
    counts = clone(encoder).set_params(output="counts").fit(X).transform(X)
    assert counts.shape[0] == X.shape[0] and counts.dtype == np.float64
    with pytest.raises(ValueError, match="output should be one of"):
        clone(encoder).set_params(output="nope").fit(X)


def test_spikes_output_is_unchanged_and_array_outputs_agree_with_it():
    X, _ = recordings(n=4)
    spikes = DeltaEncoder(factor=3.0).fit(X).transform(X)
    counts = DeltaEncoder(factor=3.0, output="counts").fit(X).transform(X)
    flat = DeltaEncoder(factor=3.0, output="flat").fit(X).transform(X)
    for s, src in enumerate(spikes):
        np.testing.assert_array_equal(counts[s], np.bincount(src.indices, minlength=6))
        raster = flat[s].reshape(6, X.shape[-1])
        np.testing.assert_array_equal(np.argwhere(raster.T)[:, ::-1], np.stack([src.indices, src.steps], 1)[
            np.lexsort((src.indices, src.steps))])


def test_pipeline_cross_validation_and_grid_search():
    X, y = recordings()
    pipe = make_pipeline(DeltaEncoder(output="counts"), LogisticRegression(max_iter=500))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() >= 0.9, scores            # rising ramps give UP events, flat ones almost none
    search = GridSearchCV(pipe, {"deltaencoder__factor": [2.0, 4.0, 8.0]}, cv=3).fit(X, y)
    assert search.best_params_["deltaencoder__factor"] in (2.0, 4.0, 8.0)
    assert search.best_estimator_[0].threshold_ > 0
    feats = np.random.default_rng(1).uniform(0, 1, (30, 2))
    labels = (feats[:, 0] > 0.5).astype(int)
    pipe = make_pipeline(LatencyPopulationEncoder(n_centers=5, output="flat"), LogisticRegression(max_iter=500))
    assert cross_val_score(pipe, feats, labels, cv=3).mean() >= 0.8
