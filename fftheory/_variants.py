"""Goodness variants: what a user brings, the statements they declare, the
built-in catalogue, and loading a target by name or `module:attr`.

A variant is a goodness (and, for the ff rules, an FF loss) plus declared
statements. Every catalogue statement below is true; its `why` gives the
derivation (see proofs/variants.md), and the tests assert it holds.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
from typing import Literal

from ._goodness import GOODNESS, Goodness, sum_of_squares
from ._losses import LOSSES, Loss, hinton
from ._predict import QUANTITIES
from ._rules import RULES, Rule, ff_rules

SUBJECTS = ("every-point", "positive-points", "negative-points", "batch-mean")
DIRECTIONS = ("increases", "decreases", "unchanged")
STATEMENT_QUANTITIES = (*QUANTITIES, "active-count")


class TargetError(ValueError):
    """A variant target that cannot be loaded or is not a variant."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Statement:
    """A declared claim about observed changes after one real step.

    Attributes:
      rule: batch-decrease, batch-increase, ff-simultaneous or ff-two-step.
      quantity: goodness, l1, l2, hoyer or active-count.
      subject: every-point, positive-points, negative-points or batch-mean.
      direction: increases / decreases (weakly: never moves the other way
        beyond rounding) or unchanged (up to rounding).
      inputs: "nonnegative" or "any" (signed inputs allowed).
      points: inclusive range of batch sizes N (points=(1, 1): a single point).
      step: "small" (a fraction of the no-crossing bound; points where a unit
        crosses zero anyway are not applicable) or "any" (up to 20 times it).
      order: "observed" judges the real change; "first" the first-order
        prediction (for statements true only in the limit of small steps).
      why: the derivation or reason, for the report.
    """

    rule: str
    quantity: str
    direction: str
    subject: str = "every-point"
    inputs: Literal["nonnegative", "any"] = "nonnegative"
    points: tuple[int, int] = (1, 6)
    step: Literal["small", "any"] = "small"
    order: Literal["observed", "first"] = "observed"
    why: str = ""

    def __post_init__(self) -> None:
        for field, value, allowed in (
            ("rule", self.rule, tuple(RULES)),
            ("quantity", self.quantity, STATEMENT_QUANTITIES),
            ("subject", self.subject, SUBJECTS),
            ("direction", self.direction, DIRECTIONS),
            ("inputs", self.inputs, ("nonnegative", "any")),
            ("step", self.step, ("small", "any")),
            ("order", self.order, ("observed", "first")),
        ):
            if value not in allowed:
                raise ValueError(f"Statement {field}={value!r} is not one of {allowed}")
        lo, hi = self.points
        if not 1 <= lo <= hi:
            raise ValueError(f"Statement points={self.points} must satisfy 1 <= lo <= hi")
        if self.subject in ("positive-points", "negative-points") and lo < 2:
            raise ValueError("positive/negative subjects need batches of at least 2 points")
        if self.order == "first" and self.quantity == "active-count":
            raise ValueError("active-count has no first-order change; use order='observed'")

    def describe(self) -> str:
        where = "a single point" if self.points == (1, 1) else f"N in {list(self.points)}"
        order = ", to first order" if self.order == "first" else ""
        return (
            f"{self.rule}: {self.quantity} {self.direction} for {self.subject.replace('-', ' ')} "
            f"({self.inputs} inputs, {where}, {self.step} steps{order})"
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Variant:
    """A goodness function with an FF loss and declared statements."""

    goodness: Goodness
    loss: Loss = hinton
    statements: tuple[Statement, ...] = ()
    name: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            suffix = "" if self.loss is hinton else f" + {self.loss.name}"
            object.__setattr__(self, "name", self.goodness.name + suffix)

    def rules(self) -> dict[str, Rule]:
        """The four rules with this variant's FF loss, keyed by their generic names."""
        sim, two = ff_rules(self.loss)
        return {"batch-decrease": RULES["batch-decrease"], "batch-increase": RULES["batch-increase"],
                "ff-simultaneous": sim, "ff-two-step": two}


def as_variant(obj, *, name: str | None = None) -> Variant:
    """A Variant from a Variant, a Goodness, a Loss, or a plain callable h (..., n) -> (...)."""
    if isinstance(obj, Variant):
        return obj
    if isinstance(obj, Goodness):
        return Variant(goodness=obj)
    if isinstance(obj, Loss):
        return Variant(goodness=sum_of_squares, loss=obj)
    if callable(obj):
        label = name or getattr(obj, "__name__", "user-goodness")
        return Variant(goodness=Goodness(name=label, fn=obj, description=f"user callable {label}"))
    raise TargetError(f"{obj!r} is not a variant: expected a Variant, Goodness, Loss or callable")


def load_target(target: str) -> Variant:
    """A catalogue name, or `module:attr` naming a Variant, Goodness, Loss or callable."""
    if target in CATALOGUE:
        return CATALOGUE[target]
    if ":" not in target:
        raise TargetError(f"unknown variant {target!r}: not in the catalogue ({', '.join(CATALOGUE)}) and not module:attr")
    module_name, _, attr = target.partition(":")
    if os.getcwd() not in sys.path:  # as `python -m` would: a module in the working directory is found
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # any import-time failure (sys.exit too) is the target's
        raise TargetError(f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}") from exc
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise TargetError(f"module {module_name!r} has no attribute {attr!r}") from None
    return as_variant(obj, name=attr)


def _single(rule: str, quantity: str, direction: str, why: str, **kw) -> Statement:
    return Statement(rule=rule, quantity=quantity, direction=direction, points=(1, 1), inputs="any", why=why, **kw)


_RADIAL = "grad g is parallel to h: a single point's step scales h, so its Hoyer sparsity is unchanged"
_MONOTONE = "grad g >= 0 and non-negative inputs: every z falls, so h falls unit-wise and g with it (any step)"

CATALOGUE: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(
            goodness=sum_of_squares,
            statements=(
                _single("batch-decrease", "hoyer", "unchanged", "Theorem 1e: " + _RADIAL),
                Statement(rule="batch-decrease", quantity="goodness", direction="decreases", step="any", why="Theorem 1d"),
            ),
        ),
        Variant(
            goodness=GOODNESS["mean-of-squares"],
            statements=(_single("batch-decrease", "hoyer", "unchanged", _RADIAL),),
        ),
        Variant(
            goodness=GOODNESS["l2-norm"],
            statements=(_single("batch-decrease", "hoyer", "unchanged", _RADIAL),),
        ),
        Variant(
            goodness=GOODNESS["negative-sum-of-squares"],
            statements=(
                _single("batch-decrease", "hoyer", "unchanged", _RADIAL),
                Statement(rule="batch-decrease", quantity="l1", direction="increases", step="any",
                          why="grad g <= 0: lowering g raises every z (non-negative inputs)"),
                Statement(rule="batch-decrease", quantity="goodness", direction="decreases", step="any",
                          why="h rises unit-wise and g falls in every unit"),
            ),
        ),
        Variant(
            goodness=GOODNESS["l1"],
            statements=(
                _single("batch-decrease", "hoyer", "increases",
                        "grad g = m: every active unit of a lone point drops by the same amount, which lowers "
                        "||h||_1/||h||_2 (Cauchy-Schwarz), exactly along the step, and units that reach zero "
                        "only raise the sparsity further (proofs/variants.md); declared for small steps, "
                        "where the point keeps an active unit and its sparsity stays defined"),
                Statement(rule="batch-decrease", quantity="goodness", direction="decreases", step="any", why=_MONOTONE),
            ),
        ),
        Variant(
            goodness=GOODNESS["top-2-sum-of-squares"],
            statements=(
                _single("batch-decrease", "hoyer", "decreases",
                        "a lone point's two largest units shrink in proportion while the rest stay: "
                        "the vector flattens (Chebyshev's sum inequality). First order only: a finite "
                        "step can reorder the units, after which the top two differ", order="first"),
                Statement(rule="batch-decrease", quantity="goodness", direction="decreases", step="any", why=_MONOTONE),
            ),
        ),
        Variant(
            goodness=GOODNESS["softplus-sum"],
            statements=(
                Statement(rule="batch-decrease", quantity="goodness", direction="decreases", step="any", why=_MONOTONE),
            ),
        ),
        Variant(
            goodness=GOODNESS["log-sum-exp"],
            statements=(
                Statement(rule="batch-decrease", quantity="goodness", direction="decreases", step="any",
                          why="grad g = softmax(h) >= 0: " + _MONOTONE),
            ),
        ),
        Variant(goodness=sum_of_squares, loss=LOSSES["symba(alpha=4)"], name="symba",
                description="SymBa loss (alpha = 4) with sum-of-squares goodness, for the ff rules"),
    )
}
# Hinton's loss with sum of squares is the "sum-of-squares" entry; list it by its loss name too.
CATALOGUE["hinton"] = dataclasses.replace(CATALOGUE["sum-of-squares"], name="hinton",
                                          description="Hinton's FF loss with sum-of-squares goodness")

