"""Goodness functions: activations (..., N, n) -> one goodness per point (..., N).

A `Goodness` is a differentiable torch function plus, optionally, a sympy form
(so predictions can also be derived symbolically) and a rigorous bound on its
second-order remainder (so signs of its change can be decided). The catalogue
`GOODNESS` holds the built-in ones; `sum_of_squares` is the paper's.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import sympy as sp
import torch
from torch import Tensor

Remainder = Callable[[Tensor, Tensor], Tensor]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Goodness:
    """A named goodness function.

    Attributes:
      name: catalogue / report name.
      fn: torch function, activations (..., n) -> goodness (...).
      phi: optional per-unit sympy form, g(h) = sum_p phi(h_p).
      expr: optional whole-vector sympy form, symbols h_1..h_n -> expression.
      remainder: optional rigorous bound on |g(h + d) - g(h) - grad g(h) . d|
        for a step d that crosses no zero: (H, dH) -> (...,). Without one, the
        sign of the goodness change is never decided (it stays undecided).
      description: one line for listings.
    """

    name: str
    fn: Callable[[Tensor], Tensor]
    phi: Callable[[sp.Expr], sp.Expr] | None = None
    expr: Callable[[Sequence[sp.Symbol]], sp.Expr] | None = None
    remainder: Remainder | None = None
    description: str = ""

    def __call__(self, h: Tensor) -> Tensor:
        return self.fn(h)

    def sympy_form(self, hs: Sequence[sp.Symbol]) -> sp.Expr | None:
        """The goodness of symbols hs as a sympy expression, if a form is known."""
        if self.expr is not None:
            return self.expr(hs)
        if self.phi is not None:
            return sp.Add(*[self.phi(h) for h in hs])
        return None


class VariantError(ValueError):
    """A goodness under test misbehaves: it raises, returns the wrong shape or non-finite values."""


def guarded(goodness: Goodness) -> Goodness:
    """The same goodness with every call checked, so a variant that misbehaves only on
    some drawn activations raises VariantError naming it and the activations."""
    fn, name = goodness.fn, goodness.name

    def checked(h: Tensor) -> Tensor:
        try:
            g = fn(h)
        except VariantError:
            raise
        except Exception as exc:
            raise VariantError(f"goodness {name!r} raised {type(exc).__name__}: {exc} "
                               f"on activations of shape {tuple(h.shape)}") from exc
        if not isinstance(g, Tensor) or g.shape != h.shape[:-1]:
            got = tuple(g.shape) if isinstance(g, Tensor) else type(g).__name__
            raise VariantError(f"goodness {name!r} returned {got} for activations of shape {tuple(h.shape)}; "
                               f"expected {tuple(h.shape[:-1])}")
        bad = ~torch.isfinite(g)
        if bad.any():
            index = tuple(torch.nonzero(bad)[0].tolist())
            raise VariantError(f"goodness {name!r} returned {float(g.detach()[index])} at h = {h.detach()[index].tolist()} "
                               f"({int(bad.sum())} of {bad.numel()} points non-finite)")
        return g

    return dataclasses.replace(goodness, fn=checked)


def _norm(t: Tensor) -> Tensor:
    return torch.linalg.vector_norm(t, dim=-1)


def _sq(H: Tensor, dH: Tensor) -> Tensor:
    return _norm(dH) ** 2


def _l2_remainder(H: Tensor, dH: Tensor) -> Tensor:
    rho = _norm(H) - _norm(dH)
    return torch.where(rho > 0, _norm(dH) ** 2 / (2 * rho), torch.inf)


def top_k_sum_of_squares(k: int) -> Goodness:
    """Sum of squares of the k largest activations (not differentiable at ties)."""
    return Goodness(
        name=f"top-{k}-sum-of-squares",
        fn=lambda h: h.topk(min(k, h.shape[-1]), dim=-1).values.square().sum(-1),
        description=f"sum of squares of the {k} largest activations",
    )


sum_of_squares = Goodness(
    name="sum-of-squares",
    fn=lambda h: h.square().sum(-1),
    phi=lambda t: t**2,
    remainder=_sq,
    description="||h||_2^2, the paper's goodness",
)

GOODNESS: dict[str, Goodness] = {
    g.name: g
    for g in (
        sum_of_squares,
        Goodness(
            name="mean-of-squares",
            fn=lambda h: h.square().mean(-1),
            expr=lambda hs: sp.Add(*[h**2 for h in hs]) / len(hs),
            remainder=lambda H, dH: _norm(dH) ** 2 / H.shape[-1],
            description="||h||_2^2 / n",
        ),
        Goodness(
            name="l2-norm",
            fn=_norm,
            expr=lambda hs: sp.sqrt(sp.Add(*[h**2 for h in hs])),
            remainder=_l2_remainder,
            description="||h||_2, unsquared (Tosato et al.)",
        ),
        Goodness(
            name="negative-sum-of-squares",
            fn=lambda h: -h.square().sum(-1),
            phi=lambda t: -(t**2),
            remainder=_sq,
            description="-||h||_2^2 (Hinton's alternative: positive data low)",
        ),
        Goodness(
            name="l1",
            fn=lambda h: h.sum(-1),
            phi=lambda t: t,
            remainder=lambda H, dH: torch.zeros(H.shape[:-1], dtype=H.dtype),  # linear
            description="sum of activations",
        ),
        top_k_sum_of_squares(2),
        Goodness(
            name="softplus-sum",
            fn=lambda h: torch.logaddexp(h, torch.zeros_like(h)).sum(-1),
            phi=lambda t: sp.log(1 + sp.exp(t)),
            remainder=lambda H, dH: _norm(dH) ** 2 / 8,  # phi'' = s(1 - s) <= 1/4
            description="sum_p log(1 + exp(h_p))",
        ),
        Goodness(
            name="log-sum-exp",
            fn=lambda h: torch.logsumexp(h, dim=-1),
            expr=lambda hs: sp.log(sp.Add(*[sp.exp(h) for h in hs])),
            remainder=lambda H, dH: _norm(dH) ** 2 / 4,  # Hessian diag(p) - p p^T has norm <= 1/2
            description="log sum_p exp(h_p)",
        ),
    )
}

