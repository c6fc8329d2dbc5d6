#!/usr/bin/env python
"""Mutation testing for fftheory: does the test suite notice a wrong theory?

Each mutant in ci/mutants.toml replaces one exact snippet of the package
source (which must occur exactly once, or the runner stops). The runner never
touches the repository: it snapshots fftheory/, tests/, proofs/ and
pyproject.toml into a temporary directory, runs the unmutated suite there
first (the baseline; the campaign aborts if it fails, since a "kill" by an
already failing suite proves nothing), then, for each mutant, copies the
snapshot, applies the mutant to the copy and runs pytest inside it with
PYTHONPATH pointing at the copy. Before each run it checks that `import
fftheory` resolves to the copy, not to the editable install.

Outcomes: killed (pytest exit 1, or exit 2 when pytest-xdist's -x stopped
the run at a failing test), survived (exit 0), error (anything else:
collection error, timeout, the copy not importable; not counted as killed).

    python ci/mutants.py                         # all mutants, default tests
    python ci/mutants.py --only u-sign-flipped --tests tests/test_claims.py
    python ci/mutants.py --list                  # the mutants, checked against the source

Results are printed and written to ci/MUTANTS.md (--output; --no-write to skip).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS_FILE = Path(__file__).resolve().with_name("mutants.toml")
DEFAULT_OUTPUT = Path(__file__).resolve().with_name("MUTANTS.md")

# What the snapshot holds (relative to the repository root).
COPIED = ("fftheory", "tests", "proofs", "pyproject.toml")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache", "*.egg-info")

# Default tests: every tests/test_*.py except these (slow subprocess/CLI runs,
# experiments, MNIST data and training, benchmarks, and this campaign's own tests), fast and
# theory-heavy files first so that `-x` stops early on a killed mutant.
EXCLUDED_TESTS = ("test_mutants.py", "test_cli.py", "test_determinism.py")
EXCLUDED_WORDS = ("mnist", "idx", "experiment", "benchmark")
FIRST_TESTS = ("test_claims.py", "test_units.py", "test_harness.py")
# Tests left out by default inside otherwise included files: they run the CLI
# in a subprocess (slow; the CLI is test_cli.py's business).
SUBPROCESS_TESTS = (
    "tests/test_variants.py::test_false_statements_fail_with_a_counterexample_that_replays",
    "tests/test_variants.py::test_user_module_variant_via_cli",
    "tests/test_variants.py::test_unloadable_targets_exit_2",
)

EXIT_FAILED = 1  # pytest.ExitCode.TESTS_FAILED
EXIT_INTERRUPTED = 2  # pytest-xdist's -x ends a failing run with this ("stopping after 1 failures")
_XDIST_STOP = re.compile(r"Interrupted: stopping after \d+ failures")


class MutantError(Exception):
    """A mutant list or snippet problem: the campaign must not go on."""


@dataclasses.dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    find: str
    replace: str
    description: str


@dataclasses.dataclass
class RunResult:
    outcome: str  # killed | survived | error (baseline: passed | failed | error)
    exit_code: int | None
    seconds: float
    first_failure: str | None = None  # test id
    message: str = ""  # its short failure message
    detail: str = ""
    output: str = ""


# ------------------------------------------------------------------ the mutant list

def load_mutants(path: Path = MUTANTS_FILE) -> list[Mutant]:
    """Read and validate the mutant list (unique ids, every field, no no-op)."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    rows = data.get("mutant", [])
    if not rows:
        raise MutantError(f"{path}: no [[mutant]] entries")
    fields = {f.name for f in dataclasses.fields(Mutant)}
    mutants, seen = [], set()
    for i, row in enumerate(rows):
        missing, extra = fields - set(row), set(row) - fields
        if missing or extra:
            raise MutantError(f"{path}: mutant #{i + 1} ({row.get('id')}): missing {sorted(missing)}, unknown {sorted(extra)}")
        m = Mutant(**{k: row[k] for k in fields})
        if m.id in seen:
            raise MutantError(f"{path}: duplicate mutant id {m.id!r}")
        if not m.find or m.find == m.replace:
            raise MutantError(f"{path}: mutant {m.id!r} changes nothing")
        if Path(m.file).is_absolute() or ".." in Path(m.file).parts or Path(m.file).parts[0] not in COPIED:
            raise MutantError(f"{path}: mutant {m.id!r}: file {m.file!r} must be inside {COPIED}")
        seen.add(m.id)
        mutants.append(m)
    return mutants


def occurrences(mutant: Mutant, root: Path) -> int:
    """How often the mutant's snippet occurs in its file under `root`."""
    target = root / mutant.file
    if not target.is_file():
        raise MutantError(f"mutant {mutant.id!r}: {target} does not exist")
    return target.read_text().count(mutant.find)


def check_snippet(mutant: Mutant, root: Path) -> None:
    """Fail loudly unless the snippet occurs exactly once."""
    count = occurrences(mutant, root)
    if count != 1:
        raise MutantError(
            f"mutant {mutant.id!r}: snippet occurs {count} times in {mutant.file} (must be exactly once):\n{mutant.find}"
        )


# ------------------------------------------------------------------ copies

def snapshot(root: Path, dest: Path) -> Path:
    """Copy what the tests need from `root` to `dest` (created); the source is only read."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORED)
        elif src.is_file():
            shutil.copy2(src, dest / name)
        elif name != "proofs":
            raise MutantError(f"{src} is missing")
    return dest


def apply_mutant(mutant: Mutant, copy: Path) -> None:
    """Apply `mutant` to the copy at `copy` (never to the repository)."""
    resolved = copy.resolve()
    if resolved == ROOT.resolve() or ROOT.resolve() in resolved.parents:
        raise MutantError(f"refusing to mutate {copy}: inside the repository, not a copy")
    check_snippet(mutant, copy)
    target = copy / mutant.file
    target.write_text(target.read_text().replace(mutant.find, mutant.replace, 1))


def child_env(copy: Path, profile: str) -> dict[str, str]:
    """Environment in which `import fftheory` finds the copy first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["FFTHEORY_PROFILE"] = profile
    env["COLUMNS"] = "400"  # pytest truncates the short summary's messages to the terminal width
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_PLUGINS", None)
    return env


def imported_from(copy: Path, profile: str = "quick", timeout: float = 300) -> Path:
    """Where `import fftheory` (and the pytest plugin) resolve inside the copy."""
    code = "import fftheory, fftheory.pytest_plugin as p; print(fftheory.__file__); print(p.__file__)"
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=copy, env=child_env(copy, profile), capture_output=True, text=True, timeout=timeout
    )
    if r.returncode != 0:
        raise MutantError(f"import fftheory failed in {copy}:\n{r.stderr[-2000:]}")
    package, plugin = (Path(line).resolve() for line in r.stdout.split())
    for f in (package, plugin):
        if copy.resolve() not in f.parents:
            raise MutantError(f"fftheory resolves to {f}, not to the copy in {copy}")
    return package


# ------------------------------------------------------------------ pytest

def default_tests(root: Path = ROOT) -> list[str]:
    """tests/test_*.py minus the excluded files, fast theory-heavy files first."""
    names = sorted(p.name for p in (root / "tests").glob("test_*.py"))
    names = [n for n in names if n not in EXCLUDED_TESTS and not any(w in n.lower() for w in EXCLUDED_WORDS)]
    first = [n for n in FIRST_TESTS if n in names]
    return [f"tests/{n}" for n in first + [n for n in names if n not in first]]


def pytest_command(tests, *, profile: str, seed: int | None, workers: int, deselect=(), exitfirst: bool = True) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE", "--no-header", "--tb=short"]
    cmd += ["--fftheory-profile", profile]
    if seed is not None:
        cmd += ["--fftheory-seed", str(seed)]
    if exitfirst:
        cmd.append("-x")
    if workers:
        cmd += ["-n", str(workers)]
    for node in deselect:
        cmd += ["--deselect", node]
    return cmd + list(tests)


_SUMMARY = re.compile(r"^(FAILED|ERROR) (.+?)(?: - (.*))?$")  # test ids may hold spaces


def first_failure(output: str) -> tuple[str, str] | None:
    """(test id, message) of the first failing (or erroring) test in pytest's short summary."""
    for line in output.splitlines():
        m = _SUMMARY.match(line.strip())
        if m:
            test = m.group(2) if m.group(1) == "FAILED" else f"{m.group(2)} (error)"
            return test, (m.group(3) or "").strip()
    return None


def run_pytest(copy: Path, cmd: list[str], *, profile: str, timeout: float) -> tuple[int | None, float, str]:
    """Run `cmd` in `copy`; returns (exit code or None on timeout, seconds, output)."""
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=copy, env=child_env(copy, profile), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # our own child's process group
        out, _ = proc.communicate()
        code = None
    except BaseException:  # interrupted (Ctrl-C, SIGTERM): take our pytest run down with us
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return code, time.monotonic() - start, out


def classify(code: int | None, out: str, timeout: float = 0) -> tuple[str, str]:
    """(outcome, detail) of a pytest run: killed, survived or error."""
    if code is None:
        return "error", f"timeout after {timeout:.0f} s"
    if code == 0:
        return "survived", ""
    if code == EXIT_FAILED or (code == EXIT_INTERRUPTED and first_failure(out) and _XDIST_STOP.search(out)):
        return "killed", ""
    tail = [line for line in out.strip().splitlines() if line.strip()][-3:]
    return "error", f"pytest exit code {code}: " + " | ".join(tail)


def run_in_copy(base: Path, work: Path, mutant: Mutant | None, args) -> RunResult:
    """Copy the snapshot `base` to `work`, apply `mutant` (None: baseline), run the tests."""
    shutil.copytree(base, work, ignore=IGNORED)
    try:
        if mutant is not None:
            apply_mutant(mutant, work)
        imported_from(work, args.profile)
    except MutantError as exc:
        return RunResult("error", None, 0.0, detail=str(exc).splitlines()[0])
    cmd = pytest_command(args.tests, profile=args.profile, seed=args.seed, workers=args.workers, deselect=args.deselect)
    code, seconds, out = run_pytest(work, cmd, profile=args.profile, timeout=args.timeout)
    failure, message = first_failure(out) or (None, "")
    outcome, detail = classify(code, out, args.timeout)
    if mutant is None:
        outcome = {"survived": "passed", "killed": "failed"}.get(outcome, outcome)
    return RunResult(outcome, code, seconds, failure, message, detail, out)


# ------------------------------------------------------------------ report

def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _short(text: str, width: int = 90) -> str:
    text = _cell(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def markdown(results: list[tuple[Mutant, RunResult]], baseline: RunResult, info: dict) -> str:
    killed = [m for m, r in results if r.outcome == "killed"]
    survived = [(m, r) for m, r in results if r.outcome == "survived"]
    errors = [(m, r) for m, r in results if r.outcome == "error"]
    scored = len(killed) + len(survived)
    lines = [
        "# Mutation testing results",
        "",
        "Written by `python ci/mutants.py` (do not edit by hand); the mutants are in `ci/mutants.toml`.",
        "",
        f"- Date: {info['date']}",
        f"- Source: {info['source']}",
        f"- Command: `{info['command']}`",
        f"- Profile: `{info['profile']}`, seed {info['seed']}, workers {info['workers']}, `-x` (stop at the first failure)",
        f"- Tests: {', '.join(f'`{t}`' for t in info['tests'])}",
    ]
    if info["deselect"]:
        lines.append(f"- Deselected: {', '.join(f'`{d}`' for d in info['deselect'])}")
    lines += [
        f"- Baseline (unmutated): {baseline.outcome} in {baseline.seconds:.0f} s",
        f"- **Score: {len(killed)}/{len(results)} killed** ({len(survived)} survived, {len(errors)} errors; "
        f"killed/(killed+survived) = {len(killed)}/{scored})",
        f"- Total time: {info['total']:.0f} s",
        "",
        "| Mutant | File | Description | Outcome | Killed by (first failing test) | Failure message | Time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for m, r in results:
        by = f"`{r.first_failure}`" if r.first_failure else ""
        why = _short(r.message) if r.outcome != "error" else _cell(r.detail)
        lines.append(
            f"| `{m.id}` | `{m.file}` | {_cell(m.description)} | {r.outcome} | {by} | {why} | {r.seconds:.0f} |"
        )
    if survived:
        lines += ["", "## Survivors", ""]
        lines += [f"- `{m.id}`: {m.description}" for m, _ in survived]
    if errors:
        lines += ["", "## Errors (not counted as killed)", ""]
        lines += [f"- `{m.id}`: {_cell(r.detail)}" for m, r in errors]
    return "\n".join(lines) + "\n"


def _source_label(root: Path) -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", *COPIED], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return str(root)
    return f"commit {head}" + (" + uncommitted changes (snapshot taken at start)" if dirty else "")


# ------------------------------------------------------------------ main

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="quick", help="fftheory profile for the tests (default quick)")
    p.add_argument("--seed", type=int, default=0, help="--fftheory-seed for the random profiles (default 0)")
    p.add_argument("--no-seed", action="store_true", help="do not pass a seed (random quick runs)")
    p.add_argument("--only", nargs="+", metavar="ID", help="run only these mutants")
    p.add_argument("--tests", nargs="+", metavar="PATH", help="test files or node ids (default: see default_tests)")
    p.add_argument("--deselect", nargs="+", default=[], metavar="NODEID", help="test ids to leave out (passed to pytest)")
    p.add_argument("--with-subprocess-tests", action="store_true", help="do not deselect SUBPROCESS_TESTS")
    p.add_argument("-n", "--workers", type=int, default=0, help="pytest-xdist workers (default 0: none)")
    p.add_argument("--timeout", type=float, default=1200, help="seconds per pytest run before it counts as an error")
    p.add_argument("--mutants", type=Path, default=MUTANTS_FILE, help="mutant list (TOML)")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results file (Markdown)")
    p.add_argument("--no-write", action="store_true", help="print only; do not write the results file")
    p.add_argument("--no-baseline", action="store_true", help="skip the unmutated run (not for recorded results)")
    p.add_argument("--list", action="store_true", help="list the mutants (checking their snippets) and exit")
    p.add_argument("--show-output", action="store_true", help="print pytest's output for every run")
    args = p.parse_args(argv)
    if args.no_seed:
        args.seed = None
    if not args.with_subprocess_tests:
        args.deselect = [*SUBPROCESS_TESTS, *args.deselect]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C: the running pytest is killed and the temporary directory removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    command = "python ci/mutants.py " + " ".join(sys.argv[1:] if argv is None else argv)
    mutants = load_mutants(args.mutants)
    if args.only:
        unknown = set(args.only) - {m.id for m in mutants}
        if unknown:
            raise SystemExit(f"unknown mutant ids: {sorted(unknown)}")
        mutants = [m for m in mutants if m.id in args.only]
    args.tests = args.tests or default_tests(ROOT)

    with tempfile.TemporaryDirectory(prefix="fftheory-mutants-") as tmp:
        tmp = Path(tmp)
        source = _source_label(ROOT)  # what the snapshot below holds
        base = snapshot(ROOT, tmp / "base")  # one snapshot: baseline and mutants see the same source
        for m in mutants:
            check_snippet(m, base)
        if args.list:
            for m in mutants:
                print(f"{m.id:34} {m.file:24} {m.description}")
            return 0
        print(f"{len(mutants)} mutants; tests: {' '.join(args.tests)}; profile {args.profile}, seed {args.seed}", flush=True)
        start = time.monotonic()
        if args.no_baseline:
            baseline = RunResult("skipped", None, 0.0)
        else:
            baseline = run_in_copy(base, tmp / "baseline", None, args)
            print(f"baseline: {baseline.outcome} in {baseline.seconds:.0f} s", flush=True)
            if args.show_output or baseline.outcome != "passed":
                print(baseline.output[-6000:] or baseline.detail)
            if baseline.outcome != "passed":
                print("ABORT: the unmutated suite does not pass; fix it (or --deselect the failing test) first.")
                return 2
            shutil.rmtree(tmp / "baseline", ignore_errors=True)

        results: list[tuple[Mutant, RunResult]] = []
        for i, m in enumerate(mutants, 1):
            work = tmp / f"mutant-{i:02d}"
            r = run_in_copy(base, work, m, args)
            shutil.rmtree(work, ignore_errors=True)
            results.append((m, r))
            print(f"[{i}/{len(mutants)}] {m.id:34} {r.outcome:9} {r.seconds:6.0f} s  {r.first_failure or r.detail}", flush=True)
            if args.show_output:
                print(r.output[-6000:])
        total = time.monotonic() - start

    killed = sum(r.outcome == "killed" for _, r in results)
    survivors = [m.id for m, r in results if r.outcome == "survived"]
    errors = [m.id for m, r in results if r.outcome == "error"]
    print(f"\nscore: {killed}/{len(results)} killed; survived: {survivors or 'none'}; errors: {errors or 'none'}; "
          f"total {total:.0f} s")
    if not args.no_write:
        info = dict(
            date=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            source=source, command=command, profile=args.profile, seed=args.seed,
            workers=args.workers, tests=args.tests, deselect=args.deselect, total=total,
        )
        args.output.write_text(markdown(results, baseline, info))
        print(f"wrote {args.output}")
    return 0 if not survivors and not errors else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MutantError as exc:
        sys.exit(f"ci/mutants.py: {exc}")
