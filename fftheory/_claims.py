"""The theory's claims, as a table: id, statement, the cases it is tried on, the check.

Each row's statement is the paper's (as written in proofs/); its check lives in
`_checks`; `_harness.run_claim` runs a row under a profile and gives a verdict.
Rows with expect="counterexample" state what fails once an assumption is
dropped: they hold when hypothesis finds the counterexample.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Literal

from hypothesis import strategies as st

from . import _checks as C
from ._cases import Case, CaseSpec, with_constant_u
from ._regressions import REGRESSIONS
from ._rules import RULES
from ._strategies import case_specs


@dataclasses.dataclass(frozen=True, kw_only=True)
class Claim:
    """One row of the table.

    Attributes:
      id: short name ("1b.sign"). statement: what is asserted.
      check: Case -> Outcomes. specs: keyword arguments of `case_specs`.
      prepare: optional transform of the built cases (special constructions).
      expect: "holds", or "counterexample" for a weakened claim that must fail.
      examples: specs always tried first: every counterexample ever found.
      failure_status: the verdict when a case fails ("fails", or e.g. "not
        differentiable" for a row that reports a property rather than a claim).
      rule: the rule a single-rule row steps with (replays use it).
    """

    id: str
    statement: str
    check: Callable[[Case], C.Outcomes]
    specs: dict
    prepare: Callable[[Case], Case] | None = None
    expect: Literal["holds", "counterexample"] = "holds"
    examples: tuple[CaseSpec, ...] = ()
    failure_status: str = "fails"
    rule: str | None = None

    def strategy(self, count: int) -> st.SearchStrategy[CaseSpec]:
        return case_specs(count=count, **self.specs)

    def build(self, spec: CaseSpec) -> Case:
        from ._cases import build

        case = build(spec)
        return self.prepare(case) if self.prepare else case


ANY_INPUTS = dict(inputs=("nonnegative", "signed"), designs=("designed", "gaussian"))
NONNEG = dict(inputs=("nonnegative",), designs=("designed", "gaussian"))
ANY_STEP = (0.05, 20.0)  # multiples of the crossing bound, far past it

_dec, _inc = RULES["batch-decrease"], RULES["batch-increase"]
_sim, _two = RULES["ff-simultaneous"], RULES["ff-two-step"]


def _rule_rows(prefix: str, rule, theorem: str, specs: dict) -> list[Claim]:
    """The first-order rows every rule gets: closed form = autograd, bound, sign, Taylor."""
    name = rule.name
    return [
        Claim(
            id=f"{prefix}.autograd",
            statement=f"{name}: {theorem} closed forms for dg, dL1, dL2, dS equal the autograd JVP predictions",
            check=C.closed_matches_autograd(rule),
            specs=specs,
        ),
        Claim(
            id=f"{prefix}.bound",
            statement=f"{name}: |observed - predicted| <= second-order error bound (no unit crosses zero)",
            check=C.within_bound(rule),
            specs=specs,
        ),
        Claim(
            id=f"{prefix}.sign",
            statement=f"{name}: observed sign = predicted sign wherever |prediction| > bound",
            check=C.sign_agreement(rule),
            specs=specs,
        ),
        Claim(
            id=f"{prefix}.taylor",
            statement=f"{name}: |observed - predicted| = O(eta^2) (fitted rate near 2)",
            check=C.taylor_rate(rule),
            specs=specs,
        ),
    ]


FF_ANY = dict(ANY_INPUTS, labels=True)

CLAIMS: tuple[Claim, ...] = (
    # General lemma.
    *[
        Claim(
            id=f"lemma.{rule.name}",
            statement=f"{rule.name}: dz_k = -eta sum_i a_ik l_i'(g_i) (m_i * grad g(h_i)) exactly, any eta",
            check=C.lemma_exact(rule),
            specs=dict(ANY_INPUTS, eta_fraction=ANY_STEP, labels=rule.needs_labels),
        )
        for rule in (_dec, _inc, _sim)
    ],
    Claim(
        id="lemma.mask",
        statement="dh_k = m_k * dz_k exactly for every point with no unit crossing zero",
        check=C.masked_change(_dec),
        specs=dict(ANY_INPUTS, eta_fraction=ANY_STEP),
    ),
    # Theorem 1.
    Claim(
        id="1a",
        statement="batch-decrease: dh_k = -2 eta m_k * u_k, u_k = sum_i a_ik h_i, when no unit crosses zero",
        check=C.closed_form_step(_dec),
        specs=ANY_INPUTS,
    ),
    *_rule_rows("1b", _dec, "Theorem 1b", ANY_INPUTS),
    Claim(
        id="1c",
        statement="S_k rises exactly when ||h_k||_1 falls by a larger fraction than ||h_k||_2",
        check=C.hoyer_criterion(_dec),
        specs=dict(ANY_INPUTS, eta_fraction=ANY_STEP),
    ),
    Claim(
        id="1d",
        statement="non-negative inputs, any eta: every z weakly falls; goodness, L1, L2 weakly fall; "
        "no inactive unit turns on",
        check=C.monotone(_dec, sign=-1),
        specs=dict(NONNEG, eta_fraction=ANY_STEP),
    ),
    Claim(
        id="1e.self",
        statement="the point's own term (i = k) adds nothing to dS_k",
        check=C.self_term_vanishes,
        specs=ANY_INPUTS,
    ),
    Claim(
        id="1e.orthogonal",
        statement="one point or pairwise orthogonal inputs: S_k unchanged while 2 eta ||x_k||^2 < 1",
        check=C.sparsity_unchanged,
        specs=dict(inputs=("orthogonal",), designs=("designed",), eta_fraction=(0.01, 0.99)),
    ),
    Claim(
        id="1f",
        statement="u_k constant (c > 0) on k's active units: dS_k > 0 unless h_k is constant there",
        check=C.constant_u_nonnegative,
        specs=dict(inputs=("nonnegative",), points=(2, 6)),
        prepare=functools.partial(with_constant_u, flat=False),
    ),
    Claim(
        id="1f.equality",
        statement="u_k and h_k both constant on k's active units: dS_k = 0 (and S_k is unchanged)",
        check=C.constant_u_nonnegative,
        specs=dict(inputs=("nonnegative",), points=(2, 6)),
        prepare=functools.partial(with_constant_u, flat=True),
    ),
    Claim(
        id="1g.monotone",
        statement="batch-increase, non-negative inputs, any eta: every z weakly rises; goodness, L1, L2 "
        "weakly rise; active sets only grow",
        check=C.monotone(_inc, sign=+1),
        specs=dict(NONNEG, eta_fraction=ANY_STEP),
    ),
    Claim(
        id="1g.negated",
        statement="batch-increase's first-order changes are exactly the negatives of batch-decrease's",
        check=C.negated(_inc, _dec),
        specs=ANY_INPUTS,
    ),
    *_rule_rows("1g", _inc, "Theorem 1b (eta -> -eta)", ANY_INPUTS)[1:3],
    # Theorem 2.
    Claim(
        id="2a",
        statement="ff-simultaneous: dh_k = -2 eta m_k * u_k, u_k = sum_Neg a_jk w_j- h_j - sum_Pos a_ik w_i+ h_i",
        check=C.closed_form_step(_sim),
        specs=FF_ANY,
    ),
    *_rule_rows("2a", _sim, "Theorem 2a", FF_ANY),
    Claim(
        id="2b",
        statement="ff-two-step and ff-simultaneous differ by O(eta^2) in every pre-activation",
        check=C.two_step_second_order,
        specs=FF_ANY,
    ),
    *_rule_rows("2b", _two, "Theorem 2a", FF_ANY)[1:],
    Claim(
        id="2c",
        statement="non-negative inputs, any eta: the negative step lowers every z of every point; "
        "the positive step raises them all",
        check=C.ff_stages_monotone,
        specs=dict(NONNEG, labels=True, eta_fraction=ANY_STEP),
    ),
    Claim(
        id="2d",
        statement="ff rules: S_k rises exactly when ||h_k||_1 falls by a larger fraction than ||h_k||_2",
        check=lambda case: C.combine(C.hoyer_criterion(_sim)(case), C.hoyer_criterion(_two)(case)),
        specs=dict(FF_ANY, eta_fraction=ANY_STEP),
    ),
    # The assumptions matter: weakened claims that hypothesis must refute.
    Claim(
        id="needs.nonnegative",
        statement="without non-negative inputs, some point's goodness rises under batch-decrease",
        check=C.goodness_falls_everywhere,
        specs=dict(inputs=("signed",), designs=("designed", "gaussian"), points=(2, 6)),
        expect="counterexample",
    ),
    Claim(
        id="needs.no-crossing",
        statement="past the crossing bound, some first-order Hoyer sign prediction is wrong",
        check=C.hoyer_sign_ignoring_crossings,
        specs=dict(NONNEG, eta_fraction=(1.5, 20.0)),
        expect="counterexample",
    ),
)

CLAIMS = tuple(dataclasses.replace(c, examples=REGRESSIONS.get(c.id, ())) for c in CLAIMS)
CLAIMS_BY_ID: dict[str, Claim] = {c.id: c for c in CLAIMS}
assert set(REGRESSIONS) <= set(CLAIMS_BY_ID), "every regression names a claim"
assert len(CLAIMS_BY_ID) == len(CLAIMS), "claim ids must be unique"
