"""Goodness functions: activations (..., N, n) -> one goodness per point (..., N).

A `Goodness` is a differentiable torch function plus, optionally, a sympy form
so that predictions can also be derived symbolically. The theory core only
needs `sum_of_squares`; the variant catalogue adds more through `register`.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import sympy as sp
from torch import Tensor


@dataclasses.dataclass(frozen=True, kw_only=True)
class Goodness:
    """A named goodness function.

    Attributes:
      name: catalogue / report name.
      fn: torch function, activations (..., n) -> goodness (...).
      phi: optional per-unit sympy form, g(h) = sum_p phi(h_p).
      expr: optional whole-vector sympy form, symbols h_1..h_n -> expression.
      description: one line for listings.
    """

    name: str
    fn: Callable[[Tensor], Tensor]
    phi: Callable[[sp.Expr], sp.Expr] | None = None
    expr: Callable[[Sequence[sp.Symbol]], sp.Expr] | None = None
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


sum_of_squares = Goodness(
    name="sum-of-squares",
    fn=lambda h: h.square().sum(-1),
    phi=lambda t: t**2,
    description="||h||_2^2, the paper's goodness",
)
