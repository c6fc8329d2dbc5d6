"""Run a claim under hypothesis and turn what it saw into a verdict.

Hypothesis draws CaseSpecs; each spec is built into `count` cases and checked
in one call. A failing case makes hypothesis shrink the spec, and the verdict
keeps the shrunk spec and the case index so the failure replays on its own.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch
from hypothesis import example, given
from hypothesis import seed as hypothesis_seed

from ._cases import CaseSpec
from ._checks import Outcomes
from ._claims import Claim
from ._goodness import VariantError
from ._profiles import Profile, get_profile
from ._tolerance import TAYLOR_RATE_TOL

Status = Literal["holds", "fails", "undecided", "not differentiable"]

MIN_CASES = 20  # fewer applicable cases than this (none included): "undecided", never "holds"


@dataclasses.dataclass
class Verdict:
    """What running one claim found.

    cases_applicable counts cases that met the assumptions and had a point to decide;
    cases_not_applicable the rest: assumptions not met, or every point undefined or
    too close to call (never counted as passes); points_decided /
    points_agreed count point-level decisions (e.g. signs beyond the bound);
    points_undefined counts points left out because a quantity is undefined there;
    points_too_close counts (point, quantity) pairs too close to call (|prediction|
    within the error bound), for the checks that decide signs.
    counterexample: the (shrunk) spec, the failing case's index and a detail.
    """

    claim: str
    statement: str
    expect: str
    status: Status
    cases_tried: int = 0
    cases_applicable: int = 0
    points_decided: int = 0
    points_agreed: int = 0
    points_undefined: int = 0
    points_too_close: int = 0
    worst_margin: float | None = None
    taylor_rate: float | None = None
    min_cases: int = MIN_CASES
    counterexample: dict | None = None
    note: str = ""

    @property
    def agreement(self) -> float | None:
        return self.points_agreed / self.points_decided if self.points_decided else None

    @property
    def cases_not_applicable(self) -> int:
        return self.cases_tried - self.cases_applicable

    def to_json(self) -> dict:
        return dict(dataclasses.asdict(self), cases_not_applicable=self.cases_not_applicable,
                    agreement=self.agreement)


class _Tally:
    def __init__(self) -> None:
        self.tried = self.applicable = self.decided = self.agreed = self.undefined = self.too_close = 0
        self.worst = math.inf
        self.rates: list[float] = []

    def add(self, out: Outcomes) -> None:
        self.tried += int(out.applicable.numel())
        self.applicable += int(out.applicable.sum())
        # Agreement counts only cases that met the assumptions: the rest are not applicable.
        self.decided += int(out.decided[out.applicable].sum())
        self.agreed += int(out.agreed[out.applicable].sum())
        if out.undefined is not None:
            self.undefined += int(out.undefined.sum())
        if out.too_close is not None:
            self.too_close += int(out.too_close.sum())
        if out.applicable.any():
            self.worst = min(self.worst, float(out.margin[out.applicable].min()))
        if out.rate is not None:
            self.rates += [float(r) for r in out.rate[~torch.isnan(out.rate)]]


class _Hit(Exception):
    """A case failed the check: a counterexample (wanted or not)."""

    def __init__(self, spec: CaseSpec, index: int, out: Outcomes) -> None:
        super().__init__(f"case {index} of {spec}: margin {float(out.margin[index]):+.3g}. {out.detail}")
        self.spec, self.index, self.out = spec, index, out


def evaluate(claim: Claim, spec: CaseSpec) -> Outcomes:
    """Build the spec's cases and check them."""
    return claim.check(claim.build(spec))


def replay(claim: Claim, spec: CaseSpec, index: int) -> Outcomes:
    """Re-check case `index` of `spec` alone."""
    return claim.check(claim.build(spec).select(index))


def _first(exc: BaseException, kind: type) -> BaseException | None:
    """exc itself or the first exception of `kind` inside an exception group."""
    if isinstance(exc, kind):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = _first(inner, kind)
        if found is not None:
            return found
    return None


def run_claim(
    claim: Claim,
    *,
    profile: str | Profile = "ci",
    min_cases: int = MIN_CASES,
    seed: int | None = None,
    database=None,
) -> Verdict:
    """Check `claim` on generated cases and return its verdict.

    Args:
      profile: name or Profile: examples per claim and cases per example.
      min_cases: applicable cases needed before "holds" can be said (at least 1).
      seed: hypothesis seed (ignored by derandomised profiles, which are fixed).
      database: hypothesis example database (None: nothing written to disk).
    """
    if isinstance(min_cases, bool) or not isinstance(min_cases, int) or min_cases < 1:
        raise ValueError(f"min_cases must be an integer >= 1, got {min_cases!r}")
    prof = get_profile(profile)
    tally = _Tally()

    def body(spec: CaseSpec) -> None:
        try:
            out = evaluate(claim, spec)
        except VariantError as exc:  # the goodness under test misbehaved: an error, not a verdict
            raise VariantError(f"{exc}; claim {claim.id}, case spec {spec}") from exc.__cause__
        tally.add(out)
        failed = torch.nonzero(out.failed)
        if len(failed):
            raise _Hit(spec, int(failed[0, 0]), out)

    test = given(claim.strategy(prof.count))(body)
    for spec in claim.examples:
        test = example(spec)(test)
    test = prof.settings(database=database)(test)
    if seed is not None:
        test = hypothesis_seed(seed)(test)

    verdict = Verdict(claim=claim.id, statement=claim.statement, expect=claim.expect, status="holds", min_cases=min_cases)
    hit: _Hit | None = None
    try:
        test()
    except _Hit as exc:
        hit = exc
    except Exception as exc:  # hypothesis groups distinct errors; report a misbehaving goodness alone
        misbehaved = _first(exc, VariantError)
        if misbehaved is None or misbehaved is exc:
            raise
        raise misbehaved from None
    verdict.cases_tried, verdict.cases_applicable = tally.tried, tally.applicable
    verdict.points_decided, verdict.points_agreed = tally.decided, tally.agreed
    verdict.points_undefined, verdict.points_too_close = tally.undefined, tally.too_close
    verdict.worst_margin = tally.worst if math.isfinite(tally.worst) else None
    verdict.taylor_rate = float(torch.tensor(tally.rates).median()) if tally.rates else None
    if hit is not None:
        verdict.counterexample = dict(spec=dataclasses.asdict(hit.spec), index=hit.index, detail=str(hit))
    if claim.expect == "counterexample":
        verdict.status = "holds" if hit else "fails"
        verdict.note = "counterexample found: the assumption is needed" if hit else "no counterexample found"
    elif hit is not None:
        verdict.status, verdict.note = claim.failure_status, str(hit)
    elif verdict.taylor_rate is not None and abs(verdict.taylor_rate - 2) > TAYLOR_RATE_TOL:
        verdict.status = "fails"
        verdict.note = f"median Taylor rate {verdict.taylor_rate:.3f} is not within {TAYLOR_RATE_TOL} of 2"
    elif tally.applicable < min_cases:
        verdict.status = "undecided"
        verdict.note = (f"only {tally.applicable} of {tally.tried} generated cases met the assumptions "
                        f"(< min cases {min_cases}); the other {tally.tried - tally.applicable} were not applicable")
    return verdict
