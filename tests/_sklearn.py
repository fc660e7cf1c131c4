"""scikit-learn conformance helpers shared by the tests of every estimator (encoders, classifiers).

``assert_conforms(estimator, expected)`` runs ``sklearn.utils.estimator_checks.check_estimator``
on ``estimator`` and requires that exactly the checks named in ``expected`` (a dict of check
name to the reason it cannot pass) fail: any other failure, and any listed check that passes,
fails the test. So the list of skipped checks in each test is exact, and stays exact.
"""
from __future__ import annotations

import warnings
from typing import Mapping

from sklearn.utils.estimator_checks import check_estimator

#: Reason shared by every estimator whose defaults carry Brian2 units.
UNITS = ("defaults are Brian2 quantities (e.g. dt=1*ms): units at the boundary is the project's rule; "
         "clone, get_params and set_params handle them (tested)")


def failed_checks(estimator) -> dict[str, str]:
    """``{check name: first line of its error}`` of every check of ``check_estimator`` that fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, on_fail=None)
    return {r["check_name"]: str(r["exception"]).strip().splitlines()[0] if str(r["exception"]).strip() else
            type(r["exception"]).__name__ for r in results if r["status"] == "failed"}


def assert_conforms(estimator, expected: Mapping[str, str]) -> int:
    """Exactly the checks in ``expected`` fail (with a reason each); returns the number of checks run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, on_fail=None)
    failed = {r["check_name"]: str(r["exception"])[:300] for r in results if r["status"] == "failed"}
    unexpected = {k: v for k, v in failed.items() if k not in expected}
    now_passing = sorted(set(expected) - set(failed))
    assert not unexpected, f"{estimator!r}: checks failed that are not listed: {unexpected}"
    assert not now_passing, f"{estimator!r}: listed as failing but passed (remove them): {now_passing}"
    assert all(expected[k] for k in expected), "every listed check needs a reason"
    return len(results)
