"""FF losses: functions of the batch's goodness G (..., N), the positive mask
(..., N) and theta (...,), returning one loss per case (...,).

An FF rule steps on a loss either at once (simultaneous) or in two steps, the
negative points' part first; `negative_part` / `positive_part` build those
parts for any loss by holding the other points' goodness fixed.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch
from torch import Tensor

LossFn = Callable[[Tensor, Tensor, Tensor], Tensor]


def softplus(x: Tensor) -> Tensor:
    """log(1 + e^x), exact: its derivative is sigmoid(x) everywhere.

    torch's F.softplus returns x itself past a threshold (20), whose derivative
    1 differs from sigmoid by e^-20: enough to break float64 identities.
    """
    return torch.logaddexp(x, torch.zeros_like(x))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Loss:
    """A named FF loss. fn(G, positive, theta) -> (...,)."""

    name: str
    fn: LossFn
    description: str = ""

    def __call__(self, G: Tensor, positive: Tensor, theta: Tensor) -> Tensor:
        return self.fn(G, positive, theta)


def _hinton(G: Tensor, positive: Tensor, theta: Tensor) -> Tensor:
    theta = theta[..., None]
    return torch.where(positive, softplus(theta - G), softplus(G - theta)).sum(-1)


hinton = Loss(
    name="hinton",
    fn=_hinton,
    description="sum_Pos softplus(theta - g_i) + sum_Neg softplus(g_j - theta)",
)


def symba(alpha: float = 4.0) -> Loss:
    """SymBa (Lee & Song 2023): every positive point against every negative one,
    sum_{i in Pos, j in Neg} log(1 + exp(-alpha (g_i - g_j))). theta is unused."""

    def fn(G: Tensor, positive: Tensor, theta: Tensor) -> Tensor:
        gap = G[..., :, None] - G[..., None, :]  # g_i - g_j
        pairs = positive[..., :, None] & ~positive[..., None, :]
        return (softplus(-alpha * gap) * pairs).sum((-1, -2))

    return Loss(name=f"symba(alpha={alpha:g})", fn=fn, description="sum_{Pos x Neg} softplus(-alpha (g_i - g_j))")


def negative_part(loss: LossFn) -> LossFn:
    """The loss as a function of the negative points' goodness only (positives held fixed)."""
    return lambda G, positive, theta: loss(torch.where(positive, G.detach(), G), positive, theta)


def positive_part(loss: LossFn) -> LossFn:
    """The loss as a function of the positive points' goodness only (negatives held fixed)."""
    return lambda G, positive, theta: loss(torch.where(positive, G, G.detach()), positive, theta)


LOSSES: dict[str, Loss] = {loss.name: loss for loss in (hinton, symba())}
