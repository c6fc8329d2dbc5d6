"""Goodness variants (see variants.md): the derivations behind the derived and
declared claims of fftheory/_check_variant.py and fftheory/_variants.py.

Symbolic part: the sign of grad g for every catalogue goodness with a sympy
form (monotone), grad g = c(h) h and the single-point step h' = (1 - eta a c) h
from symbolic weights (radial), the Chebyshev identity for the first-order
Hoyer change (n = 3, 4, generic r), the exact L1-goodness path, the top-k
finite-step formula, the remainder constants (softplus phi'' <= 1/4, the
log-sum-exp Hessian by Gershgorin, n = 3), and SymBa's dL/dg_i.
Numeric part: real steps of fftheory (apply_rule, layer), its first-order
predictions (lemma_gram_direction, linear_predictions), its remainder bounds
(GOODNESS[...].remainder) and the property detection (detect_properties).

Run: python proofs/variants.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import itertools  # noqa: E402
import math  # noqa: E402
from typing import Callable, Mapping  # noqa: E402

import sympy as sp  # noqa: E402
import torch  # noqa: E402

from fftheory._check_variant import detect_properties  # noqa: E402
from fftheory._goodness import GOODNESS  # noqa: E402
from fftheory._losses import LOSSES  # noqa: E402
from fftheory._model import gram, layer  # noqa: E402
from fftheory._predict import goodness_gradient, lemma_gram_direction, linear_predictions, loss_weights  # noqa: E402
from fftheory._rules import RULES, apply_rule, ff_rules  # noqa: E402
from fftheory._sparsity import hoyer as t_hoyer, l1 as t_l1, l2 as t_l2  # noqa: E402
from fftheory._variants import CATALOGUE  # noqa: E402

from _common import (  # noqa: E402
    ETA,
    Layer,
    Timer,
    assert_close,
    assert_same,
    assert_vectors_same,
    dot,
    hoyer,
    l1,
    l2,
    passed,
    sigmoid,
    softplus,
)

F64 = torch.float64
DEC, INC = RULES["batch-decrease"], RULES["batch-increase"]
RADIAL_C = {  # grad g = c(h) h, c as a function of the active values (n = number of units)
    "sum-of-squares": lambda h, n: sp.Integer(2),
    "mean-of-squares": lambda h, n: sp.Rational(2, n),
    "l2-norm": lambda h, n: 1 / l2(h),
    "negative-sum-of-squares": lambda h, n: sp.Integer(-2),
}
# What the derivations say about each catalogue goodness (variants.md, "Properties").
EXPECTED_PROPERTIES = {
    "sum-of-squares": {"nondecreasing", "radial"},
    "mean-of-squares": {"nondecreasing", "radial"},
    "l2-norm": {"nondecreasing", "radial"},
    "negative-sum-of-squares": {"nonincreasing", "radial"},
    "l1": {"nondecreasing", "sublinear"},
    "top-2-sum-of-squares": {"nondecreasing", "superlinear"},
    "softplus-sum": {"nondecreasing", "sublinear"},
    "log-sum-exp": {"nondecreasing"},
}


def _positive(n: int, name: str = "h"):
    return list(sp.symbols(f"{name}0:{n}", positive=True))


def _top2_form(hs):
    """Top-2 sum of squares on the region h0 >= h1 >= every other unit (the assumption)."""
    return hs[0] ** 2 + hs[1] ** 2


def _sympy_goodness(name: str, hs):
    return _top2_form(hs) if name.startswith("top-2") else GOODNESS[name].sympy_form(hs)


def _random_layer(gen: torch.Generator, B: int, n: int, m: int, N: int, *, nonnegative: bool):
    W = torch.randn(B, n, m, dtype=F64, generator=gen)
    X = torch.randn(B, N, m, dtype=F64, generator=gen)
    return W, (X.abs() if nonnegative else X)


# --------------------------------------------------------------------------- 1. monotone


def check_monotone(count: int = 400) -> None:
    # The sign of grad g on the positive orthant, from the sympy forms (top-2: on its ordered region).
    hs = _positive(3)
    for name in EXPECTED_PROPERTIES:
        grad = [sp.diff(_sympy_goodness(name, hs), h) for h in hs]
        up = "nondecreasing" in EXPECTED_PROPERTIES[name]
        for d in grad:
            assert (d.is_nonnegative if up else d.is_nonpositive), f"monotone {name}: sign of {d} not provable"
        found = {k for k, v in vars(detect_properties(GOODNESS[name])).items() if v}
        assert found == EXPECTED_PROPERTIES[name], f"{name}: detected {found}, derived {EXPECTED_PROPERTIES[name]}"
    # The lemma's dz with a_ik >= 0 (non-negative inputs), masks in {0, 1} and masked gradients >= 0.
    N, n = 3, 3
    a = {(i, k): sp.Symbol(f"a{i}{k}", nonnegative=True) for i in range(N) for k in range(N)}
    G = [[sp.Symbol(f"G{i}{p}", nonnegative=True) for p in range(n)] for i in range(N)]
    masks = [[1, 1, 0], [0, 1, 1], [1, 0, 1]]
    for k in range(N):
        for p in range(n):
            dz = -ETA * sp.Add(*[a[i, k] * masks[i][p] * G[i][p] for i in range(N)])
            assert dz.is_nonpositive, f"monotone: dz[{k}][{p}] not provably <= 0"
    # Real steps of fftheory, any eta (up to 5 / (max a * max |grad|)), non-negative inputs, N = 1..5.
    gen = torch.Generator().manual_seed(11)
    checked = 0
    for name, props in EXPECTED_PROPERTIES.items():
        g = GOODNESS[name]
        sign = -1 if "nondecreasing" in props else +1  # how batch-decrease moves z
        for N in (1, 3, 5):
            W, X = _random_layer(gen, count, 5, 4, N, nonnegative=True)
            Z, H, _ = layer(W, X)
            grad = goodness_gradient(H, g).nan_to_num(0.0)
            scale = (gram(X).amax((-1, -2)) * grad.abs().amax((-1, -2)) * N).clamp_min(1e-6)
            eta = torch.exp(torch.empty(count, dtype=F64).uniform_(math.log(1e-3), math.log(5.0), generator=gen))
            eta = eta / scale
            # batch-decrease moves z by `sign` and lowers g; batch-increase the reverse.
            for rule, z_sign, g_sign in ((DEC, sign, -1), (INC, -sign, +1)):
                W2 = apply_rule(rule, W, X, eta=eta, goodness=g)
                Z2, H2, _ = layer(W2, X)
                tol = 1e-12 * (1 + Z.abs().amax((-1, -2)) + Z2.abs().amax((-1, -2)))[:, None, None]
                assert (z_sign * (Z2 - Z) >= -tol).all(), f"monotone {name} {rule.name}: some z moved the wrong way"
                moved = (H2 - H) * z_sign
                assert (moved >= -tol).all(), f"monotone {name} {rule.name}: h not monotone unit-wise"
                for q, f, s in (("goodness", g, g_sign), ("l1", t_l1, z_sign), ("l2", t_l2, z_sign)):
                    before, after = f(H), f(H2)
                    slack = 1e-12 * (1 + before.abs() + after.abs())
                    assert (s * (after - before) >= -slack).all(), f"monotone {name} {rule.name}: {q} moved wrongly"
                lost = (Z > 0) & ~(Z2 > 0) if z_sign > 0 else ~(Z > 0) & (Z2 > 0)
                assert not lost.any(), f"monotone {name} {rule.name}: active set moved the wrong way"
                checked += count
    passed("monotone", f"grad g >= 0 (<= 0) on the orthant for the 8 goodnesses = detect_properties; dz <= 0; "
           f"{checked} real steps: z, h, g, L1, L2, active sets monotone")


# --------------------------------------------------------------------------- 2. radial


def check_radial(count: int = 2000) -> None:
    for name, c_of in RADIAL_C.items():
        g = GOODNESS[name]
        # grad g = c(h) h on every active set of 3 units (inactive entries 0).
        for size in (1, 2, 3):
            h = [s if p < size else 0 for p, s in enumerate(_positive(3))]
            grad = [sp.diff(g.sympy_form(_positive(3)), s).subs({t: 0 for t in _positive(3)[size:]})
                    for s in _positive(3)[:size]]
            for p in range(size):
                assert_same(f"radial {name} grad[{p}]", grad[p], c_of(h, 3) * h[p])
        # From symbolic W (3 x 2), one point with active set {0, 1}: h' = (1 - eta a c) h, z' = z off A.
        lay = Layer(3, 2, [{0, 1}])
        h = lay.h(lay.W, 0)
        W_new = lay.step(g.sympy_form(list(h)))
        factor = 1 - ETA * lay.a(0, 0) * c_of(list(h), 3)
        assert_vectors_same(f"radial {name} h'", lay.h(W_new, 0), factor * h)
        assert_same(f"radial {name} inactive z", lay.z(W_new, 0)[2], lay.z(lay.W, 0)[2])
    scale = sp.Symbol("scale", positive=True)
    for n in (3, 4):
        y = _positive(n, "y")
        assert_same(f"hoyer scale n={n}", hoyer([scale * e for e in y]), hoyer(y))
    # fftheory's real single-point step: H' = (1 - eta a c) H and S unchanged, signed inputs, factor in (0, 1).
    gen = torch.Generator().manual_seed(12)
    for name in RADIAL_C:
        g = GOODNESS[name]
        W, X = _random_layer(gen, count, 6, 3, 1, nonnegative=False)
        _, H, _ = layer(W, X)
        keep = t_l2(H)[:, 0] > 1e-3
        W, X, H = W[keep], X[keep], H[keep]
        a = gram(X)[:, 0, 0]
        c = (goodness_gradient(H, g) * H).sum(-1)[:, 0] / (H * H).sum(-1)[:, 0]  # <grad g, h> / ||h||^2
        frac = torch.rand(len(a), dtype=F64, generator=gen) * 0.98
        eta = torch.where(c > 0, frac / (a * c), frac * 10 / (a * c.abs()))  # c < 0: any eta keeps factor > 0
        W2 = apply_rule(DEC, W, X, eta=eta, goodness=g)
        H2 = layer(W2, X)[1]
        factor = (1 - eta * a * c)[:, None, None]
        assert_close(f"radial {name} H'", H2.reshape(-1), (factor * H).reshape(-1), rtol=1e-10)
        assert_close(f"radial {name} S", t_hoyer(H2), t_hoyer(H), rtol=1e-10)
    passed("radial", "grad g = c h for 4 goodnesses; symbolic W: one point's h' = (1 - eta a_kk c) h; "
           "S(ch) = S(h); real steps of fftheory keep S")


# --------------------------------------------------------------------------- 3. Chebyshev


def chebyshev_closed(h, r, eta, a):
    """First-order dS of one point along dh = -eta a (r * h): -(eta a / ((sqrt n - 1) L2)) (L1/E_w[h]) Cov_w(h, r)."""
    n = len(h)
    Wt = l1(h)
    Eh = dot(h, h) / Wt
    Er = dot(h, r) / Wt
    Ehr = dot(h, [x * y for x, y in zip(h, r)]) / Wt
    cov = Ehr - Eh * Er
    return -eta * a / ((sp.sqrt(n) - 1) * l2(h)) * (Wt / Eh) * cov, cov


def check_chebyshev() -> None:
    a = sp.Symbol("a_kk", positive=True)
    t = sp.Symbol("t", real=True)
    for n, size in ((3, 3), (3, 2), (4, 4), (4, 3)):
        hp = _positive(size)
        h = hp + [0] * (n - size)
        rp = list(sp.symbols(f"r0:{size}", real=True))
        r = rp + [0] * (n - size)  # r off A multiplies h_p = 0: irrelevant
        dh = [-ETA * a * x * y for x, y in zip(r, h)]
        derived = sp.diff(hoyer([x + t * d for x, d in zip(h, dh)]), t).subs(t, 0)
        closed, cov = chebyshev_closed(h, r, ETA, a)
        assert_same(f"chebyshev dS n={n} |A|={size}", derived, closed)
        # Weighted Chebyshev identity: Cov_w = (1/(2 W^2)) sum_{p,q} w_p w_q (h_p - h_q)(r_p - r_q), w = h.
        pairs = sp.Add(*[hp[p] * hp[q] * (hp[p] - hp[q]) * (rp[p] - rp[q])
                         for p, q in itertools.product(range(size), repeat=2)])
        assert_same(f"chebyshev Cov identity n={n} |A|={size}", cov, pairs / (2 * l1(hp) ** 2))
        # r = 1/h (L1 goodness): the pair sum is -sum (h_p - h_q)^2 <= 0, so dS >= 0.
        inv = pairs.subs({rp[p]: 1 / hp[p] for p in range(size)})
        squares = -sp.Add(*[(hp[p] - hp[q]) ** 2 for p, q in itertools.product(range(size), repeat=2)])
        assert_same(f"chebyshev r=1/h n={n}", inv, squares)
        # r constant (radial): Cov = 0.
        assert_same(f"chebyshev radial n={n}", cov.subs({x: 7 for x in rp}), 0)
    # Top-k (k = 2, n = 4): h0 >= h1 >= h2 >= h3 written with d_p >= 0 gaps, r = (2, 2, 0, 0): pairs >= 0.
    d = list(sp.symbols("d0:3", nonnegative=True))
    base = sp.Symbol("b", positive=True)
    h = [base + d[2] + d[1] + d[0], base + d[2] + d[1], base + d[2], base]
    pairs = sp.expand(sp.Add(*[h[p] * h[q] * (h[p] - h[q]) * (r_p - r_q)
                               for (p, r_p), (q, r_q) in itertools.product(enumerate((2, 2, 0, 0)), repeat=2)]))
    assert pairs.is_nonnegative, "top-2 Chebyshev pair sum not provably >= 0"
    # Softplus-sum: r = sigma(h)/h has r' = sigma((1 - sigma) h - 1)/h^2, and (1 - sigma) h - 1 = (h - 1 - e^h)/(1 + e^h) < 0.
    y = sp.Symbol("y", positive=True)
    s = 1 / (1 + sp.exp(-y))
    assert sp.simplify(sp.diff(s / y, y) - s * ((1 - s) * y - 1) / y**2) == 0
    assert sp.simplify((1 - s) * y - 1 - (y - 1 - sp.exp(y)) / (1 + sp.exp(y))) == 0
    # q = e^y - 1 - y: q(0) = q'(0) = 0 and q'' = e^y > 0, so q >= 0 and h - 1 - e^h = -q(h) - 2 < 0.
    bump = sp.exp(y) - 1 - y
    assert bump.subs(y, 0) == 0 and sp.diff(bump, y).subs(y, 0) == 0 and sp.diff(bump, y, 2).is_positive
    assert sp.expand(y - 1 - sp.exp(y) - (-bump - 2)) == 0
    passed("chebyshev", "dS = -(eta a_kk/((sqrt n - 1) L2)) (L1/E_w[h]) Cov_w(h, r), Cov_w = pair sum (n = 3, 4); "
           "r = 1/h, sigma(h)/h: dS >= 0; top-2: dS <= 0; r constant: 0")


def check_chebyshev_numeric(count: int = 3000, flip: bool = False) -> None:
    """The criterion's sign and value against fftheory's linear_predictions on real single-point
    layers (signed inputs). flip=True predicts the opposite sign (must be rejected)."""
    gen = torch.Generator().manual_seed(13)
    strict = 0
    for name in ("l1", "softplus-sum", "top-2-sum-of-squares", "mean-of-squares", "log-sum-exp"):
        g = GOODNESS[name]
        props = detect_properties(g)
        W, X = _random_layer(gen, count, 6, 4, 1, nonnegative=False)
        _, H, M = layer(W, X)
        keep = (M.sum(-1)[:, 0] >= 1)
        W, X, H, M = W[keep], X[keep], H[keep], M[keep]
        eta = 0.1
        dH = eta * M * lemma_gram_direction(DEC, X, H, goodness=g)
        grad = goodness_gradient(H, g)
        pred = linear_predictions(H, dH, grad)["hoyer"][:, 0]
        # The criterion: r = grad/h on the active set, weights w = h.
        h, r = H[:, 0], torch.where(M[:, 0] > 0, grad[:, 0] / H[:, 0].clamp_min(1e-300), 0.0)
        L1, L2, n = h.sum(-1), t_l2(h), h.shape[-1]
        Eh, Er, Ehr = (h * h).sum(-1) / L1, (h * r).sum(-1) / L1, (h * h * r).sum(-1) / L1
        a = gram(X)[:, 0, 0]
        closed = -eta * a / ((math.sqrt(n) - 1) * L2) * (L1 / Eh) * (Ehr - Eh * Er)
        size = eta * a / ((math.sqrt(n) - 1) * L2) * (L1 / Eh) * (Ehr.abs() + Eh * Er.abs())
        assert ((closed - pred).abs() <= 1e-10 * size + 1e-15).all(), f"chebyshev {name}: closed form != fftheory"
        expected = +1 if props.sublinear else -1 if props.superlinear else 0 if props.radial else None
        if expected is None:
            continue  # log-sum-exp: r = softmax/h is neither; only the identity is claimed
        if flip:
            expected = -expected
        tol = 1e-10 * size + 1e-15
        if expected == 0:
            assert (pred.abs() <= tol).all(), f"chebyshev {name}: radial but dS != 0"
        else:
            assert (expected * pred >= -tol).all(), f"chebyshev {name}: dS has the wrong sign"
            strict += int((expected * pred > tol).sum())
    passed("chebyshev.num", f"criterion = linear_predictions on {5 * count} real single-point steps; "
           f"sign as predicted ({strict} strict)")


# --------------------------------------------------------------------------- 4. L1 goodness exactly


def check_l1_exact(count: int = 4000) -> None:
    t = sp.Symbol("t", nonnegative=True)
    for size in (2, 3, 4):
        hp = _positive(size)
        y = [x - t for x in hp]
        ratio = l1(y) / l2(y)
        k = sp.Integer(size)
        assert_same(f"l1 ratio' |A|={size}", sp.diff(ratio, t), -(k * l2(y) ** 2 - l1(y) ** 2) / l2(y) ** 3)
        lagrange = sp.Add(*[(hp[p] - hp[q]) ** 2 for p, q in itertools.combinations(range(size), 2)])
        assert_same(f"l1 Lagrange |A|={size}", k * l2(y) ** 2 - l1(y) ** 2, lagrange)  # independent of t
        assert lagrange.is_nonnegative
    # From symbolic W: one point, L = sum_p h_p, active set {0, 1}: h' = h - eta a m, inactive z unchanged.
    lay = Layer(3, 2, [{0, 1}])
    h = lay.h(lay.W, 0)
    W_new = lay.step(GOODNESS["l1"].sympy_form(list(h)))
    assert_vectors_same("l1 step", lay.h(W_new, 0), h - ETA * lay.a(0, 0) * lay.mask(0))
    assert_same("l1 step inactive", lay.z(W_new, 0)[2], lay.z(lay.W, 0)[2])
    # fftheory's real steps: S never falls, for steps below the crossing bound and (extension) beyond it.
    gen = torch.Generator().manual_seed(14)
    W, X = _random_layer(gen, count, 6, 4, 1, nonnegative=False)
    Z, H, _ = layer(W, X)
    a = gram(X)[:, 0, 0]
    eta = H.amax((-1, -2)) / a * torch.rand(count, dtype=F64, generator=gen) * 1.2
    W2 = apply_rule(DEC, W, X, eta=eta, goodness=GOODNESS["l1"])
    Z2, H2, _ = layer(W2, X)
    S, S2 = t_hoyer(H)[:, 0], t_hoyer(H2)[:, 0]
    ok = ~torch.isnan(S) & ~torch.isnan(S2)
    crossed = ((Z > 0) != (Z2 > 0)).any(-1)[:, 0] & ok
    assert (S2[ok] - S[ok] >= -1e-12).all(), "l1: Hoyer fell along a real step"
    # And along the path t in [0, min active h): the ratio is non-increasing on a grid.
    ts = torch.linspace(0, 1, 21, dtype=F64)[:-1]
    hmin = torch.where(H[:, 0] > 0, H[:, 0], torch.inf).amin(-1)
    path = (H[:, 0, None, :] - (ts[None, :, None] * hmin[:, None, None]) * (H[:, 0, None, :] > 0)).clamp_min(0)
    r = t_l1(path) / t_l2(path)
    fine = torch.isfinite(hmin)
    assert (r[fine].diff(dim=-1) <= 1e-12 * r[fine][:, 1:]).all(), "l1: L1/L2 rose along the path"
    passed("l1.exact", f"d(L1/L2)/dt = -sum_(p<q)(h_p - h_q)^2/L2^3 <= 0; real steps: S never falls "
           f"({int(ok.sum()) - int(crossed.sum())} without and {int(crossed.sum())} with crossings)")


# --------------------------------------------------------------------------- 5. top-k


def check_top_k() -> None:
    lam = sp.Symbol("lambda", positive=True)
    a = _positive(2, "a")
    b = _positive(2, "b")
    h = [lam * a[0], lam * a[1], b[0], b[1]]
    A1, A2, B1, B2 = a[0] + a[1], a[0] ** 2 + a[1] ** 2, b[0] + b[1], b[0] ** 2 + b[1] ** 2
    assert_same("top-k dr/dlambda", sp.diff(l1(h) / l2(h), lam), (A1 * B2 - lam * A2 * B1) / l2(h) ** 3)
    # From symbolic W (4 x 2), one point, all active, top set {0, 1} (assumed order): h' = ((1-2 eta a) h_T, h_rest).
    lay = Layer(4, 2, [{0, 1, 2, 3}])
    hh = lay.h(lay.W, 0)
    W_new = lay.step(_top2_form(list(hh)))
    factor = 1 - 2 * ETA * lay.a(0, 0)
    assert_vectors_same("top-k step", lay.h(W_new, 0), [factor * hh[0], factor * hh[1], hh[2], hh[3]])
    # A finite step that reorders the units: S rises although the first-order prediction (fftheory) says it falls.
    g = GOODNESS["top-2-sum-of-squares"]
    W = torch.tensor([[1.0], [0.9], [0.5], [0.45]], dtype=F64)
    X = torch.tensor([[1.0]], dtype=F64)
    _, H, M = layer(W, X)
    eta = 0.4  # lambda = 1 - 2 eta a = 0.2 > 0: no unit crosses zero
    dH = eta * M * lemma_gram_direction(DEC, X, H, goodness=g)
    first = float(linear_predictions(H, dH, goodness_gradient(H, g))["hoyer"][0])
    H2 = layer(apply_rule(DEC, W, X, eta=eta, goodness=g), X)[1]
    observed = float(t_hoyer(H2)[0] - t_hoyer(H)[0])
    assert (H2 > 0).all() and first < 0 < observed, (first, observed)
    assert set(H2[0].topk(2).indices.tolist()) == {2, 3}  # the top set moved to the other two units
    # S(lambda) falls exactly while lambda >= lambda* = (B2/B1)/(A2/A1), and rises below it.
    av, bv = H[0, :2], H[0, 2:]
    star = float((bv.square().sum() / bv.sum()) / (av.square().sum() / av.sum()))
    lams = torch.linspace(0.02, 1, 99, dtype=F64)
    S = t_hoyer(torch.cat([lams[:, None] * av, bv.expand(len(lams), 2)], -1))
    assert (S[lams >= star].diff() >= -1e-12).all() and (S[lams <= star].diff() <= 1e-12).all()
    # No reorder (lambda a_min >= b_max) implies lambda >= lambda*: B2 <= b_max B1 <= lambda a_min B1 and
    # a_min A1 <= A2, so A1 B2 <= lambda A2 B1. S falls exactly until the first reorder (and possibly beyond).
    assert star <= float(bv.max() / av.min())
    gen = torch.Generator().manual_seed(15)
    A = torch.rand(5000, 3, dtype=F64, generator=gen) + 1.0
    Bv = torch.rand(5000, 4, dtype=F64, generator=gen) * A.amin(-1, keepdim=True)
    lo = Bv.amax(-1) / A.amin(-1)
    lam_ok = lo + (1 - lo) * torch.rand(5000, dtype=F64, generator=gen)
    slope = A.sum(-1) * Bv.square().sum(-1) - lam_ok * A.square().sum(-1) * Bv.sum(-1)
    assert (slope <= 1e-12).all(), "top-k: S rose before any reorder"
    passed("top-k", f"h' = (lambda h_T, h_rest), dr/dlambda = (A1 B2 - lambda A2 B1)/L2^3; S falls iff lambda >= "
           f"{star:.3f} here; step to lambda 0.2 (no crossing, top set changed): first order {first:.3f}, "
           f"observed {observed:+.3f}")


# --------------------------------------------------------------------------- 6. remainders


def check_remainder_constants() -> None:
    # Mean of squares: exactly ||dh||^2 / n.
    h, d = _positive(3), list(sp.symbols("d0:3", real=True))
    ms = GOODNESS["mean-of-squares"].sympy_form
    after = ms([x + e for x, e in zip(h, d)])
    assert_same("rem mean-of-squares", after - ms(h) - sum(sp.diff(ms(h), x) * e for x, e in zip(h, d)), dot(d, d) / 3)
    # Softplus: phi'' = s(1 - s) and 1/4 - s(1 - s) = (s - 1/2)^2; Taylor: |R| <= (1/4) * int_0^1 (1 - t) dt * d^2.
    y = sp.Symbol("y", real=True)
    phi = sp.log(1 + sp.exp(y))
    s = 1 / (1 + sp.exp(-y))
    assert sp.simplify(sp.diff(phi, y, 2) - s * (1 - s)) == 0
    assert sp.expand(sp.Rational(1, 4) - s * (1 - s) - (s - sp.Rational(1, 2)) ** 2) == 0
    tt = sp.Symbol("t")
    assert sp.integrate(1 - tt, (tt, 0, 1)) == sp.Rational(1, 2)
    # Log-sum-exp, n = 3: Hessian = diag(p) - p p^T; Gershgorin: every disc lies in (-inf, 2 p_i (1 - p_i)] and
    # 1/2 - 2 p (1 - p) = 2 (p - 1/2)^2; PSD: v^T H v = (1/2) sum_ij p_i p_j (v_i - v_j)^2.
    hs = list(sp.symbols("h0:3", real=True))
    lse = sp.log(sum(sp.exp(x) for x in hs))
    p = [sp.exp(x) / sum(sp.exp(z) for z in hs) for x in hs]
    hess = sp.hessian(lse, hs)
    target = sp.diag(*p) - sp.Matrix(p) * sp.Matrix(p).T
    for i, j in itertools.product(range(3), repeat=2):
        assert sp.simplify(hess[i, j] - target[i, j]) == 0, f"lse Hessian [{i},{j}]"
    q = list(sp.symbols("p0:3", positive=True))
    H = sp.diag(*q) - sp.Matrix(q) * sp.Matrix(q).T
    simplex = {q[2]: 1 - q[0] - q[1]}
    for i in range(3):
        radius = sum(sp.Abs(H[i, j]) for j in range(3) if j != i)  # |-p_i p_j| = p_i p_j
        # right end of disc i: 2 p_i (1 - p_i) on the simplex (the difference is p_i (sum p - 1))
        assert_same(f"Gershgorin row {i}", H[i, i] + radius - 2 * q[i] * (1 - q[i]), q[i] * (sum(q) - 1))
    v = list(sp.symbols("v0:3", real=True))
    quad = (sp.Matrix(v).T * H * sp.Matrix(v))[0, 0]
    pair = sp.Rational(1, 2) * sp.Add(*[q[i] * q[j] * (v[i] - v[j]) ** 2 for i, j in itertools.product(range(3), repeat=2)])
    assert sp.expand((quad - pair).subs(simplex)) == 0, "lse PSD identity"
    pv = sp.Symbol("p", real=True)
    assert sp.expand(sp.Rational(1, 2) - 2 * pv * (1 - pv) - 2 * (pv - sp.Rational(1, 2)) ** 2) == 0
    # L2 norm: f'' = (s^2 - f'^2)/f along h + t d, in [0, s^2/rho] (Lagrange, as in bounds.md).
    f = l2([x + tt * e for x, e in zip(h, d)])
    f1 = dot([x + tt * e for x, e in zip(h, d)], d) / f
    assert_same("rem l2-norm f''", sp.diff(f, tt, 2), (dot(d, d) - f1**2) / f)
    # L1: linear, R = 0.
    assert_same("rem l1", sum(x + e for x, e in zip(h, d)) - sum(h) - sum(d), 0)
    passed("remainder", "mean ||dh||^2/n exact; softplus phi'' <= 1/4 -> /8; lse Hessian diag(p) - pp^T, "
           "Gershgorin 2p(1-p) <= 1/2, PSD -> /4; l2-norm s^2/(2 rho); l1 0")


def sample_steps(count: int, n: int, kind: str, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """h >= 0 (random active set, scale 1e-3 .. 10) and steps on the active set that cross no zero."""
    f64 = dict(dtype=F64, generator=gen)
    M = (torch.rand(count, n, **f64) < 0.7).to(F64)
    M[:, 0] = 1.0
    scale = torch.exp(torch.empty(count, 1, dtype=F64).uniform_(math.log(1e-3), math.log(10.0), generator=gen))
    H = (torch.rand(count, n, **f64) + 1e-3) * M * scale
    D = torch.randn(count, n, **f64) * M
    if kind == "radial":
        D = torch.where(torch.rand(count, 1, **f64) < 0.7, -1.0, 1.0) * H + 1e-3 * D * scale
    elif kind == "orthogonal":
        D = D - (D * H).sum(-1, keepdim=True) / (H * H).sum(-1, keepdim=True) * H
    elif kind == "pair":  # two equal large units, step along e0 - e1: the worst case of log-sum-exp
        H[:, 1] = H[:, 0] = H[:, 0] + 5.0 * scale[:, 0]
        D = torch.zeros_like(H)
        D[:, 0], D[:, 1] = 1.0, -1.0
    D = D / t_l2(D)[:, None].clamp_min(1e-300)
    length = t_l2(H) * torch.exp(torch.empty(count, dtype=F64).uniform_(math.log(1e-4), math.log(0.999), generator=gen))
    dH = D * length[:, None]
    ratio = torch.where(dH < 0, H / (-dH).clamp_min(1e-300), torch.inf).amin(-1).clamp(max=1.0)
    return H, dH * ratio[:, None]


Bound = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def check_remainders(bounds: Mapping[str, Bound] | None = None, count: int = 1500) -> dict[str, float]:
    """|g(h + dh) - g(h) - grad g . dh| <= remainder(H, dH) (+ rounding) for every goodness with one.
    `bounds` overrides the package's (the negative tests pass wrong ones). Returns the worst ratios."""
    gen = torch.Generator().manual_seed(16)
    worst = {}
    for name, g in GOODNESS.items():
        if g.remainder is None:
            continue
        bound = (bounds or {}).get(name, g.remainder)
        worst[name] = 0.0
        for n, kind in itertools.product((2, 3, 5, 8), ("generic", "radial", "orthogonal", "pair")):
            H, dH = sample_steps(count, n, kind, gen)
            before, after = g(H), g(H + dH)
            jvp = (goodness_gradient(H[:, None, :], g)[:, 0] * dH).sum(-1)
            remainder = (after - before - jvp).abs()
            rounding = 1e-12 * (1 + before.abs() + after.abs() + jvp.abs())
            limit = bound(H, dH)
            bad = remainder > limit + rounding
            if bad.any():
                i = int(bad.nonzero()[0, 0])
                raise AssertionError(f"{name} remainder {float(remainder[i]):.3e} > bound {float(limit[i]):.3e} "
                                     f"({kind} step, n={n}, |h|={float(t_l2(H[i])):.3g}, |dh|={float(t_l2(dH[i])):.3g})")
            meaningful = (remainder > 1e4 * rounding) & (limit > 0)
            if meaningful.any():
                worst[name] = max(worst[name], float((remainder[meaningful] / limit[meaningful]).max()))
    text = ", ".join(f"{k} {v:.2f}" for k, v in worst.items() if k != "l1")
    passed("remainder.num", f"{4 * 4 * count} steps per goodness within remainder; worst ratio {text}")
    return worst


# --------------------------------------------------------------------------- 7. SymBa


def symba_weights(G: torch.Tensor, positive: torch.Tensor, alpha: float) -> torch.Tensor:
    """dL/dg_i: -alpha sum_{j in Neg} sigma(alpha (g_j - g_i)) on positive i,
    +alpha sum_{i in Pos} sigma(alpha (g_j - g_i)) on negative j."""
    s = torch.sigmoid(alpha * (G[..., None, :] - G[..., :, None]))  # [i, j] = sigma(alpha (g_j - g_i))
    neg, pos = (~positive).to(G.dtype), positive.to(G.dtype)
    on_pos = -alpha * (s * neg[..., None, :]).sum(-1)  # sum over negative j
    on_neg = alpha * (s.transpose(-1, -2) * pos[..., None, :]).sum(-1)  # [j, i] = sigma(alpha (g_j - g_i)), sum over i
    return torch.where(positive, on_pos, on_neg)


def check_symba(count: int = 500) -> None:
    alpha = sp.Symbol("alpha", positive=True)
    g = list(sp.symbols("g0:4", real=True))
    pos, neg = (0, 1), (2, 3)
    L = sp.Add(*[softplus(-alpha * (g[i] - g[j])) for i in pos for j in neg])
    for i in pos:
        assert_same(f"symba l'_{i}", sp.diff(L, g[i]), -alpha * sp.Add(*[sigmoid(alpha * (g[j] - g[i])) for j in neg]))
    for j in neg:
        assert_same(f"symba l'_{j}", sp.diff(L, g[j]), alpha * sp.Add(*[sigmoid(alpha * (g[j] - g[i])) for i in pos]))
    # Against autograd of fftheory's loss and the ff rules' weights.
    loss = LOSSES["symba(alpha=4)"]
    sim, two = ff_rules(loss)
    gen = torch.Generator().manual_seed(17)
    largest = 0.0
    for N in (2, 3, 6):
        G = torch.randn(count, N, dtype=F64, generator=gen).abs() * 3
        positive = torch.rand(count, N, generator=gen) < 0.5
        theta = torch.zeros(count, dtype=F64)
        Gg = G.clone().requires_grad_(True)
        (auto,) = torch.autograd.grad(loss(Gg, positive, theta).sum(), Gg)
        derived = symba_weights(G, positive, 4.0)
        assert_close(f"symba autograd N={N}", derived, auto, rtol=1e-12)
        assert_close(f"symba loss_weights N={N}", derived, loss_weights(sim, G, positive, theta), rtol=1e-12)
        assert_close(f"symba two-step N={N}", derived, loss_weights(two, G, positive, theta), rtol=1e-12)
        largest = max(largest, float(derived.abs().max()))
        # The lemma with these weights: the real simultaneous step moves z by -eta Gram (c * m * 2h), exactly.
        W, X = _random_layer(gen, count, 5, 3, N, nonnegative=False)
        Z, H, M = layer(W, X)
        c = symba_weights((H * H).sum(-1), positive, 4.0)
        Z2 = layer(apply_rule(sim, W, X, eta=0.05, positive=positive), X)[0]
        assert_close(f"symba lemma N={N}", (Z2 - Z).reshape(-1),
                     (-0.05 * gram(X) @ (c[..., None] * M * 2 * H)).reshape(-1), rtol=1e-11)
    passed("symba", f"l'_i = -alpha sum_Neg sigma(alpha(g_j - g_i)) (Pos), +alpha sum_Pos sigma(alpha(g_j - g_i)) (Neg) "
           f"= autograd = loss_weights (both ff rules); lemma step exact; max |l'| {largest:.2f} > 1")


def main() -> None:
    with Timer():
        check_monotone()
        check_radial()
        check_chebyshev()
        check_chebyshev_numeric()
        check_l1_exact()
        check_top_k()
        check_remainder_constants()
        check_remainders()
        check_symba()
        # every catalogue statement is covered by one of the derivations above
        assert {v.goodness.name for v in CATALOGUE.values()} <= set(EXPECTED_PROPERTIES)


if __name__ == "__main__":
    main()
