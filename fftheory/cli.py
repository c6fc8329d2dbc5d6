"""The `fftheory` command: verify, predict, check, list, reproduce.

Exit codes: 0 all good, 1 a claim failed or could not be decided (or an
internal error), 2 bad usage or input. Tracebacks only with --debug.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import threading
import time

from . import __version__
from ._claims import CLAIMS, CLAIMS_BY_ID
from ._harness import MIN_CASES, Verdict, run_claim
from ._io import InputError, check_output_path, check_scalar, layer_extras, load_case_file, validate_case, write_json
from ._memory import tune_allocator
from ._profiles import DEFAULT_PROFILE, PROFILES
from ._rules import RULES

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def verdict_table(verdicts: list[Verdict]) -> str:
    """Plain-text table: claim, cases tried, applicable, agreement (agreed/decided), point
    decisions too close to call, points with an undefined quantity (left out), worst
    margin, Taylor rate, verdict."""
    header = (f"{'claim':<22} {'tried':>7} {'valid':>7} {'agreement':>15} {'too close':>9} {'undefined':>9} "
              f"{'worst margin':>12} {'rate':>6}  verdict")
    lines = [header, "-" * len(header)]
    for v in verdicts:
        agreement = f"{v.points_agreed}/{v.points_decided}" if v.points_decided else "-"
        lines.append(
            f"{v.claim:<22} {v.cases_tried:>7} {v.cases_applicable:>7} {agreement:>15} {v.points_too_close:>9} "
            f"{v.points_undefined:>9} "
            f"{_fmt(v.worst_margin, '.3g'):>12} {_fmt(v.taylor_rate, '.3f'):>6}  {v.status}"
        )
    notes = [f"  {v.claim}: {v.note}" for v in verdicts if v.status != "holds" or v.expect == "counterexample"]
    return "\n".join(lines + (["", "notes:"] + notes if notes else []))


def cmd_verify(args: argparse.Namespace) -> int:
    unknown = [c for c in args.claims or () if c not in CLAIMS_BY_ID]
    if unknown:
        raise InputError(f"unknown claim id(s) {unknown}; known: {', '.join(CLAIMS_BY_ID)}")
    claims = [CLAIMS_BY_ID[c] for c in args.claims] if args.claims else list(CLAIMS)
    start = time.perf_counter()
    verdicts = []
    for claim in claims:
        verdicts.append(run_claim(claim, profile=args.profile, min_cases=args.min_cases, seed=args.seed))
        if args.progress:
            print(f"  {claim.id}: {verdicts[-1].status}", file=sys.stderr)
    elapsed = time.perf_counter() - start
    print(verdict_table(verdicts))
    held = sum(v.status == "holds" for v in verdicts)
    print(f"\n{held}/{len(verdicts)} claims hold (profile {args.profile}, min cases {args.min_cases}, {elapsed:.1f} s)")
    if args.json:
        write_json(
            args.json,
            {
                "profile": args.profile,
                "min_cases": args.min_cases,
                "seed": args.seed,
                "seconds": elapsed,
                "claims": [v.to_json() for v in verdicts],
            },
        )
    return EXIT_OK if held == len(verdicts) else EXIT_FAIL


def _stored(arrays: dict, name: str, kind: type):
    """A scalar stored in a counterexample file (written by `fftheory check --report`), else None."""
    if name not in arrays:
        return None
    value = arrays[name]
    if value.shape != () or (kind is str) != (value.dtype.kind == "U"):
        raise InputError(f"array {name!r} must be a scalar {kind.__name__}, got dtype {value.dtype} shape {value.shape}")
    return kind(value)


def cmd_predict(args: argparse.Namespace) -> int:
    from ._predict import QUANTITIES
    from ._step import predict_points
    from ._variants import TargetError, load_target

    arrays = load_case_file(args.case)
    rule_name = args.rule or _stored(arrays, "rule", str)
    if rule_name is None:
        raise InputError("--rule is required (the file names no rule)")
    if rule_name not in RULES:
        raise InputError(f"unknown rule {rule_name!r}; choose from {sorted(RULES)}")
    stored = _stored(arrays, "variant", str)
    target = args.variant or stored or "sum-of-squares"
    try:
        variant = load_target(target)
    except TargetError as exc:
        hint = " (the file names it; pass --variant CATALOGUE-NAME or module:attr)" if target == stored else ""
        raise InputError(f"variant: {exc}{hint}") from exc
    rule = variant.rules()[rule_name]
    W, X, positive = validate_case(arrays, needs_labels=rule.needs_labels)
    eta = args.eta if args.eta is not None else _stored(arrays, "eta", float)
    eta = None if eta is None else check_scalar("--eta", eta, positive=True)
    theta = args.theta if args.theta is not None else _stored(arrays, "theta", float)
    if rule.needs_labels and theta is None:
        raise InputError(f"rule {rule.name} needs --theta (the FF threshold, in goodness units)")
    theta = 0.0 if theta is None else check_scalar("--theta", theta, positive=False)
    bias, activation = layer_extras(arrays, W.shape[0])
    result = predict_points(rule, W, X, eta=eta, theta=theta, positive=positive, goodness=variant.goodness,
                            bias=bias, activation=activation)
    result["variant"] = variant.name
    if not result["applicable"]:
        print("not applicable: " + "; ".join(result["not_applicable"]))
        if args.json:
            write_json(args.json, result)
        return EXIT_OK
    print(f"variant {result['variant']}, rule {result['rule']}, eta {result['eta']:.6g} "
          f"(reference step {result['eta_reference']:.6g})")
    cols = " ".join(f"{q + ' pred':>13} {q + ' obs':>13}" for q in QUANTITIES)
    print(f"{'point':>5} {cols}  crossed")
    for p in result["points"]:
        cells = " ".join(f"{_fmt(p['predicted'][q], '.4e'):>13} {_fmt(p['observed'][q], '.4e'):>13}" for q in QUANTITIES)
        print(f"{p['index']:>5} {cells}  {'yes' if p['crossed'] else 'no'}")
    print(f"{result['points_crossed']} point(s) crossed zero (no bound), "
          f"{result['points_undefined']} with an undefined quantity (no active unit, or n = 1: Hoyer undefined)")
    if not result["nonnegative_inputs"]:
        print("note: X has negative entries; Theorem 1's sign statements assume non-negative inputs")
    if args.json:
        write_json(args.json, result)
        print(f"wrote json (with each point's error bound): {args.json}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from ._check_variant import VariantError, check_variant
    from ._report import markdown, write_report
    from ._variants import TargetError, load_target

    try:
        variant = load_target(args.target)
        report = check_variant(variant, profile=args.profile, min_cases=args.min_cases, seed=args.seed)
    except (TargetError, VariantError) as exc:
        raise InputError(str(exc)) from exc
    print(markdown(report))
    if args.report:
        for role, path in write_report(report, variant, args.report, target=args.target).items():
            print(f"wrote {role}: {path}")
    if args.json:
        write_json(args.json, report.to_json())
    return report.exit_code


def cmd_list(args: argparse.Namespace) -> int:
    from ._check_variant import detect_properties
    from ._symbolic import symbolic_form
    from ._variants import CATALOGUE

    for name, variant in CATALOGUE.items():
        flags = [k for k, v in vars(detect_properties(variant.goodness)).items() if v]
        form = "sympy form" if symbolic_form(variant.goodness, 2) is not None else "no sympy form"
        print(f"{name:<26} {variant.description or variant.goodness.description}  "
              f"[loss {variant.loss.name}; {form}; {', '.join(flags) or 'no detected properties'}; "
              f"{len(variant.statements)} declared]")
    return EXIT_OK


def cmd_reproduce(args: argparse.Namespace) -> int:
    from .experiments.idx import DataError
    from .experiments.mnist import reproduce

    try:
        layers = tuple(int(v) for v in args.layers.split(","))
    except ValueError:
        raise InputError(f"--layers must be comma-separated integers, got {args.layers!r}") from None
    if len(layers) < 2 or min(layers) < 1:
        raise InputError(f"--layers needs an input size and at least one layer, all positive: {args.layers!r}")
    if args.epochs is not None and args.epochs < 1:
        raise InputError(f"--epochs must be >= 1, got {args.epochs}")
    try:
        reproduce(quick=args.quick, data=args.data, layers=layers, epochs=args.epochs, seed=args.seed, out=args.out)
    except DataError as exc:
        raise InputError(str(exc)) from exc
    print(f"wrote results.json, summary.md and figures to {args.out}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fftheory", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    v = sub.add_parser("verify", help="check every claim of Theorems 1 and 2 on generated cases")
    v.add_argument("--profile", choices=sorted(PROFILES), default=DEFAULT_PROFILE)
    v.add_argument("--json", metavar="PATH", help="also write the verdicts as JSON")
    v.add_argument("--claims", nargs="+", metavar="ID", help="only these claim ids")
    v.add_argument("--min-cases", type=int, default=MIN_CASES, help=f"applicable cases needed to hold (default {MIN_CASES})")
    v.add_argument("--seed", type=int, default=None, help="hypothesis seed (non-derandomised profiles)")
    v.add_argument("--progress", action="store_true", help="print each claim's verdict as it finishes")
    v.set_defaults(func=cmd_verify)

    p = sub.add_parser("predict", help="predicted vs observed changes for a layer and batch in an .npz")
    p.add_argument("case", metavar="CASE.npz", help="arrays W (n x m), X (N x m), and positive (N, bool) for ff rules")
    p.add_argument("--rule", default=None, help=f"one of {sorted(RULES)} (default: the file's 'rule')")
    p.add_argument("--eta", type=float, default=None, help="step size (default: the file's 'eta', else 0.1 x the reference step)")
    p.add_argument("--theta", type=float, default=None, help="FF threshold (required for ff rules unless the file has 'theta')")
    p.add_argument("--variant", default=None, help="goodness variant: catalogue name or module:attr "
                   "(default: the file's 'variant', else sum-of-squares)")
    p.add_argument("--json", metavar="PATH")
    p.set_defaults(func=cmd_predict)

    c = sub.add_parser("check", help="check a goodness variant against the theory")
    c.add_argument("target", metavar="TARGET", help="catalogue name (see `fftheory list`) or module:attr")
    c.add_argument("--profile", choices=sorted(PROFILES), default=DEFAULT_PROFILE)
    c.add_argument("--json", metavar="PATH", help="write the report as JSON")
    c.add_argument("--report", metavar="DIR", help="write report.json, report.md, a figure and counterexample .npz files")
    c.add_argument("--min-cases", type=int, default=MIN_CASES)
    c.add_argument("--seed", type=int, default=None)
    c.set_defaults(func=cmd_check)

    li = sub.add_parser("list", help="the built-in catalogue of goodness variants and FF losses")
    li.set_defaults(func=cmd_list)

    r = sub.add_parser("reproduce", help="train an FF network on MNIST and check the theory during training")
    r.add_argument("--quick", action="store_true", help="a short run (under 3 minutes on 2 cores)")
    r.add_argument("--data", metavar="DIR", help="directory with the four MNIST IDX files (default: embedded 5,000 digits)")
    r.add_argument("--layers", default="784,500,500")
    r.add_argument("--epochs", type=int, default=None)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", default="fftheory-out", metavar="DIR")
    r.set_defaults(func=cmd_reproduce)
    return parser


def _in_gc_callback(frame) -> bool:
    """Whether `frame` runs inside a gc callback (Python ignores exceptions raised there)."""
    callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    while frame is not None:
        if frame.f_code in callbacks:
            return True
        frame = frame.f_back
    return False


def _on_sigint(signum, frame) -> None:
    # Hypothesis times garbage collection with a gc callback; a KeyboardInterrupt raised
    # there is printed and dropped, and the run goes on. Deliver it again just after.
    if _in_gc_callback(frame):
        threading.Timer(0.01, os.kill, (os.getpid(), signal.SIGINT)).start()
        return
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    handler = None
    if threading.current_thread() is threading.main_thread():
        handler = signal.signal(signal.SIGINT, _on_sigint)
    try:
        return _run(argv)
    except KeyboardInterrupt:  # at any moment, parsing included
        print("fftheory: interrupted (no partial report is left: reports are written atomically)", file=sys.stderr)
        return 130
    finally:
        if handler is not None:
            signal.signal(signal.SIGINT, handler)


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "min_cases", 1) < 1:
        parser.error("--min-cases must be >= 1")
    tune_allocator()
    try:
        # Output paths are checked before any work: a bad one is bad usage, not a late failure.
        for name, directory in (("json", False), ("report", True), ("out", True)):
            if getattr(args, name, None):
                check_output_path(getattr(args, name), directory=directory)
        return args.func(args)
    except InputError as exc:
        if args.debug:
            raise
        print(f"fftheory: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a defect, not bad input: say so, keep the traceback behind --debug
        if args.debug:
            raise
        print(f"fftheory: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
