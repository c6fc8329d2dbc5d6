"""One rule applied to a batch of cases, with everything the checks compare.

`step_on` computes the forward pass and the rule's W-gradient once and takes
the real step; the rest (closed forms, the JVP prediction, error bounds,
rounding allowances) is computed on first use and cached, so a check pays
only for what it reads. `predict_points` is the same step on one layer, as
plain numbers for `fftheory predict`.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import torch
from torch import Tensor

from ._cases import Case
from ._goodness import Goodness, sum_of_squares
from ._io import InputError, check_scalar, layer_extras, validate_case
from ._model import gram
from ._predict import (
    QUANTITIES,
    Observation,
    autograd_prediction,
    direction_from_gradient,
    error_bound,
    goodness_gradient,
    gradient_norms,
    lemma_gram_direction,
    linear_predictions,
    linear_term_sizes,
    loss_weights,
    observe,
    step_scale,
)
from ._rules import Rule, apply_rule, forward_and_gradient
from ._sparsity import l2
from ._theory import first_order_changes, point_coefficients, term_sizes, u_vectors
from ._tolerance import allowance


def has_closed_form(rule: Rule, goodness: Goodness) -> bool:
    """Whether the paper's closed forms (Theorems 1, 2) cover this rule and goodness."""
    return goodness is sum_of_squares and rule.loss in ("", "hinton")


@dataclasses.dataclass(frozen=True)
class Step:
    """One rule applied to B cases. Shapes: eta (B,); V (B, N, n); dicts map a quantity to (B, N).

    `closed` is the theorem's closed form where one exists (sum of squares with
    Hinton's loss or the batch rules), else the lemma's Gram form with the
    explicit first-order formulas; `autograd` is the JVP along the W-gradient
    step. The two are computed independently. Derived fields are computed on
    first use from the stored ones, so build a Step with `step_on` only.
    """

    rule: Rule
    goodness: Goodness
    X: Tensor
    positive: Tensor
    theta: Tensor
    eta: Tensor
    V: Tensor  # dz per unit eta along the W-gradient (autograd)
    obs: Observation
    goodness_grad: Tensor  # grad g(h) before the step (B, N, n)
    A: Tensor  # Gram matrix of X (B, N, N)

    @functools.cached_property
    def M(self) -> Tensor:
        """Active mask before the step (B, N, n): sign(h) = [h > 0] for h = ReLU(z)."""
        return torch.sign(self.obs.H)

    @functools.cached_property
    def U(self) -> Tensor | None:
        """The theorem's u_k (B, N, n), where a closed form exists."""
        if not has_closed_form(self.rule, self.goodness):
            return None
        G = self.obs.before["goodness"]
        return u_vectors(self.X, self.obs.H, point_coefficients(self.rule, G, self.positive, self.theta), A=self.A)

    @property
    def h_norms(self) -> tuple[Tensor, Tensor]:
        """(||h||_1, ||h||_2) of every point before the step, each (B, N)."""
        return self.obs.before["l1"], self.obs.before["l2"]

    @functools.cached_property
    def dH_gram(self) -> Tensor:
        """First-order activation step from the lemma's Gram form, eta m_k * v_k (B, N, n)."""
        return self.eta[:, None, None] * self.M * self.V_gram

    @functools.cached_property
    def closed(self) -> dict[str, Tensor]:
        if self.U is not None:
            return first_order_changes(self.obs.H, self.U, self.eta, h_norms=self.h_norms)
        return linear_predictions(self.obs.H, self.dH_gram, self.goodness_grad)

    @functools.cached_property
    def sizes(self) -> dict[str, Tensor]:
        """Size of the closed forms' terms, for rounding allowances."""
        if self.U is not None:
            return term_sizes(self.obs.H, self.U, self.eta)
        return linear_term_sizes(self.obs.H, self.dH_gram, self.goodness_grad)

    @functools.cached_property
    def V_gram(self) -> Tensor:
        """The lemma in its Gram form, dz per unit eta (B, N, n); independent of V."""
        return lemma_gram_direction(
            self.rule, self.X, self.obs.H, goodness=self.goodness, positive=self.positive, theta=self.theta
        )

    @functools.cached_property
    def dH_predicted(self) -> Tensor:
        """First-order activation step eta m_k * v_k (B, N, n)."""
        return self.eta[:, None, None] * self.M * self.V

    @functools.cached_property
    def autograd(self) -> dict[str, Tensor]:
        return autograd_prediction(self.obs.H, self.dH_predicted, self.goodness)

    @functools.cached_property
    def grad_norms(self) -> dict[str, Tensor]:
        """||grad q|| of every quantity at every point before the step."""
        return gradient_norms(self.obs.H, self.goodness, goodness_grad=self.goodness_grad, h_norms=self.h_norms)

    @functools.cached_property
    def bound(self) -> dict[str, Tensor]:
        """Bound on |observed - predicted| per quantity (B, N)."""
        return error_bound(self.obs.H, self.obs.H_new - self.obs.H, self.dH_predicted, self.goodness,
                           norms=self.grad_norms, h_norms=self.h_norms)

    @functools.cached_property
    def z_size(self) -> Tensor:
        """max_k ||x_k|| x max_p (||w_p|| + ||w'_p||), (B, 1, 1): rounding errors of z scale with it.

        By Cauchy-Schwarz it bounds every sum_j |x_kj| (|w_pj| + |w'_pj|), the size of the
        terms summed in z_kp before and after the step, at the cost of row norms, not a matmul.
        """
        x = l2(self.X).amax(-1)
        w = (l2(self.obs.W) + l2(self.obs.W_new)).amax(-1)
        return (x * w)[:, None, None]

    def z_rounding(self, tol: str = "rounding") -> Tensor:
        """Allowance for the rounding error of any computed z, (B, 1, 1)."""
        return allowance(self.z_size, tol)

    @functools.cached_property
    def defined(self) -> Tensor:
        """Points with a non-zero activation, where L2 and Hoyer are defined (B, N)."""
        return self.obs.H.abs().sum(-1) > 0

    @functools.cached_property
    def clean(self) -> Tensor:
        """Defined points with no unit crossing zero (B, N)."""
        return ~self.obs.crossed & self.defined


def rounding(step: Step, q: str, tol: str = "rounding") -> Tensor:
    """Rounding allowance for the observed change of q (B, N): the quantity's own
    rounding plus what the rounding of z (per unit) moves it."""
    before, after = step.obs.before[q], step.obs.after[q]
    n = step.obs.H.shape[-1]
    moved = step.grad_norms[q] * math.sqrt(n) * step.z_rounding(tol)[..., 0]
    return allowance(torch.nan_to_num(before.abs() + after.abs()), tol) + torch.nan_to_num(moved)


def step_on(
    rule: Rule,
    W: Tensor,
    X: Tensor,
    positive: Tensor,
    theta: Tensor,
    *,
    goodness: Goodness = sum_of_squares,
    eta: Tensor | None = None,
    eta_fraction: Tensor | float = 0.5,
) -> Step:
    """One step of `rule` on B layers and batches: W (B, n, m), X (B, N, m),
    positive (B, N), theta (B,); eta (B,), or eta_fraction (scalar or (B,)) x
    the reference step `step_scale`."""
    Z, H, G, grad = forward_and_gradient(
        rule.first_order_objective, W, X, goodness=goodness, positive=positive, theta=theta
    )
    V = direction_from_gradient(X, grad)
    goodness_grad = goodness_gradient(H, goodness)
    A = gram(X)
    if eta is None:
        weights = loss_weights(rule, G, positive, theta)
        eta = eta_fraction * step_scale(Z, V, X, goodness, weights, goodness_grad=goodness_grad, A=A)
    if len(rule.stages) == 1:  # the step is W - eta dL/dW with the gradient just taken
        W_new = torch.addcmul(W.detach(), eta[:, None, None], grad, value=-1)  # as apply_rule does
    else:
        W_new = apply_rule(rule, W, X, eta=eta, goodness=goodness, positive=positive, theta=theta)
    obs = observe(W, W_new, X, goodness, forward=(Z, H))
    return Step(rule=rule, goodness=goodness, X=X, positive=positive, theta=theta, eta=eta, V=V, obs=obs,
                goodness_grad=goodness_grad, A=A)


def take_step(
    case: Case,
    rule: Rule,
    *,
    goodness: Goodness = sum_of_squares,
    eta: Tensor | None = None,
    eta_fraction: Tensor | float | None = None,
) -> Step:
    """Apply `rule` to every case at eta (default: the spec's fraction of the reference step)."""
    frac = case.spec.eta_fraction if eta_fraction is None else eta_fraction
    return step_on(rule, case.W, case.X, case.positive, case.theta, goodness=goodness, eta=eta, eta_fraction=frac)


def not_applicable(*, bias: Tensor | None = None, activation: str = "relu") -> list[str]:
    """Why the theory does not cover a layer (empty if it does): it is about h = ReLU(W x), no bias."""
    reasons = []
    if bias is not None and bool((bias != 0).any()):
        reasons.append(f"bias term: {int((bias != 0).sum())} non-zero entries; the theory covers h = ReLU(W x) "
                       "with no bias")
    if activation.lower() != "relu":
        reasons.append(f"activation {activation!r}: the theory covers ReLU only")
    return reasons


def predict_points(
    rule: Rule,
    W: Tensor,
    X: Tensor,
    *,
    eta: float | None = None,
    theta: float = 0.0,
    positive: Tensor | None = None,
    goodness: Goodness = sum_of_squares,
    bias: Tensor | None = None,
    activation: str = "relu",
) -> dict:
    """Predicted (first-order, autograd lemma) and observed changes for every point of one layer.

    Args:
      W: (n, m) float. X: (N, m) float (arrays or tensors, copied to float64; never
        modified). positive: bool (N,) for the ff rules, with both classes present.
      eta: step size; default 0.1 * the reference step `step_scale`.
      bias (n,), activation: the layer's, if it has them; a non-zero bias or an
        activation other than ReLU is outside the theory: "applicable" is false,
        the reasons are listed, and nothing is predicted.
    Returns:
      {"applicable", "not_applicable", "rule", "eta", "theta", "eta_reference",
      "nonnegative_inputs", "points_crossed", "points_undefined", "points":
      [{"index", "predicted", "observed", "bound", "crossed", "undefined"}]}, quantities
      goodness, l1, l2, hoyer; a bound is the rigorous error bound (null where the point
      crossed zero; Infinity for a goodness without a remainder bound); "undefined" lists
      the quantities with no value at the point (Hoyer for n = 1; Hoyer and the L2 change
      where h = 0), and points_undefined counts the points with any.
    """
    W, X, positive = validate_case(dict(W=W, X=X, positive=positive), needs_labels=rule.needs_labels)
    eta = None if eta is None else check_scalar("eta", eta, positive=True)
    theta = check_scalar("theta", theta, positive=False)
    bias, activation = layer_extras(dict(b=bias, activation=activation), W.shape[0])
    head = {"rule": rule.name, "loss": rule.loss or None, "theta": float(theta) if rule.needs_labels else None}
    reasons = not_applicable(bias=bias, activation=activation)
    if reasons:
        return {"applicable": False, "not_applicable": reasons, **head, "points": []}
    if positive is None:
        positive = torch.zeros(X.shape[:-1], dtype=torch.bool)
    theta_t = torch.tensor([float(theta)], dtype=W.dtype)
    args = (rule, W[None], X[None], positive[None], theta_t)
    reference = step_on(*args, goodness=goodness, eta_fraction=1.0).eta
    eta_t = 0.1 * reference if eta is None else torch.tensor([float(eta)], dtype=W.dtype)
    step = step_on(*args, goodness=goodness, eta=eta_t)
    sizes = [step.obs.Z, step.obs.Z_new, step.obs.before["goodness"], step.obs.after["goodness"]]
    if not all(torch.isfinite(t).all() for t in sizes):  # finite input, infinite results: float64 overflowed
        raise InputError(
            f"the layer overflows float64: W up to {float(W.abs().max()):.3g}, X up to {float(X.abs().max()):.3g}, "
            f"eta {float(eta_t):.3g} give non-finite pre-activations or goodness; rescale W or X"
        )

    def number(t: Tensor) -> float | None:
        value = float(t)
        return None if math.isnan(value) else value

    points = []
    for k in range(X.shape[0]):
        crossed = bool(step.obs.crossed[0, k])
        predicted = {q: number(step.autograd[q][0, k]) for q in QUANTITIES}
        observed = {q: number(step.obs.changes[q][0, k]) for q in QUANTITIES}
        bound = None if crossed else {q: number(step.bound[q][0, k]) for q in QUANTITIES}
        points.append(
            {
                "index": k,
                "predicted": predicted,
                "observed": observed,
                "bound": bound,
                "crossed": crossed,
                # Hoyer is undefined for n = 1 and at h = 0, as is the L2 direction (its bound) at h = 0.
                "undefined": [q for q in QUANTITIES if predicted[q] is None or observed[q] is None
                              or (bound is not None and bound[q] is None)],
            }
        )
    return {
        "applicable": True,
        "not_applicable": [],
        **head,
        "eta": float(eta_t),
        "eta_reference": float(reference),
        # Theorem 1's sign statements (1a, 1c, 1d) assume x >= 0; the first-order predictions do not.
        "nonnegative_inputs": bool((X >= 0).all()),
        "points_crossed": int(step.obs.crossed.sum()),
        "points_undefined": sum(bool(p["undefined"]) for p in points),
        "points": points,
    }
