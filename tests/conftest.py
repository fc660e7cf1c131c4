"""Shared test set-up: headless plots, Brian2's compiled-code cache shared by all tests.

Brian2 caches compiled Cython code under ~/.cython/brian_extensions keyed by the
generated code; the backend gives Brian2 objects canonical names, so tests of
networks with the same structure reuse compiled code instead of rebuilding it.
"""
import matplotlib

matplotlib.use("Agg")
