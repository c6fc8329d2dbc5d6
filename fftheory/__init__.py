"""fftheory: verify the sparsity theory of the Forward-Forward algorithm
(Yang, "A theory for the sparsity emerged in the Forward Forward algorithm",
arXiv:2311.05667) on generated networks and batches.

Modules, by job:
  _model      the layer h = ReLU(W x), no bias
  _sparsity   L1, L2, Hoyer sparsity, active units
  _goodness   goodness functions (sum of squares; variants plug in here)
  _rules      update rules: batch-decrease/-increase, ff-simultaneous, ff-two-step
  _theory     the paper's closed forms (Theorems 1 and 2)
  _predict    autograd first-order predictions, observed changes, error bounds
  _step       one rule applied to B cases: the step every check compares against
  _tolerance  the one tolerance table and comparison helper
  _cases      case specs and their float64 construction (valid by design)
  _strategies public hypothesis strategies
  _checks     vectorised checks: Case -> per-case outcomes
  _claims     the table of claims (statement, cases, check)
  _harness    running a claim under hypothesis -> verdict
  _profiles   quick / ci / thorough settings
  _losses     FF losses (Hinton's, SymBa) and their two-step parts
  _variants   goodness variants: statements, catalogue, loading targets
  _symbolic   sympy gradient, LaTeX and numeric cross-check of a variant
  _check_variant  property detection and the claim table of a variant
  _report     a variant's JSON / Markdown / figure / counterexample files
  _io         reading and validating user arrays; atomic writes
  _memory     allocator tuning used by the CLI, the plugin and the benchmarks
  cli, pytest_plugin, experiments: the interfaces and the MNIST reproduction
"""

from ._cases import Case, CaseSpec, build
from ._check_variant import Properties, VariantReport, check_variant, detect_properties
from ._checks import Outcomes
from ._claims import CLAIMS, CLAIMS_BY_ID, Claim
from ._goodness import GOODNESS, Goodness, VariantError, sum_of_squares
from ._losses import LOSSES, Loss, hinton, symba
from ._harness import MIN_CASES, Verdict, replay, run_claim
from ._io import InputError
from ._model import gram, layer
from ._predict import (
    QUANTITIES,
    Observation,
    autograd_prediction,
    crossing_bound,
    error_bound,
    lemma_direction,
    measure,
    observe,
    step_and_observe,
    step_scale,
)
from ._profiles import PROFILES, Profile
from ._report import write_report
from ._rules import RULES, Rule, apply_rule, ff_rules
from ._sparsity import active_count, active_fraction, hoyer, l1, l2
from ._step import Step, not_applicable, predict_points, step_on, take_step
from ._strategies import case_specs, cases, ff_cases
from ._theory import ff_weights, first_order_changes, point_coefficients, u_vectors
from ._variants import CATALOGUE, Statement, TargetError, Variant, as_variant, load_target

__version__ = "0.1.0"

__all__ = [
    "CATALOGUE",
    "GOODNESS",
    "InputError",
    "LOSSES",
    "Loss",
    "Properties",
    "Statement",
    "TargetError",
    "Variant",
    "VariantError",
    "VariantReport",
    "as_variant",
    "check_variant",
    "detect_properties",
    "ff_rules",
    "hinton",
    "load_target",
    "symba",
    "write_report",
    "CLAIMS",
    "CLAIMS_BY_ID",
    "Case",
    "CaseSpec",
    "Claim",
    "Goodness",
    "MIN_CASES",
    "Observation",
    "Outcomes",
    "PROFILES",
    "Profile",
    "QUANTITIES",
    "RULES",
    "Rule",
    "Step",
    "Verdict",
    "active_count",
    "active_fraction",
    "apply_rule",
    "autograd_prediction",
    "build",
    "case_specs",
    "cases",
    "crossing_bound",
    "error_bound",
    "ff_cases",
    "ff_weights",
    "first_order_changes",
    "gram",
    "hoyer",
    "l1",
    "l2",
    "layer",
    "lemma_direction",
    "measure",
    "observe",
    "not_applicable",
    "point_coefficients",
    "predict_points",
    "replay",
    "run_claim",
    "step_and_observe",
    "step_on",
    "step_scale",
    "sum_of_squares",
    "take_step",
    "u_vectors",
]
