"""FewShotSpikingClassifier is a scikit-learn classifier: the common checks, clone, Pipeline, model selection.

Every check of ``sklearn.utils.estimator_checks`` runs (``parametrize_with_checks``) and passes, except
one that scikit-learn itself skips when pandas is not installed (``check_classifier_data_not_an_array``
with pandas input; it runs wherever pandas is): it shows as skipped with scikit-learn's reason.
"""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from neurochip.plasticity import FewShotSpikingClassifier


@parametrize_with_checks([FewShotSpikingClassifier(random_state=0)])
def test_sklearn_common_checks(estimator, check):
    check(estimator)


def data(n=15, seed=0):
    rng = np.random.default_rng(seed)
    d = np.array([[1.0, 0.2, 0.1, 0.6, 0.3], [0.1, 1.0, 0.3, 0.2, 0.8], [0.4, 0.3, 1.0, 0.1, 0.2]])
    X = np.vstack([10 ** rng.uniform(0, 2, (n, 1)) * v * np.exp(rng.normal(0, 0.05, (n, 5))) for v in d])
    return X, np.repeat(np.array(["a", "b", "c"]), n)


def test_clone_pipeline_cross_validation_and_grid_search():
    X, y = data()
    clf = FewShotSpikingClassifier(n_target=6.0, random_state=1)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params() and not hasattr(twin, "W_")
    with pytest.raises(NotFittedError):
        twin.predict(X)
    pipe = make_pipeline(FunctionTransformer(np.abs), FewShotSpikingClassifier(random_state=0))
    assert pipe.fit(X, y).score(X, y) > 0.95
    scores = cross_val_score(FewShotSpikingClassifier(random_state=0), X, y, cv=StratifiedKFold(3))
    assert scores.shape == (3,) and scores.mean() > 0.9
    search = GridSearchCV(FewShotSpikingClassifier(random_state=0), {"n_target": [4.0, 8.0], "clock": [0.25, 0.5]},
                          cv=StratifiedKFold(3)).fit(X, y)
    assert search.best_score_ > 0.9 and set(search.best_params_) == {"n_target", "clock"}
    assert search.predict(X).shape == y.shape
    proba = search.predict_proba(X)
    assert proba.shape == (y.size, 3) and np.allclose(proba.sum(axis=1), 1.0)
