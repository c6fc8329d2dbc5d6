"""Check a goodness variant against the theory: build its claim table, run it.

Rows, for a variant with goodness g and FF loss L:
  general   per rule: first-order (lemma, Gram form = autograd JVP, error
            bound, signs beyond it) and Taylor rate; symbolic gradient and
            predictions = autograd (when a sympy form is given); whether g is
            differentiable at the drawn points (cases with ties included).
  derived   claims that follow from properties detected on a fixed probe set:
            monotone in every unit (Theorem 1d/1g generalised), radial
            (grad g || h: a lone point's sparsity is unchanged), and grad g / h
            anti- or co-monotone with h (Chebyshev: a lone point's sparsity
            rises / falls to first order).
  declared  the variant's own statements.
"""

from __future__ import annotations

import dataclasses
import math
import time

import torch

from . import _checks as C
from ._cases import Case
from ._claims import ANY_INPUTS, ANY_STEP, Claim
from ._goodness import GOODNESS, Goodness, VariantError, guarded
from ._harness import MIN_CASES, Verdict, run_claim
from ._model import gram, layer
from ._predict import goodness_gradient, linear_predictions, loss_weights
from ._profiles import Profile, get_profile
from ._regressions import VARIANT_REGRESSIONS
from ._rules import Rule
from ._step import rounding, take_step
from ._symbolic import symbolic_form, symbolic_gradient
from ._tolerance import allowance, compare
from ._variants import Statement, Variant, as_variant


def validate_goodness(goodness: Goodness) -> None:
    """Call the goodness on a small float64 batch; raise VariantError naming the problem."""
    H = torch.tensor([[0.5, 1.0, 0.0], [2.0, 0.25, 1.5]], dtype=torch.float64)
    try:
        G = goodness(H)
    except Exception as exc:
        raise VariantError(f"goodness {goodness.name!r} raised {type(exc).__name__}: {exc} on a (2, 3) batch") from exc
    if not isinstance(G, torch.Tensor) or G.shape != (2,):
        shape = tuple(G.shape) if isinstance(G, torch.Tensor) else type(G).__name__
        raise VariantError(f"goodness {goodness.name!r} returned {shape} for a (2, 3) batch; expected shape (2,)")
    if not torch.isfinite(G).all():
        raise VariantError(f"goodness {goodness.name!r} returned non-finite values {G.tolist()}")
    try:
        grad = goodness_gradient(H, goodness)
    except Exception as exc:
        raise VariantError(f"goodness {goodness.name!r} is not differentiable by torch autograd: {exc}") from exc
    if not torch.isfinite(grad).all():
        raise VariantError(f"goodness {goodness.name!r} has a non-finite gradient at {H.tolist()}")


# --------------------------------------------------------------------------- properties

@dataclasses.dataclass(frozen=True)
class Properties:
    """Shape properties of grad g on non-negative activations (active units only)."""

    nondecreasing: bool  # grad g >= 0
    nonincreasing: bool  # grad g <= 0
    radial: bool  # grad g = c(h) h
    sublinear: bool  # r = grad g / h non-increasing in h (not radial)
    superlinear: bool  # r non-decreasing in h (not radial)


def detect_properties(goodness: Goodness, *, samples: int = 256, seed: int = 0) -> Properties:
    """Detect the properties on a fixed probe set of non-negative activations.

    A detection is a hypothesis about g, not a proof: each derived claim it
    adds is then checked like any other, so a wrong detection shows as a failure.
    """
    gen = torch.Generator().manual_seed(seed)
    flags = dict(nondecreasing=True, nonincreasing=True, radial=True, sublinear=True, superlinear=True)
    for n in (2, 3, 5, 8):
        H = 0.05 + 2.95 * torch.rand(samples, n, generator=gen, dtype=torch.float64)
        H = H * (torch.rand(samples, n, generator=gen) > 0.3)
        H[:, 0] = H[:, 0].clamp_min(0.05)  # at least one active unit
        grad, active = goodness_gradient(H, goodness), H > 0
        tol = 1e-9 * grad.abs().amax() + 1e-12
        flags["nondecreasing"] &= bool((grad[active] >= -tol).all())
        flags["nonincreasing"] &= bool((grad[active] <= tol).all())
        r = torch.where(active, grad / H.clamp_min(1e-300), torch.nan)
        r_tol = 1e-9 * r.nan_to_num(0).abs().amax() + 1e-12
        spread = r.nan_to_num(-math.inf).amax(-1) - r.nan_to_num(math.inf).amin(-1)
        flags["radial"] &= bool((spread <= r_tol).all())
        pair = active[:, :, None] & active[:, None, :] & (H[:, :, None] < H[:, None, :])
        rp, rq = r[:, :, None], r[:, None, :]
        flags["sublinear"] &= bool(((rp >= rq - r_tol) | ~pair).all())
        flags["superlinear"] &= bool(((rp <= rq + r_tol) | ~pair).all())
    if flags["radial"]:
        flags["sublinear"] = flags["superlinear"] = False
    return Properties(**flags)


# --------------------------------------------------------------------------- row checks

def symbolic_agreement(rule: Rule, goodness: Goodness):
    """grad g from the sympy form equals autograd's on active units, and the first-order
    predictions built from it (Gram form) equal the autograd JVP predictions."""

    def check(case: Case) -> C.Outcomes:
        step = take_step(case, rule, goodness=goodness)
        H, M = step.obs.H, (step.obs.H > 0).to(step.obs.H.dtype)
        grad_sym = symbolic_gradient(goodness, H)
        grad_auto = goodness_gradient(H, goodness)
        grad_sym = torch.where(M > 0, grad_sym, 0.0)  # inactive units are masked out (0/0 at h = 0)
        grads = compare(grad_sym, M * grad_auto, tol="identity", point_dims=2)
        c = loss_weights(rule, goodness(H), case.positive, case.theta)
        dH = -step.eta[:, None, None] * M * (gram(case.X) @ (c[..., None] * M * grad_sym))
        predicted = linear_predictions(H, dH, grad_sym)
        parts = [C.from_points(grads.margin, torch.ones_like(grads.margin, dtype=torch.bool), detail=grads.describe())]
        for q in predicted:
            cmp = compare(predicted[q], step.autograd[q], tol="identity", floor=allowance(step.sizes[q], "identity"))
            parts.append(C.from_points(cmp.margin, step.defined, detail=f"{q}: {cmp.describe()}"))
        return C.combine(*parts)

    return check


def differentiable(rule: Rule, goodness: Goodness):
    """g is differentiable along the real step at every drawn point: the one-sided
    difference quotients of g along dh agree (a kink or a top-k tie makes them differ)."""

    def check(case: Case) -> C.Outcomes:
        step = take_step(case, rule, goodness=goodness)
        H = step.obs.H
        d = (H > 0).to(H.dtype) * step.V
        d_norm = d.norm(dim=-1, keepdim=True)
        eps = 1e-6 * H.norm(dim=-1, keepdim=True) / d_norm.clamp_min(1e-300)
        g0 = goodness(H)
        forward = (goodness(H + eps * d) - g0) / eps[..., 0]
        backward = (g0 - goodness(H - eps * d)) / eps[..., 0]
        # A kink makes the quotients differ by a fraction of |grad g| |d|; a smooth g by eps |d' g'' d|
        # (~1e-6 of it). Scaling by |grad g . d| instead failed smooth g where that product cancels.
        scale = forward.abs() + backward.abs() + ((H > 0) * step.goodness_grad).norm(dim=-1) * d_norm[..., 0]
        allowed = 1e-3 * scale + 1e-9 * g0.abs() / eps[..., 0] * 1e-6
        margin = 1 - (forward - backward).abs() / allowed.clamp_min(1e-300)
        usable = step.defined & (d_norm[..., 0] > 0)
        return C.from_points(margin, usable)

    return check


def hoyer_first_order(rule: Rule, goodness: Goodness, *, sign: int):
    """Derived from `sign`-linear gradients: a lone point's Hoyer sparsity moves by `sign`
    to first order, and the real step stays within its error bound of that."""

    def check(case: Case) -> C.Outcomes:
        step = take_step(case, rule, goodness=goodness)
        pred, obs = step.closed["hoyer"], step.obs.changes["hoyer"]
        first = 1 + sign * pred / allowance(step.sizes["hoyer"], "identity")
        real = 1 + sign * obs / (step.bound["hoyer"] + rounding(step, "hoyer"))
        margin = torch.minimum(first.clamp(max=1), real.clamp(max=1))
        return C.from_points(margin, step.clean & torch.isfinite(step.bound["hoyer"]))

    return check


def statement_check(statement: Statement, rule: Rule, goodness: Goodness):
    """Observed changes after one real step, judged against a declared statement."""
    sign = {"increases": +1, "decreases": -1, "unchanged": 0}[statement.direction]

    def check(case: Case) -> C.Outcomes:
        step = take_step(case, rule, goodness=goodness)
        obs = step.obs
        if statement.order == "first":
            q = statement.quantity
            change, allowed = step.closed[q], allowance(step.sizes[q], "identity")
            valid = step.defined & ~torch.isnan(change)
        elif statement.quantity == "active-count":
            change, allowed = obs.active_change, torch.full_like(obs.active_change, 0.5)
            valid = torch.ones_like(step.defined)
        else:
            change, allowed = obs.changes[statement.quantity], rounding(step, statement.quantity)
            after = obs.after[statement.quantity]
            valid = step.defined & ~torch.isnan(change) & ~torch.isnan(after)
            if sign == 0:
                before = obs.before[statement.quantity].abs()
                allowed = allowed + allowance(torch.nan_to_num(before), "unchanged")
        if statement.step == "small":
            valid &= ~obs.crossed
        if statement.subject == "positive-points":
            valid &= case.positive
        elif statement.subject == "negative-points":
            valid &= ~case.positive
        if statement.subject == "batch-mean":
            count = valid.sum(-1)
            change = torch.where(valid, change, 0.0).sum(-1, keepdim=True) / count.clamp_min(1)[:, None]
            allowed = torch.where(valid, allowed, 0.0).sum(-1, keepdim=True) / count.clamp_min(1)[:, None]
            valid = (count > 0)[:, None]
        if sign == 0:
            margin = 1 - change.abs() / allowed
        else:
            margin = 1 - (-sign * change).clamp_min(0) / allowed
        return C.from_points(margin, valid)

    return check


# --------------------------------------------------------------------------- the table

def with_theta(goodness: Goodness):
    """Set theta from the variant's own goodness (theta_scale x the batch median)."""

    def prepare(case: Case) -> Case:
        _, H, _ = layer(case.W, case.X)
        return dataclasses.replace(case, theta=case.spec.theta_scale * goodness(H).median(-1).values)

    return prepare


def variant_claims(variant: Variant, properties: Properties | None = None) -> list[tuple[str, Claim]]:
    """The claim table for `variant`: (kind, claim) pairs, kind general / derived / declared."""
    g = variant.goodness
    properties = properties or detect_properties(g)
    rules = variant.rules()
    prepare = with_theta(g)
    rows: list[tuple[str, Claim]] = []

    def add(kind: str, id: str, statement: str, check, specs: dict, rule: str = "batch-decrease", **kw) -> None:
        claim = Claim(id=id, statement=statement, check=check, specs=specs, prepare=prepare, rule=rule,
                      examples=VARIANT_REGRESSIONS.get(id, ()), **kw)
        rows.append((kind, claim))

    has_form = symbolic_form(g, 2) is not None
    for name, rule in rules.items():
        specs = dict(ANY_INPUTS, labels=rule.needs_labels)
        add("general", f"{name}.first-order", f"{rule.name}: lemma, Gram form = autograd JVP, error bound, signs",
            C.first_order(rule, g), specs, rule=name)
        add("general", f"{name}.taylor", f"{rule.name}: |observed - predicted| = O(eta^2)", C.taylor_rate(rule, g),
            specs, rule=name)
        if has_form:
            add("general", f"{name}.symbolic", f"{rule.name}: sympy gradient and predictions = autograd",
                symbolic_agreement(rule, g), specs, rule=name)
    dec, inc = rules["batch-decrease"], rules["batch-increase"]
    add("general", "differentiable", "g is differentiable along the step at every drawn point (ties drawn too)",
        differentiable(dec, g), dict(ANY_INPUTS, designs=("designed",), quantize=(0.25,)),
        failure_status="not differentiable")

    nonneg_any_step = dict(inputs=("nonnegative",), designs=("designed", "gaussian"), eta_fraction=ANY_STEP)
    single = dict(inputs=("nonnegative", "signed"), designs=("designed", "gaussian"), points=(1, 1))
    if properties.nondecreasing:
        add("derived", "monotone.batch-decrease", "grad g >= 0, non-negative inputs, any eta: every z, goodness, "
            "L1, L2 weakly fall; no unit turns on", C.monotone(dec, sign=-1, goodness=g), nonneg_any_step)
        add("derived", "monotone.batch-increase", "grad g >= 0, non-negative inputs, any eta: every z, goodness, "
            "L1, L2 weakly rise; no unit turns off", C.monotone(inc, sign=+1, goodness=g), nonneg_any_step,
            rule="batch-increase")
    if properties.nonincreasing:
        add("derived", "monotone.batch-decrease", "grad g <= 0, non-negative inputs, any eta: every z, L1, L2 "
            "weakly rise, goodness weakly falls", C.monotone(dec, sign=+1, goodness=g, goodness_sign=-1),
            nonneg_any_step)
        add("derived", "monotone.batch-increase", "grad g <= 0, non-negative inputs, any eta: every z, L1, L2 "
            "weakly fall, goodness weakly rises", C.monotone(inc, sign=-1, goodness=g, goodness_sign=+1),
            nonneg_any_step, rule="batch-increase")
    if properties.radial:
        unchanged = Statement(rule="batch-decrease", quantity="hoyer", direction="unchanged", points=(1, 1), inputs="any")
        add("derived", "radial.single-point", "grad g || h: a lone point's Hoyer sparsity is unchanged by batch-decrease",
            statement_check(unchanged, dec, g), single)
    for flag, sign, word in ((properties.sublinear, +1, "rises"), (properties.superlinear, -1, "falls")):
        if flag:
            add("derived", "chebyshev.single-point",
                f"grad g / h {'anti' if sign > 0 else 'co'}-monotone with h: a lone point's Hoyer sparsity "
                f"{word} under batch-decrease (first order, and the real step within its bound)",
                hoyer_first_order(dec, g, sign=sign), single)

    for i, s in enumerate(variant.statements, 1):
        specs = dict(
            inputs=("nonnegative",) if s.inputs == "nonnegative" else ("nonnegative", "signed"),
            designs=("designed", "gaussian"),
            points=s.points,
            labels=rules[s.rule].needs_labels or s.subject in ("positive-points", "negative-points"),
            eta_fraction=(0.01, 0.9) if s.step == "small" else ANY_STEP,
        )
        add("declared", f"declared.{i}", s.describe(), statement_check(s, rules[s.rule], g), specs, rule=s.rule)
    return rows


@dataclasses.dataclass
class VariantReport:
    """Verdicts for one variant. `rows` pairs each verdict with its kind."""

    variant: str
    description: str
    loss: str
    profile: str
    min_cases: int
    properties: Properties
    latex: dict[str, str] | None
    rows: list[tuple[str, Verdict]]
    seconds: float
    seed: int | None = None

    @property
    def failed(self) -> list[Verdict]:
        return [v for _, v in self.rows if v.status in ("fails", "undecided")]

    @property
    def exit_code(self) -> int:
        """0 when every row holds or reports non-differentiability; 1 when one fails or is undecided."""
        return 1 if self.failed else 0

    def to_json(self) -> dict:
        return {
            "variant": self.variant,
            "description": self.description,
            "loss": self.loss,
            "profile": self.profile,
            "min_cases": self.min_cases,
            "seed": self.seed,
            "seconds": self.seconds,
            "properties": dataclasses.asdict(self.properties),
            "latex": self.latex,
            "claims": [dict(v.to_json(), kind=kind) for kind, v in self.rows],
        }


def check_variant(
    target,
    *,
    profile: str | Profile = "ci",
    min_cases: int = MIN_CASES,
    seed: int | None = None,
    kinds: tuple[str, ...] = ("general", "derived", "declared"),
) -> VariantReport:
    """Check a goodness variant against the theory.

    Args:
      target: a Variant, Goodness, Loss, or callable h (..., n) -> (...).
      profile: "quick", "ci", "thorough" or a Profile.
      min_cases: applicable cases a row needs before it can hold.
      seed: hypothesis seed for random profiles.
      kinds: which rows to run.
    Returns:
      A VariantReport; `report.exit_code` is 0 when nothing failed or was undecided.
    Raises:
      VariantError: the goodness raises, has the wrong shape or is non-finite, on a
        plain batch or on any drawn case (the message names the claim and case).
    """
    prof = get_profile(profile)
    variant = as_variant(target)
    validate_goodness(variant.goodness)
    if not any(variant.goodness is g for g in GOODNESS.values()):  # the catalogue's are trusted
        variant = dataclasses.replace(variant, goodness=guarded(variant.goodness))
    start = time.perf_counter()
    try:
        properties = detect_properties(variant.goodness)
    except VariantError as exc:
        raise VariantError(f"{exc}; on the property probe set (activations in [0.05, 3])") from exc.__cause__
    form = symbolic_form(variant.goodness, 3)
    rows = [
        (kind, run_claim(claim, profile=prof, min_cases=min_cases, seed=seed))
        for kind, claim in variant_claims(variant, properties)
        if kind in kinds
    ]
    return VariantReport(
        variant=variant.name,
        description=variant.description or variant.goodness.description,
        loss=variant.loss.name,
        profile=prof.name,
        min_cases=min_cases,
        properties=properties,
        latex=form.latex() if form else None,
        rows=rows,
        seconds=time.perf_counter() - start,
        seed=seed,
    )
