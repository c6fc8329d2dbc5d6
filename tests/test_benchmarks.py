"""The benchmark runs, writes its figures, and compares like with like."""

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

import fftheory

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


def _load():
    spec = importlib.util.spec_from_file_location("fftheory_benchmarks_run", RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    threads = torch.get_num_threads()
    yield _load()
    torch.set_num_threads(threads)  # main() sets the thread count


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def test_smoke_run_writes_every_figure(bench, tmp_path, capsys):
    out = tmp_path / "results.json"
    assert bench.main(["--smoke", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "per-case loop" in printed
    r = json.loads(out.read_text())
    assert set(r) >= {"meta", "reference", "targets", "scaling", "variants", "verify", "mnist"}
    ref = r["reference"]
    for figure in (ref["baseline"], ref["engine"], ref["forward"], ref["lean_batched"]):
        assert _positive(figure["cases_per_s"]), figure
    assert ref["engine"]["by_batch"] and all(_positive(v["cases_per_s"]) for v in ref["engine"]["by_batch"].values())
    assert all(_positive(v) for v in ref["pieces"]["cpu_s"].values())
    inter = ref["interleaved"]
    assert len(inter["rounds"]) >= 1
    for key in ("loop_cases_per_s", "engine_cases_per_s", "forward_cases_per_s", "engine_vs_loop", "engine_vs_forward"):
        assert _positive(inter[key]), key
    for key in ("engine_vs_loop", "engine_vs_forward", "cases_per_s_2_cores"):
        assert _positive(r["targets"][key]["ratio"]) and _positive(r["targets"][key]["target"])
    for dim in ("N", "n", "m"):
        d = r["scaling"][dim]
        assert len(d["sizes"]) == len(d["engine_cpu_s"]) >= 3
        assert all(_positive(t) for t in d["engine_cpu_s"] + d["forward_cpu_s"])
        assert math.isfinite(d["exponent_engine"]) and math.isfinite(d["exponent_forward"])
    (profile,) = [k for k, v in r["variants"].items() if isinstance(v, dict) and "variants" in v]
    for row in r["variants"][profile]["variants"].values():
        assert _positive(row["cpu_s"]) and _positive(row["cases_tried"]) and _positive(row["claims"])
    v = r["verify"]
    assert _positive(v["cases_tried"]) and _positive(v["cases_per_s"])
    assert _positive(v["thorough"]["estimated_cpu_s"]) and _positive(v["thorough"]["cases_total_upper_bound"])
    assert r["mnist"]["measured"] is False and r["mnist"]["reason"]


CASES = [
    dict(n_points=16, n_in=20, n_units=50),  # the reference shape
    dict(n_points=16, n_in=20, n_units=50, inputs="signed"),  # some signs undecided
    dict(n_points=6, n_in=8, n_units=10, inputs="signed", eta_fraction=0.9, normalise=True),
    dict(n_points=24, n_in=12, n_units=30, design="gaussian", inputs="signed"),
]


@pytest.mark.parametrize("shape", CASES, ids=lambda s: "-".join(f"{v}" for v in s.values()))
def test_loop_and_engine_make_the_same_decisions(bench, shape):
    case = fftheory.build(fftheory.CaseSpec(**shape, seed=11, count=5))
    engine = bench.engine_point_decisions(case)
    loop = bench.baseline_loop(case)
    assert len(loop) == 5 and loop[0]["decided"].shape == (shape["n_points"], 4)  # really one case at a time
    torch.testing.assert_close(torch.stack([c["eta"] for c in loop]), engine["eta"], rtol=1e-12, atol=0)
    for key in ("decided", "agreed", "bound_applicable", "bound_ok"):
        looped = torch.stack([c[key] for c in loop])
        assert torch.equal(looped, engine[key]), f"{key}: loop and engine differ at {torch.nonzero(looped != engine[key])[:5].tolist()}"
    # The engine's own aggregates (what the benchmark times) agree with the per-point masks.
    assert engine["sign"].decided.tolist() == engine["decided"].flatten(1).sum(1).tolist()
    assert engine["sign"].agreed.tolist() == engine["agreed"].flatten(1).sum(1).tolist()
    assert engine["bound"].decided.tolist() == engine["bound_applicable"].flatten(1).sum(1).tolist()
    assert engine["bound"].agreed.tolist() == engine["bound_ok"].flatten(1).sum(1).tolist()
    assert engine["decided"].any(), "nothing decided: the comparison would be vacuous"


def test_decisions_are_not_trivial_somewhere(bench):
    """At least one case set leaves some signs undecided, so a loop that decided
    everything (or nothing) would fail the comparison above."""
    case = fftheory.build(fftheory.CaseSpec(**CASES[1], seed=11, count=5))
    decided = bench.engine_point_decisions(case)["decided"]
    assert decided.any() and not decided.all()


def test_the_lean_batched_body_matches_the_loop(bench):
    case = fftheory.build(fftheory.CaseSpec(**CASES[1], seed=3, count=4))
    lean = bench.theorem1_check(case.W, case.X, case.spec.eta_fraction)
    loop = bench.baseline_loop(case)
    for key in ("decided", "agreed", "bound_ok"):
        assert torch.equal(lean[key], torch.stack([c[key] for c in loop]))
