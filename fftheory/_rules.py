"""Update rules: one gradient step (or a sequence of them) on a layer's weights.

A rule is a tuple of objectives, each a scalar function of the batch's
goodness; the step applies W <- W - eta * dL/dW for each objective in turn.
Objectives take G (..., N), the positive mask (..., N) and theta (...,) and
return one loss per case (...,), so independent cases share one call.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch
from torch import Tensor

from ._goodness import Goodness, sum_of_squares
from ._losses import Loss, hinton, negative_part, positive_part
from ._model import forward

Objective = Callable[[Tensor, Tensor, Tensor], Tensor]


def batch_goodness(G: Tensor, positive: Tensor, theta: Tensor) -> Tensor:
    """L = sum_i g_i (labels and theta unused)."""
    return G.sum(-1)


def negated_batch_goodness(G: Tensor, positive: Tensor, theta: Tensor) -> Tensor:
    """L = -sum_i g_i: descending it raises the batch goodness."""
    return -G.sum(-1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Rule:
    """An update rule.

    Attributes:
      name: CLI / report name.
      stages: objectives stepped on in order (one for a simultaneous step).
      needs_labels: whether the rule reads the positive mask and theta.
      loss: the FF loss's name, for the ff rules.
    """

    name: str
    stages: tuple[Objective, ...]
    needs_labels: bool

    loss: str = ""

    def first_order_objective(self, G: Tensor, positive: Tensor, theta: Tensor) -> Tensor:
        """The objective whose single step agrees with this rule to first order in eta.

        For a two-step rule the parts' gradients add up to the whole loss's.
        """
        return sum(stage(G, positive, theta) for stage in self.stages)


def ff_rules(loss: Loss) -> tuple[Rule, Rule]:
    """The simultaneous and two-step FF rules for `loss` (Hinton's keeps the plain names)."""
    suffix = "" if loss is hinton else f"[{loss.name}]"
    return (
        Rule(name=f"ff-simultaneous{suffix}", stages=(loss.fn,), needs_labels=True, loss=loss.name),
        Rule(
            name=f"ff-two-step{suffix}",
            stages=(negative_part(loss.fn), positive_part(loss.fn)),
            needs_labels=True,
            loss=loss.name,
        ),
    )


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule(name="batch-decrease", stages=(batch_goodness,), needs_labels=False),
        Rule(name="batch-increase", stages=(negated_batch_goodness,), needs_labels=False),
        *ff_rules(hinton),
    )
}


def _as_case_scalar(value: Tensor | float, like: Tensor) -> Tensor:
    """Broadcast a python or per-case scalar to shape (...,) of `like`'s cases."""
    return torch.as_tensor(value, dtype=like.dtype).expand(like.shape[:-2])


def weight_gradient(
    objective: Objective, W: Tensor, X: Tensor, *, goodness: Goodness, positive: Tensor, theta: Tensor
) -> Tensor:
    """dL/dW for every case, shape (..., n, m); cases are independent."""
    return forward_and_gradient(objective, W, X, goodness=goodness, positive=positive, theta=theta)[-1]


def forward_and_gradient(
    objective: Objective, W: Tensor, X: Tensor, *, goodness: Goodness, positive: Tensor, theta: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The forward pass Z, H (..., N, n), G (..., N) at W, and dL/dW (..., n, m), by autograd
    through that same forward pass (so a step computes it once)."""
    W = W.detach().requires_grad_(True)
    Z, H = forward(W, X)
    G = goodness(H)
    (grad,) = torch.autograd.grad(objective(G, positive, theta).sum(), W)
    return Z.detach(), H.detach(), G.detach(), grad


def apply_rule(
    rule: Rule,
    W: Tensor,
    X: Tensor,
    *,
    eta: Tensor | float,
    goodness: Goodness = sum_of_squares,
    positive: Tensor | None = None,
    theta: Tensor | float = 0.0,
) -> Tensor:
    """The updated weights after one application of `rule`.

    Args:
      W: (..., n, m). X: (..., N, m). eta: step size, scalar or per case (...,).
      positive: bool (..., N), required by the ff rules. theta: scalar or (...,).

    Returns:
      W' of shape (..., n, m), detached.
    """
    if positive is None:
        if rule.needs_labels:
            raise ValueError(f"rule {rule.name!r} needs a positive mask")
        positive = torch.zeros(X.shape[:-1], dtype=torch.bool)
    eta_t = _as_case_scalar(eta, W)[..., None, None]
    theta_t = _as_case_scalar(theta, W)
    W = W.detach()
    for stage in rule.stages:
        grad = weight_gradient(stage, W, X, goodness=goodness, positive=positive, theta=theta_t)
        W = torch.addcmul(W, eta_t, grad, value=-1)  # W - eta grad in one pass
    return W
