"""The mutant list in ci/mutants.toml stays valid, and the runner only ever
mutates a temporary copy. (The campaign itself runs with `python ci/mutants.py`,
never inside the test suite.)"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "ci" / "mutants.py"


def _load_runner():
    name = "_fftheory_ci_mutants"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, RUNNER)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


runner = _load_runner()
MUTANTS = runner.load_mutants()


def _hashes(root: Path) -> dict[str, str]:
    files = [p for name in ("fftheory", "tests") for p in (root / name).rglob("*.py")] + [root / "pyproject.toml"]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_snippet_occurs_exactly_once(mutant):
    assert runner.occurrences(mutant, ROOT) == 1, (
        f"{mutant.file} changed: update mutant {mutant.id!r} in ci/mutants.toml (snippet {mutant.find!r})"
    )


def test_mutants_cover_the_theory_engine():
    files = {m.file for m in MUTANTS}
    for f in ("fftheory/_theory.py", "fftheory/_predict.py", "fftheory/_checks.py", "fftheory/_harness.py",
              "fftheory/_rules.py", "fftheory/_losses.py"):
        assert f in files, f
    assert len({m.id for m in MUTANTS}) == len(MUTANTS)


def test_mutant_is_applied_to_a_copy_only(tmp_path):
    before = _hashes(ROOT)
    copy = runner.snapshot(ROOT, tmp_path / "copy")
    mutant = next(m for m in MUTANTS if m.id == "u-sign-flipped")
    runner.apply_mutant(mutant, copy)
    mutated = (copy / mutant.file).read_text()
    assert mutant.replace in mutated and mutant.find not in mutated
    assert _hashes(ROOT) == before
    changed = {f for f, h in _hashes(copy).items() if before.get(f) != h}
    assert changed == {mutant.file}


def test_every_mutant_applies_to_a_fresh_copy(tmp_path):
    base = runner.snapshot(ROOT, tmp_path / "base")
    before = _hashes(ROOT)
    for i, mutant in enumerate(MUTANTS):
        copy = tmp_path / f"m{i}"
        runner.shutil.copytree(base, copy)
        runner.apply_mutant(mutant, copy)
        assert (copy / mutant.file).read_text() != (base / mutant.file).read_text(), mutant.id
    assert _hashes(ROOT) == before


def test_refuses_to_mutate_the_repository():
    with pytest.raises(runner.MutantError, match="not a copy"):
        runner.apply_mutant(MUTANTS[0], ROOT)


@pytest.mark.parametrize("extra", ["", "{find}"])
def test_snippet_not_exactly_once_fails_loudly(tmp_path, extra):
    copy = runner.snapshot(ROOT, tmp_path / "copy")
    mutant = MUTANTS[0]
    target = copy / mutant.file
    text = target.read_text()
    # absent (removed) or duplicated
    target.write_text(text.replace(mutant.find, "") if not extra else text + "\n# " + mutant.find + "\n")
    with pytest.raises(runner.MutantError, match="exactly once"):
        runner.apply_mutant(mutant, copy)


def test_bad_mutant_lists_are_rejected(tmp_path):
    row = 'id = "a"\nfile = "fftheory/_theory.py"\nfind = "x"\nreplace = "y"\ndescription = "d"\n'
    dup = tmp_path / "dup.toml"
    dup.write_text(f"[[mutant]]\n{row}\n[[mutant]]\n{row}")
    with pytest.raises(runner.MutantError, match="duplicate"):
        runner.load_mutants(dup)
    outside = tmp_path / "outside.toml"
    outside.write_text("[[mutant]]\n" + row.replace("fftheory/_theory.py", "../elsewhere.py"))
    with pytest.raises(runner.MutantError, match="must be inside"):
        runner.load_mutants(outside)


def test_the_copy_is_what_gets_imported(tmp_path):
    copy = runner.snapshot(ROOT, tmp_path / "copy")
    assert runner.imported_from(copy) == (copy / "fftheory" / "__init__.py").resolve()


def test_first_failure_is_parsed_from_the_summary():
    out = (
        "..F\n=========================== short test summary info ============================\n"
        "FAILED tests/test_claims.py::test_claim[1b.sign] - Failed: claim 1b.sign fails: case 3\n"
        "FAILED tests/test_claims.py::test_claim[2a]\n"
        "!!!!!!!!!!!!!!!!!!!!!!!!!! stopping after 1 failures !!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    )
    assert runner.first_failure(out) == ("tests/test_claims.py::test_claim[1b.sign]", "Failed: claim 1b.sign fails: case 3")
    assert runner.first_failure("ERROR tests/test_x.py::test_y - fixture\n")[0] == "tests/test_x.py::test_y (error)"
    assert runner.first_failure("5 passed in 1.0s\n") is None
    spaced = "FAILED tests/test_v.py::test_w[nan-returned nan at h = ] - Failed: DID NOT RAISE\n"
    assert runner.first_failure(spaced) == ("tests/test_v.py::test_w[nan-returned nan at h = ]", "Failed: DID NOT RAISE")


def test_default_tests_leave_out_the_campaign_and_subprocess_files():
    tests = runner.default_tests(ROOT)
    assert tests[0] == "tests/test_claims.py"
    assert not any(Path(t).name in runner.EXCLUDED_TESTS for t in tests)


def test_exit_codes_are_classified():
    failed = "FAILED tests/test_claims.py::test_claim[1a] - x\n"
    assert runner.classify(0, "")[0] == "survived"
    assert runner.classify(1, failed)[0] == "killed"
    xdist_stop = failed + "!!! xdist.dsession.Interrupted: stopping after 1 failures !!!\n"
    assert runner.classify(2, xdist_stop)[0] == "killed"
    assert runner.classify(2, "ERROR tests/test_x.py\nInterrupted: 1 error during collection\n")[0] == "error"
    assert runner.classify(4, "usage")[0] == "error"
    assert runner.classify(None, "", 60) == ("error", "timeout after 60 s")
