"""Learning rules in the form Loihi's learning engine runs.

A rule is a weighted sum of fixed product terms of the traces of Lava's
``Loihi2FLearningRule`` / ``Loihi3FLearningRule`` (with ``t_epoch = 1``)::

    dw[j, i] = sum_k  c_k * D_k * F_k

where the dependency ``D_k`` is ``x0`` (pre spike of ``i`` this step), ``y0``
(post spike of ``j`` this step) or ``u0`` (every step), and ``F_k`` is a
product of traces ``x1, x2`` (pre), ``y1, y2`` (post), ``y3`` (third factor:
reward or label) and the weight ``w`` (see :data:`TERMS`). Traces are
low-pass filters of spikes, updated every step before the rule is applied::

    x1[k] = x1[k-1] * exp(-1 / x1_tau) + x1_impulse * x0[k]      (same for x2)
    y1[k] = y1[k-1] * exp(-1 / y1_tau) + y1_impulse * y0[k]      (same for y2)
    y3[k] = y3[k-1] * exp(-1 / y3_tau) + y3_impulse * r[k]

with ``r`` the third-factor events (the post spikes in Loihi2F form, as in
Lava; a label / reward spike source otherwise). Time constants are in steps
(Lava's convention). The rule is therefore a parameter vector: the
coefficients ``c_k``, the impulses and the time constants
(:meth:`LearningRule.to_vector` / :meth:`LearningRule.from_vector`).

Coefficients reach the chip as ``mantissa * 2**exponent`` with a 4-bit signed
mantissa (``-8 <= m <= 7``) and ``-7 <= exponent <= 8`` (Lava's product-series
parser rejects anything else): :meth:`LearningRule.quantized` snaps a rule to
that grid, and :meth:`LearningRule.lava_rule_string` emits the quantized rule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from brian2 import Quantity, ms, second

from neurochip._validation import check_float, check_quantity, describe
from neurochip.network import _Serializable, register

#: The product terms of the rule family: (name, dependency, factors). The Lava
#: string of a term is ``"<dependency>*<factor>*..."``.
TERMS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("x0", "x0", ()),
    ("x0*y1", "x0", ("y1",)),
    ("x0*y2", "x0", ("y2",)),
    ("x0*y3", "x0", ("y3",)),
    ("x0*w", "x0", ("w",)),
    ("x0*y1*y3", "x0", ("y1", "y3")),
    ("x0*y1*w", "x0", ("y1", "w")),
    ("y0", "y0", ()),
    ("y0*x1", "y0", ("x1",)),
    ("y0*x2", "y0", ("x2",)),
    ("y0*w", "y0", ("w",)),
    ("y0*x1*y3", "y0", ("x1", "y3")),
    ("y0*x1*w", "y0", ("x1", "w")),
    ("u0*x1*y3", "u0", ("x1", "y3")),
    ("u0*x1*y3*w", "u0", ("x1", "y3", "w")),
    ("u0*x1*y1", "u0", ("x1", "y1")),
    ("u0*y3*w", "u0", ("y3", "w")),
    ("u0*w", "u0", ("w",)),
)
TERM_NAMES: tuple[str, ...] = tuple(t[0] for t in TERMS)
TRACE_NAMES: tuple[str, ...] = ("x1", "x2", "y1", "y2", "y3")

#: Lava's scaling-constant grid: mantissa in [-8, 7], exponent in [-7, 8].
MANTISSA_RANGE = (-8, 7)
EXPONENT_RANGE = (-7, 8)


def quantize_coefficient(value: float) -> tuple[int, int]:
    """Nearest ``(mantissa, exponent)`` with ``value ~ mantissa * 2**exponent`` on Lava's grid.

    Among equally near representations the one with the largest exponent is
    returned. ``(0, 0)`` means the term is dropped (``|value|`` below half the
    smallest step ``2**-7``). Values beyond ``7 * 2**8`` saturate.
    """
    value = float(value)
    best = (0, 0)
    best_err = abs(value)
    for e in range(EXPONENT_RANGE[1], EXPONENT_RANGE[0] - 1, -1):
        m = int(np.clip(np.round(value / 2.0 ** e), *MANTISSA_RANGE))
        err = abs(value - m * 2.0 ** e)
        if m != 0 and err < best_err - 1e-15 * max(1.0, abs(value)):
            best, best_err = (m, e), err
    return best


def _tau_steps(owner: str, name: str, value, dt: Quantity) -> float:
    if isinstance(value, Quantity):
        value = check_quantity(owner, name, value, second, positive=True)
        return float(value / dt)
    return check_float(owner, name, value, low=0.0, low_open=True)


@register
@dataclass(eq=False)
class LearningRule(_Serializable):
    """A learning rule of the Loihi trace family (see the module docstring).

    Parameters
    ----------
    coefficients : dict of str to float
        ``c_k`` per term name of :data:`TERMS`; missing terms are 0.
    x1_impulse, x2_impulse, y1_impulse, y2_impulse, y3_impulse : float
        Trace increment per spike / third-factor event (>= 0, Lava requires it).
    x1_tau, x2_tau, y1_tau, y2_tau, y3_tau : float
        Trace time constants in steps (> 0).
    w_min, w_max : float
        Weights are clipped to ``[w_min, w_max]`` after each update in the
        Brian2 and numpy implementations. Lava's float ``LearningDense`` does
        not clip (its fixed-point model saturates to the 8-bit weight range):
        keep the bounds wide, or rely on the rule's own ``w`` terms, for an
        exact match with Lava.
    third_factor : str, optional
        Name of the network node (spike source or population of the post size)
        whose spikes drive ``y3``; ``None`` drives ``y3`` with the post spikes
        (Lava ``Loihi2FLearningRule``).
    name : str
        Label of the rule (e.g. ``"pair_stdp"``).
    """

    coefficients: dict = field(default_factory=dict)
    x1_impulse: float = 1.0
    x1_tau: float = 20.0
    x2_impulse: float = 0.0
    x2_tau: float = 40.0
    y1_impulse: float = 1.0
    y1_tau: float = 20.0
    y2_impulse: float = 0.0
    y2_tau: float = 40.0
    y3_impulse: float = 0.0
    y3_tau: float = 20.0
    w_min: float = -math.inf
    w_max: float = math.inf
    third_factor: Any = None
    name: str = "rule"

    #: Fields of the parameter vector after the coefficients, in order.
    TRACE_PARAMS: ClassVar[tuple[str, ...]] = (
        "x1_impulse", "x1_tau", "x2_impulse", "x2_tau", "y1_impulse", "y1_tau",
        "y2_impulse", "y2_tau", "y3_impulse", "y3_tau")

    def __post_init__(self):
        owner = f"LearningRule '{self.name}'"
        if not isinstance(self.coefficients, dict):
            raise ValueError(f"{owner}: coefficients should be a dict of term name to float, "
                             f"got {describe(self.coefficients)}")
        unknown = sorted(set(self.coefficients) - set(TERM_NAMES))
        if unknown:
            raise ValueError(f"{owner}: coefficients has unknown term(s) {', '.join(unknown)} "
                             f"(known: {', '.join(TERM_NAMES)})")
        self.coefficients = {k: check_float(owner, f"coefficients[{k!r}]", self.coefficients[k])
                             for k in TERM_NAMES if k in self.coefficients}
        for tr in ("x1", "x2", "y1", "y2", "y3"):
            setattr(self, f"{tr}_impulse",
                    check_float(owner, f"{tr}_impulse", getattr(self, f"{tr}_impulse"), low=0.0))
            setattr(self, f"{tr}_tau",
                    check_float(owner, f"{tr}_tau", getattr(self, f"{tr}_tau"), low=0.0, low_open=True))
        for b in ("w_min", "w_max"):
            v = getattr(self, b)
            if isinstance(v, Quantity) or isinstance(v, bool) or not isinstance(v, (int, float, np.number)) \
                    or np.isnan(v):
                raise ValueError(f"{owner}: {b} should be a number (inf allowed), got {describe(v)}")
            setattr(self, b, float(v))
        if not self.w_min <= self.w_max:
            raise ValueError(f"{owner}: w_min should be <= w_max, got {self.w_min} and {self.w_max}")
        if self.third_factor is not None and not isinstance(self.third_factor, str):
            raise ValueError(f"{owner}: third_factor should be a node name or None, got "
                             f"{describe(self.third_factor)}")

    # ------------------------------------------------------------ vector form
    def coefficient_array(self) -> np.ndarray:
        """Coefficients as an array in the order of :data:`TERMS`."""
        return np.array([self.coefficients.get(k, 0.0) for k in TERM_NAMES])

    def to_vector(self) -> np.ndarray:
        """``[c_1 .. c_K, x1_impulse, x1_tau, ..., y3_impulse, y3_tau]``."""
        return np.concatenate([self.coefficient_array(),
                               [getattr(self, p) for p in self.TRACE_PARAMS]])

    @classmethod
    def from_vector(cls, vector, **kwargs) -> "LearningRule":
        """Inverse of :meth:`to_vector`; ``kwargs`` set the other fields (bounds, name ...)."""
        v = np.asarray(vector, dtype=float)
        n = len(TERM_NAMES) + len(cls.TRACE_PARAMS)
        if v.shape != (n,):
            raise ValueError(f"LearningRule.from_vector: vector should have shape ({n},), got {v.shape}")
        coeffs = {k: float(c) for k, c in zip(TERM_NAMES, v) if c != 0.0}
        params = dict(zip(cls.TRACE_PARAMS, map(float, v[len(TERM_NAMES):])))
        return cls(coefficients=coeffs, **params, **kwargs)

    def decays(self) -> dict[str, float]:
        """Per-step decay factors ``exp(-1 / tau)`` of the five traces."""
        return {tr: math.exp(-1.0 / getattr(self, f"{tr}_tau")) for tr in TRACE_NAMES}

    def impulses(self) -> dict[str, float]:
        return {tr: getattr(self, f"{tr}_impulse") for tr in TRACE_NAMES}

    @property
    def uses_third_factor(self) -> bool:
        return any(self.coefficients.get(name, 0.0) != 0.0 and "y3" in factors
                   for name, _, factors in TERMS)

    # ------------------------------------------------------------------ Lava
    def quantized(self) -> "LearningRule":
        """The rule with every coefficient snapped to Lava's ``m * 2**e`` grid."""
        coeffs = {}
        for k, c in self.coefficients.items():
            m, e = quantize_coefficient(c)
            if m:
                coeffs[k] = m * 2.0 ** e
        d = self.to_dict()
        d["coefficients"] = coeffs
        return LearningRule.from_dict(d)

    def lava_rule_string(self) -> str:
        """The ``dw`` string for Lava's learning rule (coefficients quantized).

        Examples
        --------
        >>> pair_stdp(a_plus=0.5, a_minus=0.25).lava_rule_string()
        '-1*2^-2*x0*y1 + 1*2^-1*y0*x1'
        """
        parts = []
        for name, dep, factors in TERMS:
            c = self.coefficients.get(name, 0.0)
            m, e = quantize_coefficient(c)
            if m == 0:
                continue
            dep_str = dep
            body = "*".join([dep_str, *factors])
            sign = "-" if m < 0 else "+"
            parts.append((sign, f"{abs(m)}*2^{e}*{body}"))
        if not parts:
            raise ValueError(f"LearningRule '{self.name}': no term has a coefficient representable "
                             f"on Lava's grid (|c| >= 2^-8); the rule would do nothing")
        out = ("-" if parts[0][0] == "-" else "") + parts[0][1]
        for sign, text in parts[1:]:
            out += f" {sign} {text}"
        return out

    def lava_rule_kwargs(self, *, t_epoch: int = 1) -> dict:
        """Keyword arguments for ``lava.magma.core.learning.learning_rule.Loihi2FLearningRule``.

        ``Loihi2FLearningRule(**rule.lava_rule_kwargs())`` builds the rule that
        the mapper hands to ``LearningDense``. Only ``t_epoch = 1`` matches the
        Brian2 / numpy implementations step for step.
        """
        if t_epoch != 1:
            raise ValueError(f"LearningRule '{self.name}': t_epoch should be 1 (the Brian2 and numpy "
                             f"implementations update every step), got {t_epoch!r}")
        kw = {"dw": self.lava_rule_string()}
        for tr in TRACE_NAMES:
            kw[f"{tr}_impulse"] = getattr(self, f"{tr}_impulse")
            kw[f"{tr}_tau"] = getattr(self, f"{tr}_tau")
        kw["t_epoch"] = t_epoch
        return kw

    # ------------------------------------------------------------ serialize
    def to_dict(self) -> dict:
        d = {"type": "LearningRule", "name": self.name,
             "coefficients": dict(self.coefficients),
             "w_min": _inf_to_json(self.w_min), "w_max": _inf_to_json(self.w_max),
             "third_factor": self.third_factor}
        for p in self.TRACE_PARAMS:
            d[p] = getattr(self, p)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LearningRule":
        from neurochip.network import _fields
        kw = _fields(cls, d)
        for b in ("w_min", "w_max"):
            if b in kw:
                kw[b] = _inf_from_json(kw[b])
        return cls(**kw)

    def describe(self) -> str:
        """Human-readable equation with the float coefficients."""
        terms = [f"{c:+.4g}*{k}" for k, c in self.coefficients.items() if c != 0.0]
        return "dw = " + (" ".join(terms) if terms else "0")


def _inf_to_json(v: float):
    return v if math.isfinite(v) else ("inf" if v > 0 else "-inf")


def _inf_from_json(v):
    if isinstance(v, str) and v in ("inf", "-inf"):
        return float(v)
    return v


def pair_stdp(*, a_plus: float = 0.01, a_minus: float = 0.012, tau_plus: Quantity | float = 20 * ms,
              tau_minus: Quantity | float = 20 * ms, dt: Quantity = 1 * ms, w_min: float = -math.inf,
              w_max: float = math.inf, w_soft: float | None = None, name: str = "pair_stdp") -> LearningRule:
    """Pair-based STDP: ``dw = -a_minus * x0 * y1 + a_plus * y0 * x1``.

    With unit impulses, a pre spike at step ``t_pre`` and a post spike at
    ``t_post = t_pre + d`` give ``dw = a_plus * exp(-d / tau_plus)`` for ``d >= 0``
    and ``dw = -a_minus * exp(d / tau_minus)`` for ``d <= 0`` (``d = 0``: both).
    ``tau_plus`` / ``tau_minus`` are quantities (or floats in steps).

    ``w_soft`` makes the updates weight-dependent (soft bounds, multiplicative
    STDP as in van Rossum et al. 2000 / Guetig et al. 2003 with mu = 1):
    ``dw = a_plus * y0 * x1 * (1 - w / w_soft) - a_minus * x0 * y1 * w / w_soft``,
    so weights settle inside ``[0, w_soft]`` instead of running to the clip
    bounds (Loihi terms ``y0*x1``, ``y0*x1*w`` and ``x0*y1*w``).
    """
    owner = f"LearningRule '{name}'"
    dt = check_quantity(owner, "dt", dt, second, positive=True)
    a_plus = check_float(owner, "a_plus", a_plus)
    a_minus = check_float(owner, "a_minus", a_minus)
    if w_soft is None:
        coefficients = {"x0*y1": -a_minus, "y0*x1": a_plus}
    else:
        w_soft = check_float(owner, "w_soft", w_soft, low=0.0, low_open=True)
        coefficients = {"y0*x1": a_plus, "y0*x1*w": -a_plus / w_soft, "x0*y1*w": -a_minus / w_soft}
    return LearningRule(
        coefficients=coefficients,
        x1_impulse=1.0, x1_tau=_tau_steps(owner, "tau_plus", tau_plus, dt),
        y1_impulse=1.0, y1_tau=_tau_steps(owner, "tau_minus", tau_minus, dt),
        w_min=w_min, w_max=w_max, name=name)


def reward_stdp(*, a_plus: float = 0.01, a_minus: float = 0.012, tau_plus: Quantity | float = 20 * ms,
                tau_minus: Quantity | float = 20 * ms, tau_reward: Quantity | float = 20 * ms,
                reward_impulse: float = 1.0, third_factor: str | None = None,
                dt: Quantity = 1 * ms, w_min: float = -math.inf, w_max: float = math.inf,
                name: str = "reward_stdp") -> LearningRule:
    """Reward-modulated STDP: ``dw = y3 * (a_plus * y0 * x1 - a_minus * x0 * y1)``.

    The pair-STDP window gated by the reward trace ``y3`` (Loihi terms
    ``y0*x1*y3`` and ``x0*y1*y3``). ``third_factor`` names the reward spike
    source (one channel per post neuron); ``None`` uses the post spikes as in
    Lava's ``Loihi2FLearningRule``.
    """
    owner = f"LearningRule '{name}'"
    dt = check_quantity(owner, "dt", dt, second, positive=True)
    return LearningRule(
        coefficients={"y0*x1*y3": check_float(owner, "a_plus", a_plus),
                      "x0*y1*y3": -check_float(owner, "a_minus", a_minus)},
        x1_impulse=1.0, x1_tau=_tau_steps(owner, "tau_plus", tau_plus, dt),
        y1_impulse=1.0, y1_tau=_tau_steps(owner, "tau_minus", tau_minus, dt),
        y3_impulse=check_float(owner, "reward_impulse", reward_impulse, low=0.0),
        y3_tau=_tau_steps(owner, "tau_reward", tau_reward, dt),
        third_factor=third_factor, w_min=w_min, w_max=w_max, name=name)
