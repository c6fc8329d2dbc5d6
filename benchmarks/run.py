"""Throughput benchmarks for fftheory (see benchmarks/README.md).

    python benchmarks/run.py [--quick | --smoke] [--json PATH] [--threads T] [--skip-mnist] [--compile]

Measures, in one run:
  1. Theorem 1 check (batch-decrease, sum-of-squares goodness) at the reference
     shape N=16 points, m=20 inputs, n=50 units, float64: a plain per-case loop
     (`theorem1_check`, below) against the engine (`take_step` + `sign_outcomes`
     + `bound_outcomes` on B cases at once), plus where the engine's time goes.
  2. A bare batched forward pass (X W^T, ReLU) as the floor.
  3. How the engine's time grows with N, n and m (fitted log-log exponents).
  4. `fftheory check` time per catalogue variant (quick and ci profiles).
  5. `fftheory verify` cases per second (ci) and an extrapolation of thorough.
  6. The MNIST reproduction's training vs theory-tracking time, if available.

Timings are medians over repeats of both wall-clock and process CPU time. The
machine is shared, so throughputs are computed from CPU time with torch on
`--threads` threads (default 1); wall-clock figures are kept alongside.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import scipy.stats
import torch

import fftheory
from fftheory import _checks as C
from fftheory import _step as S
from fftheory._memory import tune_allocator
from fftheory._model import layer
from fftheory._rules import RULES
from fftheory._tolerance import TOLERANCES

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results.json"
REFERENCE = dict(n_points=16, n_in=20, n_units=50)
QUANTITIES = ("goodness", "l1", "l2", "hoyer")
TARGETS = dict(engine_vs_loop=15.0, engine_vs_forward=0.2, cases_per_s_2_cores=10_000.0)
DEC = RULES["batch-decrease"]


# --------------------------------------------------------------------------- the plain loop (baseline)

def theorem1_check(W: torch.Tensor, X: torch.Tensor, eta_fraction: float, gradient: str = "autograd") -> dict:
    """The Theorem 1 check on one case, written plainly: W (n, m), X (N, m).

    (The body also broadcasts over a leading case dimension; the baseline calls
    it one case at a time, the "lean batched" figure calls it once on B cases.)

    Steps: closed-form first-order prediction (u_k = sum_i a_ik h_i), the real
    batch-decrease update (autograd gradient of L = sum of squared activations),
    observed changes of goodness, L1, L2, Hoyer, the rigorous error bound, and
    the decisions: sign agreement wherever |prediction| > bound + rounding, and
    |observed - predicted| < bound + rounding. Constants and formulas are those
    of fftheory (step_scale, remainder_bound, error_bound, rounding), so both
    make the same decisions on the same case.

    gradient="analytic" takes dL/dW = 2 H^T X instead of autograd (for the
    torch.compile what-if, which cannot trace autograd.grad).
    """
    n = W.shape[-2]
    root = math.sqrt(n)
    Z = X @ W.transpose(-1, -2)
    H = torch.relu(Z)
    M = (Z > 0).to(Z.dtype)
    # The real update's gradient: L = sum of squared activations over the batch.
    if gradient == "analytic":
        grad = 2 * H.transpose(-1, -2) @ X
    else:
        Wg = W.detach().requires_grad_(True)
        loss = torch.relu(X @ Wg.transpose(-1, -2)).square().sum()
        (grad,) = torch.autograd.grad(loss, Wg)
    V = -X @ grad.transpose(-1, -2)  # dz per unit eta (the general lemma)
    # Theorem 1's closed form.
    A = X @ X.transpose(-1, -2)
    U = A @ H
    L1, L2 = H.abs().sum(-1), torch.linalg.vector_norm(H, dim=-1)
    # Step size: eta_fraction x (no-crossing bound, capped where a step would be as long as h).
    toward_zero = (Z * V < 0) | ((Z == 0) & (V > 0))
    crossing = torch.where(toward_zero, Z.abs() / V.abs().clamp_min(1e-300), math.inf).amin((-1, -2))
    pull = A.abs() @ (2 * L2)[..., None]
    length = torch.where(L1 > 0, L2 / pull[..., 0].clamp_min(1e-300), math.inf).amin(-1)
    scale = torch.minimum(crossing, length)
    scale = torch.where(torch.isfinite(scale), scale, torch.ones_like(scale))
    eta = eta_fraction * scale
    # The real step, and what it did.
    W_new = W - eta[..., None, None] * grad
    Z_new = X @ W_new.transpose(-1, -2)
    H_new = torch.relu(Z_new)
    L1_new, L2_new = H_new.abs().sum(-1), torch.linalg.vector_norm(H_new, dim=-1)
    before = {"goodness": H.square().sum(-1), "l1": L1, "l2": L2, "hoyer": (root - L1 / L2) / (root - 1)}
    after = {"goodness": H_new.square().sum(-1), "l1": L1_new, "l2": L2_new,
             "hoyer": (root - L1_new / L2_new) / (root - 1)}
    observed = {q: after[q] - before[q] for q in QUANTITIES}
    # Theorem 1b: first-order predictions.
    e = eta[..., None]
    hu, mu = (H * U).sum(-1), (M * U).sum(-1)
    predicted = {
        "goodness": -4 * e * hu,
        "l1": -2 * e * mu,
        "l2": -2 * e * hu / L2,
        "hoyer": 2 * e / ((root - 1) * L2) * (mu - L1 / L2**2 * hu),
    }
    # Error bound: second-order remainder along the real step + |grad q| x the part the prediction misses.
    dH = H_new - H
    step = torch.linalg.vector_norm(dH, dim=-1)
    rho = L2 - step
    rho = torch.where(rho > 0, rho, math.nan)
    b = dH.sum(-1).abs()
    r2 = 2 * b * step / rho**2 + 2 * (L1 + b) * step**2 / rho**3
    remainder = {"goodness": step**2, "l1": torch.zeros_like(step), "l2": step**2 / (2 * rho),
                 "hoyer": r2 / (2 * (root - 1))}
    missed = torch.linalg.vector_norm(dH - eta[..., None, None] * M * V, dim=-1)
    S = torch.sign(H)
    grad_norm = {
        "goodness": torch.linalg.vector_norm(2 * H, dim=-1),
        "l1": torch.linalg.vector_norm(S, dim=-1),
        "l2": torch.linalg.vector_norm(H / L2[..., None], dim=-1),
        "hoyer": torch.linalg.vector_norm(S / L2[..., None] - (L1 / L2**3)[..., None] * H, dim=-1) / (root - 1),
    }
    # Rounding allowance: fftheory's "rounding" tolerance, atol + rtol x size.
    tol = TOLERANCES["rounding"]
    # Rounding of z scales with sum_j |x_kj| (|w_pj| + |w'_pj|) <= ||x_k|| (||w_p|| + ||w'_p||).
    z_size = torch.linalg.vector_norm(X, dim=-1).amax(-1) * (
        torch.linalg.vector_norm(W, dim=-1) + torch.linalg.vector_norm(W_new, dim=-1)).amax(-1)
    z_round = (tol.atol + tol.rtol * z_size)[..., None]
    crossed = ((Z > 0) != (Z_new > 0)).any(-1)
    clean = ~crossed & (L1 > 0)
    decided, agreed, bound_applicable, bound_ok = [], [], [], []
    for q in QUANTITIES:
        bound = torch.nan_to_num(remainder[q] + grad_norm[q] * missed, nan=math.inf)
        rounding = (tol.atol + tol.rtol * torch.nan_to_num(before[q].abs() + after[q].abs())) + torch.nan_to_num(
            grad_norm[q] * root * z_round
        )
        allowed = bound + rounding
        d = clean & (predicted[q].abs() > allowed)
        decided.append(d)
        agreed.append(d & (observed[q] * torch.sign(predicted[q]) > 0))
        err = (observed[q] - predicted[q]).abs()
        applicable = clean & torch.isfinite(bound) & ~torch.isnan(err)
        bound_applicable.append(applicable)
        bound_ok.append(applicable & (err < allowed))
    return {
        "eta": eta,
        "decided": torch.stack(decided, -1),
        "agreed": torch.stack(agreed, -1),
        "bound_applicable": torch.stack(bound_applicable, -1),
        "bound_ok": torch.stack(bound_ok, -1),
    }


def baseline_loop(case: fftheory.Case) -> list[dict]:
    """The obvious loop: one case at a time, no case dimension."""
    frac = case.spec.eta_fraction
    return [theorem1_check(case.W[b], case.X[b], frac) for b in range(case.W.shape[0])]


# --------------------------------------------------------------------------- the engine

def engine_check(case: fftheory.Case) -> tuple[C.Outcomes, C.Outcomes]:
    """The package's batched Theorem 1 check on all B cases at once."""
    step = S.take_step(case, DEC)
    return C.sign_outcomes(step), C.bound_outcomes(step)


def engine_point_decisions(case: fftheory.Case) -> dict:
    """The engine's per-point decisions (B, N, 4), built from its Step as sign_outcomes
    and bound_outcomes build them; plus the aggregated Outcomes."""
    step = S.take_step(case, DEC)
    decided, agreed, applicable, ok = [], [], [], []
    for q in QUANTITIES:
        pred, obs = step.closed[q], step.obs.changes[q]
        allowed = step.bound[q] + S.rounding(step, q)
        d = step.clean & (pred.abs() > allowed)
        decided.append(d)
        agreed.append(d & (obs * torch.sign(pred) > 0))
        err = (obs - pred).abs()
        a = step.clean & torch.isfinite(step.bound[q]) & ~torch.isnan(err)
        applicable.append(a)
        ok.append(a & (err < allowed))
    return {
        "eta": step.eta,
        "decided": torch.stack(decided, -1),
        "agreed": torch.stack(agreed, -1),
        "bound_applicable": torch.stack(applicable, -1),
        "bound_ok": torch.stack(ok, -1),
        "sign": C.sign_outcomes(step),
        "bound": C.bound_outcomes(step),
    }


def forward(case: fftheory.Case) -> torch.Tensor:
    """The floor: one batched forward pass."""
    return torch.relu(case.X @ case.W.transpose(-1, -2))


# --------------------------------------------------------------------------- timing

def load() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def timed(fn, *, repeats: int, inner: int = 1, warmup: int = 1) -> dict:
    """Median (and min) wall and CPU seconds of one call of fn, over `repeats` runs of `inner` calls."""
    for _ in range(warmup):
        fn()
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        for _ in range(inner):
            fn()
        walls.append((time.perf_counter() - w) / inner)
        cpus.append((time.process_time() - c) / inner)
    return {
        "wall_s": statistics.median(walls),
        "cpu_s": statistics.median(cpus),
        "wall_min_s": min(walls),
        "cpu_min_s": min(cpus),
        "repeats": repeats,
        "inner": inner,
    }


def rate(t: dict, cases: int) -> dict:
    """Cases per second from a timing, by CPU time (primary) and wall-clock."""
    return dict(t, cases=cases, cases_per_s=cases / max(t["cpu_s"], 1e-9), cases_per_s_wall=cases / max(t["wall_s"], 1e-9))


def build(count: int, seed: int = 0, **shape) -> fftheory.Case:
    return fftheory.build(fftheory.CaseSpec(**{**REFERENCE, **shape}, seed=seed, count=count))


# --------------------------------------------------------------------------- sections

def section_reference(cfg: dict) -> dict:
    out: dict = {"shape": dict(REFERENCE), "load_before": load()}
    # (a) the loop
    case = build(cfg["loop_cases"], seed=1)
    out["baseline"] = rate(timed(lambda: baseline_loop(case), repeats=cfg["repeats"]), cfg["loop_cases"])
    # (b) the engine at several B, and the floor at the same B
    engine, floor, lean = {}, {}, {}
    for B in cfg["batches"]:
        case = build(B, seed=2)
        reps = cfg["repeats"] if B <= 1024 else max(2, cfg["repeats"] // 2)
        engine[B] = rate(timed(lambda: engine_check(case), repeats=reps), B)
        inner = max(1, 20_000 // B)
        floor[B] = rate(timed(lambda: forward(case), repeats=max(5, cfg["repeats"]), inner=inner), B)
        lean[B] = rate(timed(lambda: theorem1_check(case.W, case.X, case.spec.eta_fraction), repeats=reps), B)
    best = max(engine, key=lambda B: engine[B]["cases_per_s"])
    out["engine"] = {"by_batch": {str(B): v for B, v in engine.items()}, "best_batch": best,
                     "cases_per_s": engine[best]["cases_per_s"]}
    out["forward"] = {"by_batch": {str(B): v for B, v in floor.items()}, "cases_per_s": floor[best]["cases_per_s"],
                      "at_batch": best}
    lean_best = max(lean, key=lambda B: lean[B]["cases_per_s"])
    out["lean_batched"] = {"by_batch": {str(B): v for B, v in lean.items()}, "best_batch": lean_best,
                           "cases_per_s": lean[lean_best]["cases_per_s"]}
    out["interleaved"] = interleaved(best, cfg)
    if cfg.get("compile"):
        out["compiled_lean"] = compiled_lean(lean_best, cfg)
    # Where the engine's time goes, at the best batch.
    out["pieces"] = engine_pieces(build(best, seed=2), cfg)
    # With torch on 2 threads (wall-clock; meaningless on a loaded machine, kept for the record).
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        case = build(best, seed=2)
        out["engine_2_threads"] = rate(timed(lambda: engine_check(case), repeats=cfg["repeats"]), best)
    finally:
        torch.set_num_threads(threads)
    out["load_after"] = load()
    return out


def interleaved(B: int, cfg: dict) -> dict:
    """Ratios measured round by round (loop, engine at B, forward at B in turn), so each
    ratio sees the same machine load; medians over rounds."""
    loop_case, case = build(cfg["loop_cases"], seed=1), build(B, seed=2)
    inner = max(1, 20_000 // B)
    rounds = []
    for _ in range(cfg["rounds"]):
        loop = rate(timed(lambda: baseline_loop(loop_case), repeats=1), cfg["loop_cases"])["cases_per_s"]
        engine = rate(timed(lambda: engine_check(case), repeats=1), B)["cases_per_s"]
        floor = rate(timed(lambda: forward(case), repeats=3, inner=inner), B)["cases_per_s"]
        rounds.append(dict(loop=loop, engine=engine, forward=floor, load=load()[:1]))
    med = lambda xs: statistics.median(xs)  # noqa: E731
    return {
        "batch": B,
        "rounds": rounds,
        "loop_cases_per_s": med([r["loop"] for r in rounds]),
        "engine_cases_per_s": med([r["engine"] for r in rounds]),
        "forward_cases_per_s": med([r["forward"] for r in rounds]),
        "engine_vs_loop": med([r["engine"] / r["loop"] for r in rounds]),
        "engine_vs_forward": med([r["engine"] / r["forward"] for r in rounds]),
    }


def compiled_lean(B: int, cfg: dict) -> dict:
    """What-if: the lean body (analytic gradient) under torch.compile (inductor, CPU)."""
    case = build(B, seed=2)
    fn = torch.compile(theorem1_check, dynamic=False)
    w = time.perf_counter()
    got = fn(case.W, case.X, case.spec.eta_fraction, "analytic")
    compile_s = time.perf_counter() - w
    want = theorem1_check(case.W, case.X, case.spec.eta_fraction)
    same = all(torch.equal(got[k], want[k]) for k in ("decided", "agreed", "bound_applicable", "bound_ok"))
    t = rate(timed(lambda: fn(case.W, case.X, case.spec.eta_fraction, "analytic"), repeats=cfg["repeats"]), B)
    return dict(t, batch=B, compile_wall_s=compile_s, same_decisions_as_loop=same)


def engine_pieces(case: fftheory.Case, cfg: dict) -> dict:
    """CPU seconds of the pieces of take_step + sign_outcomes + bound_outcomes on one batch.

    Each derived field of a Step is computed on first use and cached, so each
    piece is timed on a fresh Step with the fields it reads already computed."""
    g = fftheory.sum_of_squares
    W, X = case.W, case.X

    def fresh(*fields):
        step = S.take_step(case, DEC)
        for f in fields:
            getattr(step, f)
        return step

    def piece(fn, *fields):
        steps = iter([fresh(*fields) for _ in range(reps + 1)])
        return timed(lambda: fn(next(steps)), repeats=reps)["cpu_s"]

    reps = max(3, cfg["repeats"])
    grad = lambda: fftheory._rules.weight_gradient(  # noqa: E731
        DEC.first_order_objective, W, X, goodness=g, positive=case.positive, theta=case.theta)
    pieces = {
        "take_step (forward, W-gradient, step size, real step, observe)": timed(
            lambda: S.take_step(case, DEC), repeats=reps)["cpu_s"],
        "  layer (forward)": timed(lambda: layer(W, X), repeats=reps)["cpu_s"],
        "  weight_gradient (autograd)": timed(grad, repeats=reps)["cpu_s"],
        "closed forms (u_k, first-order changes)": piece(lambda s: s.closed),
        "gradient norms (bounds, rounding)": piece(lambda s: s.grad_norms),
        "error bound": piece(lambda s: s.bound, "grad_norms", "dH_predicted"),
        "sign_outcomes (cached fields)": piece(C.sign_outcomes, "closed", "bound", "z_size"),
        "bound_outcomes (cached fields)": piece(C.bound_outcomes, "closed", "bound", "z_size"),
        "JVP prediction (not read by sign/bound)": piece(lambda s: s.autograd, "dH_predicted"),
    }
    return {"batch": W.shape[0], "cpu_s": pieces}


def fit_exponent(sizes: list[int], seconds: list[float]) -> float:
    return float(scipy.stats.linregress([math.log(s) for s in sizes], [math.log(t) for t in seconds]).slope)


# Expected growth of the engine: forward/update ~ N n m; Gram terms X X^T ~ N^2 m, A H ~ N^2 n.
EXPECTED = {"N": 2.0, "n": 1.0, "m": 1.0}
SLACK = 0.15


def section_scaling(cfg: dict) -> dict:
    out: dict = {"batch": cfg["scaling_batch"], "design": "gaussian", "load_before": load()}
    base = dict(n_points=REFERENCE["n_points"], n_in=REFERENCE["n_in"], n_units=REFERENCE["n_units"])
    for dim, key in (("N", "n_points"), ("n", "n_units"), ("m", "n_in")):
        sizes = [max(1, round(base[key] * f)) for f in cfg["scaling_factors"]]
        engine_s, forward_s = [], []
        for s in sizes:
            spec = fftheory.CaseSpec(**{**base, key: s}, seed=3, count=cfg["scaling_batch"], design="gaussian")
            case = fftheory.build(spec)
            engine_s.append(timed(lambda: engine_check(case), repeats=cfg["scaling_repeats"])["cpu_s"])
            forward_s.append(timed(lambda: forward(case), repeats=cfg["scaling_repeats"], inner=10)["cpu_s"])
        exp_engine, exp_forward = fit_exponent(sizes, engine_s), fit_exponent(sizes, forward_s)
        tail = slice(-3, None)
        exp_tail = fit_exponent(sizes[tail], engine_s[tail]) if len(sizes) >= 3 else exp_engine
        exp_relative = fit_exponent(sizes, [e / f for e, f in zip(engine_s, forward_s)])
        flags = []
        if max(exp_engine, exp_tail) > EXPECTED[dim] + SLACK:
            flags.append(f"engine grows faster than size^{EXPECTED[dim]:g} in {dim}")
        if exp_forward > 1 + SLACK:
            flags.append(f"forward grows faster than linear in {dim} (same work per element: the memory "
                         "hierarchy, working set past L2, not the algorithm)")
        out[dim] = {"sizes": sizes, "engine_cpu_s": engine_s, "forward_cpu_s": forward_s,
                    "exponent_engine": exp_engine, "exponent_engine_largest3": exp_tail,
                    "exponent_forward": exp_forward,
                    "exponent_engine_over_forward": exp_relative, "expected_at_most": EXPECTED[dim], "flags": flags}
    out["load_after"] = load()
    return out


def section_variants(cfg: dict) -> dict:
    import fftheory._check_variant as CV

    out: dict = {"load_before": load(), "not_run": [n for n in fftheory.CATALOGUE if n not in cfg["variants"]]}
    original = CV.run_claim
    for profile in cfg["variant_profiles"]:
        rows = {}
        for name in cfg["variants"]:
            per_claim: dict[str, float] = {}

            def timed_run_claim(claim, **kw):
                c = time.process_time()
                verdict = original(claim, **kw)
                per_claim[claim.id] = time.process_time() - c
                return verdict

            CV.run_claim = timed_run_claim
            try:
                w, c = time.perf_counter(), time.process_time()
                report = fftheory.check_variant(fftheory.CATALOGUE[name], profile=profile, seed=0)
                wall, cpu = time.perf_counter() - w, time.process_time() - c
            finally:
                CV.run_claim = original
            cases = sum(v.cases_tried for _, v in report.rows)
            slowest = sorted(per_claim.items(), key=lambda kv: -kv[1])[:3]
            rows[name] = {"wall_s": wall, "cpu_s": cpu, "claims": len(report.rows), "cases_tried": cases,
                          "exit_code": report.exit_code, "slowest_claims_cpu_s": dict(slowest),
                          "taylor_rows_cpu_s": sum(t for k, t in per_claim.items() if k.endswith(".taylor"))}
        pname = profile if isinstance(profile, str) else profile.name
        out[pname] = {"variants": rows, "total_cpu_s": sum(r["cpu_s"] for r in rows.values()),
                      "total_wall_s": sum(r["wall_s"] for r in rows.values())}
    if "ci" in out:
        # A thorough check per variant takes minutes; scale the ci run by the profiles' case counts.
        ci, thorough = fftheory.PROFILES["ci"], fftheory.PROFILES["thorough"]
        factor = (thorough.max_examples * thorough.count) / (ci.max_examples * ci.count)
        out["thorough (estimated)"] = {
            "factor_over_ci": factor,
            "estimated_cpu_s": {n: r["cpu_s"] * factor for n, r in out["ci"]["variants"].items()},
            "estimated_cases": {n: round(r["cases_tried"] * factor) for n, r in out["ci"]["variants"].items()},
        }
    out["load_after"] = load()
    return out


def section_verify(cfg: dict) -> dict:
    from fftheory._harness import run_claim

    claims = [c for c in fftheory.CLAIMS if cfg["claims"] is None or c.id in cfg["claims"]]
    out: dict = {"profile": cfg["verify_profile"] if isinstance(cfg["verify_profile"], str) else cfg["verify_profile"].name,
                 "load_before": load()}
    per = {}
    w, c = time.perf_counter(), time.process_time()
    for claim in claims:
        c1 = time.process_time()
        v = run_claim(claim, profile=cfg["verify_profile"])
        per[claim.id] = {"cpu_s": time.process_time() - c1, "cases_tried": v.cases_tried, "status": v.status}
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    cases = sum(p["cases_tried"] for p in per.values())
    out.update(claims=len(claims), cases_tried=cases, wall_s=wall, cpu_s=cpu, cases_per_s=cases / max(cpu, 1e-9),
               cases_per_s_wall=cases / max(wall, 1e-9), per_claim=per)
    # Thorough: time a few examples per claim at its count, extrapolate to max_examples.
    thorough = fftheory.PROFILES["thorough"]
    sample = fftheory.Profile("thorough-sample", max_examples=cfg["thorough_sample"], count=thorough.count,
                              derandomize=True)
    est, total_cases, sample_cpu, stops_early = 0.0, 0, 0.0, []
    for claim in claims:
        c1 = time.process_time()
        v = run_claim(claim, profile=sample)
        t = time.process_time() - c1
        sample_cpu += t
        full_cases = thorough.count * (thorough.max_examples + len(claim.examples))
        if claim.expect == "counterexample":
            # Stops at the first counterexample (and shrinks it): the sample run is the estimate.
            est += t
            stops_early.append(claim.id)
            total_cases += full_cases  # upper bound
        else:
            est += t / max(v.cases_tried, 1) * full_cases
            total_cases += full_cases
    out["thorough"] = {"max_examples": thorough.max_examples, "count": thorough.count,
                       "sample_examples": cfg["thorough_sample"], "sample_cpu_s": sample_cpu,
                       "estimated_cpu_s": est, "cases_total_upper_bound": total_cases,
                       "stop_at_counterexample": stops_early}
    out["load_after"] = load()
    return out


def _timings(obj, prefix=""):
    """Every numeric '*_s' entry of a results dict (recursively)."""
    found = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and str(k).endswith("_s"):
                found[prefix + str(k)] = float(v)
            elif isinstance(v, dict):
                found.update(_timings(v, prefix + str(k) + "."))
    return found


def section_mnist(cfg: dict) -> dict:
    if not cfg["mnist"]:
        return {"measured": False, "reason": cfg["mnist_skip_reason"]}
    try:
        from fftheory.experiments import mnist
    except Exception as exc:  # not there (yet), or broken
        return {"measured": False, "reason": f"fftheory.experiments.mnist not importable: {type(exc).__name__}: {exc}"}
    if not hasattr(mnist, "reproduce"):
        return {"measured": False, "reason": "fftheory.experiments.mnist has no reproduce"}
    params = inspect.signature(mnist.reproduce).parameters
    with tempfile.TemporaryDirectory() as tmp:
        kw = {k: v for k, v in dict(quick=True, out=tmp, progress=False).items() if k in params}
        w, c = time.perf_counter(), time.process_time()
        mnist.reproduce(**kw)
        wall, cpu = time.perf_counter() - w, time.process_time() - c
        path = Path(tmp) / "results.json"
        timings = _timings(json.loads(path.read_text())) if path.exists() else {}
    out = {"measured": True, "wall_s": wall, "cpu_s": cpu, "reported_timings_s": timings}
    train = next((v for k, v in timings.items() if k.endswith("train_s")), None)
    theory = next((v for k, v in timings.items() if k.endswith("theory_s")), None)
    if train and theory is not None:
        out["theory_over_training"] = theory / train
    if not timings:
        out["note"] = "results.json reports no *_s timings: training vs theory split not measured"
    return out


# --------------------------------------------------------------------------- configuration and report

def catalogue_variants() -> list[str]:
    """Catalogue names, skipping aliases (an entry equal to an earlier one but for its name)."""
    names, seen = [], []
    for name, v in fftheory.CATALOGUE.items():
        plain = dataclasses.replace(v, name="", description="")
        if plain not in seen:
            names.append(name)
            seen.append(plain)
    return names


def config(mode: str) -> dict:
    smoke = fftheory.Profile("smoke", max_examples=1, count=2, derandomize=True)
    if mode == "smoke":
        return dict(mode=mode, loop_cases=3, batches=[4, 16], repeats=1, scaling_batch=4,
                    scaling_factors=[0.5, 1, 2], scaling_repeats=1, variant_profiles=[smoke],
                    variants=["sum-of-squares"], verify_profile=smoke, claims=("1b.sign", "1e.self"),
                    thorough_sample=1, mnist=False, mnist_skip_reason="skipped (--smoke)", rounds=2)
    if mode == "quick":
        return dict(mode=mode, loop_cases=32, batches=[64, 256, 1024], repeats=3, scaling_batch=128,
                    scaling_factors=[0.5, 1, 2, 4], scaling_repeats=2, variant_profiles=["quick"],
                    variants=["sum-of-squares", "l1"], verify_profile="ci", claims=None, thorough_sample=1,
                    mnist=False, mnist_skip_reason="skipped (--quick)", rounds=5)
    return dict(mode=mode, loop_cases=128, batches=[64, 256, 1024, 4096], repeats=5, scaling_batch=256,
                scaling_factors=[0.5, 1, 2, 4, 8], scaling_repeats=3, variant_profiles=["quick", "ci"],
                variants=catalogue_variants(), verify_profile="ci", claims=None, thorough_sample=3,
                mnist=True, mnist_skip_reason="", rounds=9)


def targets(ref: dict) -> dict:
    inter = ref["interleaved"]
    engine = ref["engine"]["cases_per_s"]
    two_cores = 2 * engine if torch.get_num_threads() == 1 else engine
    how = "median over interleaved rounds (loop, engine, forward in turn) at B=%d" % inter["batch"]
    return {
        "engine_vs_loop": {"ratio": inter["engine_vs_loop"], "target": TARGETS["engine_vs_loop"], "how": how},
        "engine_vs_forward": {"ratio": inter["engine_vs_forward"], "target": TARGETS["engine_vs_forward"], "how": how},
        "cases_per_s_2_cores": {"value": two_cores, "target": TARGETS["cases_per_s_2_cores"],
                                "ratio": two_cores / TARGETS["cases_per_s_2_cores"],
                                "how": "2 x single-thread CPU-time rate (independent cases, 2 worker processes)"
                                if torch.get_num_threads() == 1 else "measured with torch threads > 1"},
    }


def table(results: dict) -> str:
    lines = []

    def row(name, value, unit="", note=""):
        lines.append(f"{name:<52} {value:>14} {unit:<10} {note}")

    def num(v, fmt=",.0f"):
        return "-" if v is None else format(v, fmt)

    meta = results["meta"]
    lines.append(f"fftheory benchmarks ({meta['mode']}; torch {meta['torch']} on {meta['threads']} thread(s); "
                 f"allocator tuned: {meta['allocator_tuned']}; load {meta['load_start']} -> {meta['load_end']})")
    lines.append("=" * 100)
    ref = results["reference"]
    lines.append(f"1-2. Theorem 1 check at N={REFERENCE['n_points']}, m={REFERENCE['n_in']}, n={REFERENCE['n_units']} "
                 "(cases/s by CPU time; wall in brackets)")
    row("(a) per-case loop", num(ref["baseline"]["cases_per_s"]), "cases/s", f"[{num(ref['baseline']['cases_per_s_wall'])}]")
    for B, v in ref["engine"]["by_batch"].items():
        row(f"(b) engine, B={B}", num(v["cases_per_s"]), "cases/s", f"[{num(v['cases_per_s_wall'])}]")
    row("(b) engine, best", num(ref["engine"]["cases_per_s"]), "cases/s", f"B={ref['engine']['best_batch']}")
    row("    engine, 2 torch threads (wall, loaded machine)", num(ref["engine_2_threads"]["cases_per_s_wall"]), "cases/s")
    row("    what-if: the loop's body batched (lean)", num(ref["lean_batched"]["cases_per_s"]), "cases/s",
        f"B={ref['lean_batched']['best_batch']}")
    if "compiled_lean" in ref:
        c = ref["compiled_lean"]
        row("    what-if: lean body, analytic grad, torch.compile", num(c["cases_per_s"]), "cases/s",
            f"B={c['batch']}; compile {c['compile_wall_s']:.0f} s; same decisions: {c['same_decisions_as_loop']}")
    it = ref["interleaved"]
    row(f"    interleaved rounds at B={it['batch']}: loop", num(it["loop_cases_per_s"]), "cases/s")
    row(f"    interleaved rounds at B={it['batch']}: engine", num(it["engine_cases_per_s"]), "cases/s")
    row(f"    interleaved rounds at B={it['batch']}: forward", num(it["forward_cases_per_s"]), "cases/s")
    for B, v in ref["forward"]["by_batch"].items():
        row(f"(2) bare forward X W^T + ReLU, B={B}", num(v["cases_per_s"]), "cases/s")
    lines.append("   where the engine's time goes (CPU ms at B=%d):" % ref["pieces"]["batch"])
    for k, v in ref["pieces"]["cpu_s"].items():
        row("     " + k, num(1e3 * v, ".1f"), "ms")
    lines.append("")
    lines.append("Targets (measured in this run)")
    for k, v in results["targets"].items():
        value = f"{v['ratio']:.3g}x" if "value" not in v else f"{v['value']:,.0f}"
        ok = "met" if v["ratio"] >= (1 if "value" in v else v["target"]) else "MISSED"
        row("  " + k, value, "", f"target {v['target']:g}: {ok} ({v['how']})")
    lines.append("")
    sc = results["scaling"]
    lines.append(f"3. Growth with size (B={sc['batch']}, {sc['design']} design; log-log slope of CPU time)")
    for dim in ("N", "n", "m"):
        d = sc[dim]
        row(f"  {dim} over {d['sizes']}",
            f"{d['exponent_engine']:.2f}", "engine", f"largest 3: {d['exponent_engine_largest3']:.2f}; forward "
            f"{d['exponent_forward']:.2f}; engine/forward {d['exponent_engine_over_forward']:+.2f}; "
            f"expected <= {d['expected_at_most']:g} {'; FLAG: ' + ', '.join(d['flags']) if d['flags'] else ''}")
        ratios = ", ".join(f"{f / e:.3f}" for f, e in zip(d["forward_cpu_s"], d["engine_cpu_s"]))
        row(f"    engine throughput / forward throughput by {dim}", "", "", ratios)
    lines.append("")
    va = results["variants"]
    for prof, data in va.items():
        if not isinstance(data, dict) or "variants" not in data:
            continue
        lines.append(f"4. fftheory check, profile {prof} (CPU s; wall in brackets)")
        for name, r in data["variants"].items():
            row(f"  {name}", num(r["cpu_s"], ".1f"), "s", f"[{r['wall_s']:.1f}] {r['cases_tried']} cases, "
                f"{r['claims']} rows, taylor rows {r['taylor_rows_cpu_s']:.1f} s, exit {r['exit_code']}")
        row("  total", num(data["total_cpu_s"], ".1f"), "s", f"[{data['total_wall_s']:.1f}]")
    if "thorough (estimated)" in va:
        th = va["thorough (estimated)"]
        lines.append(f"4. fftheory check, profile thorough (estimated: ci CPU time x {th['factor_over_ci']:.0f}, "
                     "the ratio of the profiles' cases)")
        for name, cpu in th["estimated_cpu_s"].items():
            row(f"  {name}", num(cpu, ".0f"), "s", f"~{num(th['estimated_cases'][name])} cases")
        row("  total", num(sum(th["estimated_cpu_s"].values()), ".0f"), "s")
    lines.append("")
    ve = results["verify"]
    lines.append(f"5. fftheory verify, profile {ve['profile']}")
    row("  cases tried", num(ve["cases_tried"]), "cases", f"{ve['claims']} claims")
    row("  time", num(ve["cpu_s"], ".1f"), "s CPU", f"[{ve['wall_s']:.1f} wall]")
    row("  throughput", num(ve["cases_per_s"]), "cases/s", f"[{num(ve['cases_per_s_wall'])} wall]")
    th = ve["thorough"]
    row("  thorough: cases in total (upper bound)", num(th["cases_total_upper_bound"]), "cases",
        f"{th['max_examples']} examples x {th['count']} + regressions per claim")
    row("  thorough: extrapolated time", num(th["estimated_cpu_s"], ".0f"), "s CPU",
        f"from {th['sample_examples']} example(s)/claim ({th['sample_cpu_s']:.1f} s)")
    lines.append("")
    mn = results["mnist"]
    if mn.get("measured"):
        row("6. MNIST reproduce(quick=True)", num(mn["wall_s"], ".1f"), "s wall", f"{mn['cpu_s']:.1f} s CPU")
        for k, v in mn["reported_timings_s"].items():
            row("   " + k, num(v, ".1f"), "s")
        if "theory_over_training" in mn:
            row("   theory tracking / training", f"{mn['theory_over_training']:.2f}", "x")
    else:
        row("6. MNIST reproduce", "not measured", "", mn["reason"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer sizes and variants (about 15 s)")
    mode.add_argument("--smoke", action="store_true", help="tiny sizes, for the test suite (seconds)")
    parser.add_argument("--json", metavar="PATH", default=str(DEFAULT_JSON), help=f"results file (default {DEFAULT_JSON})")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1; see README)")
    parser.add_argument("--compile", action="store_true",
                        help="also time the lean body under torch.compile (what-if; compiling takes 1-2 minutes)")
    parser.add_argument("--skip-mnist", action="store_true", help="do not time the MNIST reproduction")
    args = parser.parse_args(argv)
    cfg = config("smoke" if args.smoke else "quick" if args.quick else "full")
    if args.skip_mnist and cfg["mnist"]:
        cfg.update(mnist=False, mnist_skip_reason="skipped (--skip-mnist)")
    cfg["compile"] = args.compile
    torch.set_num_threads(args.threads)
    tuned = tune_allocator()  # as the CLI and the plugin do; loop and engine alike (FFTHEORY_MALLOC=default: off)
    start_wall = time.perf_counter()
    results: dict = {"meta": {"mode": cfg["mode"], "torch": torch.__version__, "python": platform.python_version(),
                              "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "load_start": load(),
                              "dtype": "float64", "allocator_tuned": tuned}}
    sections = (("reference", section_reference), ("scaling", section_scaling), ("variants", section_variants),
                ("verify", section_verify), ("mnist", section_mnist))
    for name, fn in sections:
        t = time.perf_counter()
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        results[name] = fn(cfg)
        results[name]["section_wall_s"] = time.perf_counter() - t
        if name == "reference":
            results["targets"] = targets(results["reference"])
    results["meta"]["load_end"] = load()
    results["meta"]["total_wall_s"] = time.perf_counter() - start_wall
    print(table(results))
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwrote {path} (total {results['meta']['total_wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
