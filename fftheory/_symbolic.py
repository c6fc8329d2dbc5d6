"""Symbolic side of a goodness variant: its gradient by sympy, LaTeX for the
report, and a numeric function of that gradient to cross-check autograd."""

from __future__ import annotations

import dataclasses

import numpy as np
import sympy as sp
import torch
from torch import Tensor

from ._goodness import Goodness


@dataclasses.dataclass(frozen=True)
class SymbolicForm:
    """g and grad g of a variant on n symbolic units, and their LaTeX."""

    n: int
    symbols: tuple[sp.Symbol, ...]
    goodness: sp.Expr
    gradient: tuple[sp.Expr, ...]

    def latex(self) -> dict[str, str]:
        """LaTeX of g, grad g and the first-order predictions (u_k from the lemma)."""
        grad = r"\left(" + r",\; ".join(sp.latex(sp.simplify(d)) for d in self.gradient) + r"\right)"
        return {
            "goodness": f"g(h) = {sp.latex(self.goodness)}",
            "gradient": rf"\nabla g(h) = {grad}",
            "lemma": r"u_k = \sum_i a_{ik}\, l_i'(g_i)\, (m_i \odot \nabla g(h_i)),\quad dh_k = -\eta\, m_k \odot u_k",
            "goodness change": r"dg_k = -\eta\, \langle \nabla g(h_k), m_k \odot u_k \rangle",
            "l1 change": r"d\|h_k\|_1 = -\eta\, \langle m_k, u_k \rangle",
            "l2 change": r"d\|h_k\|_2 = -\eta\, \langle h_k, u_k \rangle / \|h_k\|_2",
            "hoyer change": r"dS_k = \frac{\eta}{(\sqrt{n}-1)\|h_k\|_2}\left(\langle m_k,u_k\rangle"
            r" - \frac{\|h_k\|_1}{\|h_k\|_2^2}\langle h_k,u_k\rangle\right)",
        }

    def gradient_fn(self):
        """Numeric grad g: array (..., n) -> array (..., n)."""
        f = sp.lambdify(self.symbols, list(self.gradient), modules="numpy")

        def grad(h: np.ndarray) -> np.ndarray:
            with np.errstate(invalid="ignore", divide="ignore"):  # e.g. h/||h|| at h = 0: NaN, masked by callers
                values = f(*np.moveaxis(h, -1, 0))
            return np.stack([np.broadcast_to(np.asarray(c, dtype=np.float64), h.shape[:-1]) for c in values], -1)

        return grad


def symbolic_form(goodness: Goodness, n: int) -> SymbolicForm | None:
    """The variant's sympy form on n positive unit symbols, or None if it has none."""
    hs = sp.symbols(f"h1:{n + 1}", positive=True)
    g = goodness.sympy_form(hs)
    if g is None:
        return None
    return SymbolicForm(n=n, symbols=tuple(hs), goodness=g, gradient=tuple(sp.diff(g, h) for h in hs))


def symbolic_gradient(goodness: Goodness, H: Tensor) -> Tensor | None:
    """grad g at H (..., N, n) from the sympy form (None without one)."""
    form = symbolic_form(goodness, H.shape[-1])
    if form is None:
        return None
    return torch.from_numpy(form.gradient_fn()(H.detach().numpy()).copy())
