"""Shared machinery of the proof scripts: the symbolic layer, the measures,
the closed forms of Theorem 1b, the zero test and numeric sampling.

Nothing here asserts a claim by itself; each script imports it by path
(`proofs/` is not a package) and states its own checks.
"""

from __future__ import annotations

import random
import time
from typing import Callable, Iterable, Sequence

import numpy as np
import sympy as sp
import torch

# The step size. Positive, as in every claim; 1g substitutes eta -> -eta.
ETA = sp.Symbol("eta", positive=True)
THETA = sp.Symbol("theta", real=True)


# --------------------------------------------------------------------------- reporting


def passed(claim: str, what: str) -> None:
    """One line per verified claim."""
    print(f"{claim:<10} PASS  {what}")


class Timer:
    """Wall time of a script's main(), printed at the end."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        if exc[0] is None:
            print(f"{'':<10} done in {self.seconds:.2f} s")


# --------------------------------------------------------------------------- the zero test


def _applied_undefined(expr: sp.Expr) -> bool:
    return bool(expr.atoms(sp.core.function.AppliedUndef))


def is_zero(expr, *, trials: int = 1, seed: int = 20231109) -> bool:
    """Whether a sympy expression is identically zero.

    First a cheap refutation: evaluate at random positive rationals (skipped when
    the expression holds undefined functions such as a generic loss l_i). Then
    `expand`, which settles every identity in these scripts; `simplify` is the
    fallback so that an unusual normal form is not mistaken for a failure.
    """
    expr = sp.sympify(expr)
    if expr == 0:
        return True
    if not _applied_undefined(expr):
        rng = random.Random(seed)
        symbols = sorted(expr.free_symbols, key=str)
        for _ in range(trials):
            values = {s: sp.Rational(rng.randint(1, 89), rng.randint(1, 17)) for s in symbols}
            value = sp.N(explicit(expr).xreplace(values), 30)
            try:
                if abs(complex(value)) > 1e-25:
                    return False
            except TypeError:  # not reducible to a number: no verdict from this trial
                pass
    if _rational_zero(expr):
        return True
    if sp.expand(expr) == 0:
        return True
    return sp.simplify(expr) == 0


def _rational_zero(expr) -> bool:
    """Fast exact test: replace each square-rooted polynomial B by r_B**2 (r_B a fresh
    positive symbol), so that the expression becomes a rational function; if that
    function is zero, so is the original (put r_B = sqrt(B) back).
    A False answer is inconclusive (the caller falls back to expand/simplify)."""
    # Canonical arguments for function applications (sigmoid(...), l_i(...), ...).
    expr = expr.replace(
        lambda x: isinstance(x, sp.Function) and x.args,
        lambda x: x.func(*[sp.expand(a) for a in x.args]),
    )
    bases = {p.base for p in expr.atoms(sp.Pow) if p.exp.is_Rational and not p.exp.is_Integer and p.base.free_symbols}
    for j, base in enumerate(sorted(bases, key=sp.default_sort_key)):
        r = sp.Symbol(f"_r{j}", positive=True)

        def swap(x, base=base, r=r):
            return r**2 if x == base else r ** (2 * x.exp)

        expr = expr.replace(lambda x, base=base: x == base or (x.is_Pow and x.base == base), swap)
    # What is left is a rational function of symbols, of function applications and of
    # numeric radicals such as sqrt(3): make each of the latter a fresh variable too
    # (an identity in independent variables holds after any substitution).
    opaque = [f for f in expr.atoms(sp.Function) if f.args]
    opaque += [p for p in expr.atoms(sp.Pow) if not p.free_symbols and not p.exp.is_Integer]
    fresh = {a: sp.Symbol(f"_g{j}") for j, a in enumerate(sorted(opaque, key=sp.default_sort_key))}
    expr = expr.xreplace(fresh)
    gens = sorted(expr.free_symbols, key=str)
    if not gens:
        return sp.simplify(expr) == 0
    try:
        field, *_ = sp.field(gens, sp.QQ)
        return field.from_expr(expr) == 0
    except (ValueError, TypeError, sp.PolynomialError, ZeroDivisionError):
        return False


def _short(expr, limit: int = 300) -> str:
    text = str(expr)
    return text if len(text) <= limit else text[:limit] + " ..."


def assert_same(label: str, derived, closed) -> None:
    """Raise AssertionError unless derived - closed simplifies to zero."""
    if not is_zero(sp.sympify(derived) - sp.sympify(closed)):
        raise AssertionError(f"{label}: derived {_short(derived)} differs from closed form {_short(closed)}")


def assert_vectors_same(label: str, derived: Sequence, closed: Sequence) -> None:
    assert len(derived) == len(closed), label
    for p, (d, c) in enumerate(zip(derived, closed)):
        assert_same(f"{label}[{p}]", d, c)


def assert_close(label: str, derived, reference, *, rtol: float = 1e-9, atol: float = 1e-12) -> None:
    """Numeric comparison of two arrays (sympy-evaluated derivation vs fftheory)."""
    d = np.asarray(derived, dtype=float)
    r = np.asarray(reference, dtype=float)
    err = np.abs(d - r)
    allowed = atol + rtol * max(float(np.abs(r).max(initial=0.0)), 1.0)
    if not (err <= allowed).all():
        raise AssertionError(f"{label}: max |derived - fftheory| = {err.max():.3e} > {allowed:.1e}\n{d}\n{r}")


# --------------------------------------------------------------------------- sympy custom functions


class sigmoid(sp.Function):
    """sigma(x) = 1/(1 + e^-x); its derivative is declared and checked by `check_logistic`."""

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))


class softplus(sp.Function):
    """softplus(x) = log(1 + e^x); declared derivative sigmoid(x), checked by `check_logistic`."""

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return sp.log(1 + sp.exp(x))


def explicit(expr):
    """Replace sigmoid/softplus by their exp forms (for numeric evaluation)."""
    return expr.replace(sigmoid, lambda x: 1 / (1 + sp.exp(-x))).replace(softplus, lambda x: sp.log(1 + sp.exp(x)))


def check_logistic() -> None:
    """The declared derivatives are the true ones: softplus' = sigmoid, sigmoid' = s(1 - s)."""
    y = sp.Symbol("y", real=True)
    sp_explicit = sp.log(1 + sp.exp(y))
    sg_explicit = 1 / (1 + sp.exp(-y))
    assert sp.simplify(sp.diff(sp_explicit, y) - sg_explicit) == 0, "softplus' != sigmoid"
    assert sp.simplify(sp.diff(sg_explicit, y) - sg_explicit * (1 - sg_explicit)) == 0, "sigmoid' != s(1-s)"
    assert sp.simplify(explicit(sp.diff(softplus(y), y)) - sg_explicit) == 0
    assert sp.simplify(explicit(sp.diff(sigmoid(y), y)) - sp.diff(sg_explicit, y)) == 0
    # The two per-point losses of Hinton's objective, as functions of the goodness g.
    g = sp.Symbol("g", real=True)
    assert sp.simplify(sp.diff(sp.log(1 + sp.exp(THETA - g)), g) + 1 / (1 + sp.exp(g - THETA))) == 0
    assert sp.simplify(sp.diff(sp.log(1 + sp.exp(g - THETA)), g) - 1 / (1 + sp.exp(THETA - g))) == 0


# --------------------------------------------------------------------------- the layer


class Layer:
    """z_i = W x_i with symbolic W (n x m) and inputs x_i, and a fixed active set per point.

    The active sets are the assumption: on the open region of (W, x) where
    z_ip > 0 for p in A_i and z_ip < 0 otherwise, ReLU(z_i) equals the masked
    vector `h(W, i)` below, a polynomial in the entries of W. The region is open,
    so derivatives in W computed from the masked form are the true ones.
    """

    def __init__(self, n: int, m: int, active: Sequence[Iterable[int]], inputs: Sequence[sp.Matrix] | None = None):
        self.n, self.m, self.N = n, m, len(active)
        self.active = [frozenset(A) for A in active]
        self.W = sp.Matrix(n, m, lambda p, q: sp.Symbol(f"w{p}{q}", real=True))
        self.weights = list(self.W)
        if inputs is None:
            inputs = [sp.Matrix([sp.Symbol(f"x{i}{q}", real=True) for q in range(m)]) for i in range(self.N)]
        self.X = [sp.Matrix(x) for x in inputs]
        self.inputs = sorted(set().union(*(x.free_symbols for x in self.X)), key=str)

    def z(self, W: sp.Matrix, i: int) -> sp.Matrix:
        return W * self.X[i]

    def h(self, W: sp.Matrix, i: int) -> sp.Matrix:
        z = self.z(W, i)
        return sp.Matrix([z[p] if p in self.active[i] else 0 for p in range(self.n)])

    def mask(self, i: int) -> sp.Matrix:
        return sp.Matrix([1 if p in self.active[i] else 0 for p in range(self.n)])

    def a(self, i: int, k: int) -> sp.Expr:
        return (self.X[i].T * self.X[k])[0, 0]

    def gradient(self, L: sp.Expr) -> sp.Matrix:
        """dL/dW, entry by entry, as a function of the W symbols."""
        return self.W.applyfunc(lambda w: sp.diff(L, w))

    def at(self, expr, W: sp.Matrix):
        """expr (a function of the W symbols) evaluated at the weights W."""
        return expr.xreplace(dict(zip(self.weights, list(W))))

    def step(self, L: sp.Expr, W: sp.Matrix | None = None, eta=ETA) -> sp.Matrix:
        """One gradient step on L taken at weights W (default: the symbols): W - eta dL/dW(W)."""
        grad = self.gradient(L)
        if W is None:
            return self.W - eta * grad
        return W - eta * self.at(grad, W)

    def u(self, k: int, coefficients: Sequence, W: sp.Matrix | None = None) -> sp.Matrix:
        """u_k = sum_i a_ik s_i h_i."""
        W = self.W if W is None else W
        return sum((self.a(i, k) * coefficients[i] * self.h(W, i) for i in range(self.N)), sp.zeros(self.n, 1))

    # ---- numeric instances

    def sample(self, seed: int, *, nonnegative: bool = False, margin: float = 0.05) -> dict:
        """Random W, x whose sign pattern matches the assumed active sets (rejection sampling)."""
        rng = np.random.default_rng(seed)
        for _ in range(100000):
            W = rng.normal(size=(self.n, self.m))
            draws = rng.normal(size=len(self.inputs))
            if nonnegative:
                draws = np.abs(draws)
            values = {w: float(v) for w, v in zip(self.weights, W.reshape(-1))}
            values.update({s: float(v) for s, v in zip(self.inputs, draws)})
            Xn = self.numeric_inputs(values)
            Z = Xn @ W.T
            ok = all(
                (Z[i, p] > margin) if p in self.active[i] else (Z[i, p] < -margin)
                for i in range(self.N)
                for p in range(self.n)
            )
            if ok:
                return values
        raise RuntimeError("no sample with the assumed sign pattern")

    def numeric_inputs(self, values: dict) -> np.ndarray:
        if not hasattr(self, "_inputs_fn"):
            self._inputs_fn = sp.lambdify(self.inputs, [list(x) for x in self.X], "math")
        return np.array(self._inputs_fn(*[values[s] for s in self.inputs]), dtype=float)

    def numeric_weights(self, values: dict) -> np.ndarray:
        return np.array([[values[self.W[p, q]] for q in range(self.m)] for p in range(self.n)])

    def tensors(self, values: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """W (n, m), X (N, m) and H = ReLU(X W^T) (N, n) as float64 tensors."""
        W = torch.tensor(self.numeric_weights(values), dtype=torch.float64)
        X = torch.tensor(self.numeric_inputs(values), dtype=torch.float64)
        return W, X, torch.relu(X @ W.T)


def evaluate(expr, values: dict) -> float:
    """Numeric value of expr at float values of its symbols (float64 precision)."""
    floats = {s: sp.Float(v) for s, v in values.items()}
    return float(explicit(sp.sympify(expr)).xreplace(floats))


# --------------------------------------------------------------------------- measures and closed forms


def goodness(h: Sequence) -> sp.Expr:
    return sp.Add(*[e**2 for e in h])


def l1(h: Sequence) -> sp.Expr:
    """||h||_1 on the non-negative orthant: the plain sum (every h_p >= 0 after ReLU)."""
    return sp.Add(*list(h))


def l2(h: Sequence) -> sp.Expr:
    return sp.sqrt(goodness(h))


def hoyer(h: Sequence) -> sp.Expr:
    root = sp.sqrt(len(h))
    return (root - l1(h) / l2(h)) / (root - 1)


MEASURES: dict[str, Callable] = {"goodness": goodness, "l1": l1, "l2": l2, "hoyer": hoyer}


def dot(a: Sequence, b: Sequence) -> sp.Expr:
    return sp.Add(*[x * y for x, y in zip(a, b)])


def closed_1b(h: Sequence, mask: Sequence, u: Sequence) -> dict[str, sp.Expr]:
    """Theorem 1b's first-order coefficients (the change per unit eta)."""
    n = len(h)
    hu, mu = dot(h, u), dot(mask, u)
    L1, L2 = l1(h), l2(h)
    return {
        "goodness": -4 * hu,
        "l1": -2 * mu,
        "l2": -2 * hu / L2,
        "hoyer": 2 / ((sp.sqrt(n) - 1) * L2) * (mu - L1 / L2**2 * hu),
    }


def first_order(expr, eta=ETA) -> sp.Expr:
    """d expr / d eta at eta = 0: the first-order coefficient."""
    return sp.diff(expr, eta).subs(eta, 0)


def first_order_measures(h_of_eta: Sequence) -> dict[str, sp.Expr]:
    return {q: first_order(f(h_of_eta)) for q, f in MEASURES.items()}


def check_1b_forms(
    label: str,
    layer: Layer,
    h_new: Sequence[sp.Matrix],
    u: Sequence[sp.Matrix],
    closed: Callable = closed_1b,
    points: Iterable[int] | None = None,
) -> dict:
    """Compare the first-order coefficients of the four measures along the real step
    with the closed forms, point by point. Returns the derived coefficients."""
    derived = {}
    for k in range(layer.N) if points is None else points:
        h = layer.h(layer.W, k)
        got = first_order_measures(h_new[k])
        want = closed(h, layer.mask(k), u[k])
        for q in MEASURES:
            assert_same(f"{label} point {k} {q}", got[q], want[q])
        derived[k] = got
    return derived
