"""The MNIST reproduction: a tiny end-to-end run, and the data and network pieces."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from fftheory.experiments import ff
from fftheory.experiments.idx import MNIST_FILES, DataError, write_idx
from fftheory.experiments.mnist import reproduce, stratified_split
from fftheory.experiments.report import OUTPUT_FILES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY = dict(n_train=300, n_test=100, layers=(784, 32, 32), epochs=1, progress=False, checkpoints=1, probe_size=16)


def _strict_json(text: str):
    def reject(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=reject)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ffout")
    (out / "keep-me.txt").write_text("the user's own file")
    results = reproduce(out=str(out), seed=3, **TINY)
    return out, results


def test_outputs_exist_and_are_well_formed(tiny_run):
    out, results = tiny_run
    for name in OUTPUT_FILES:
        assert (out / name).is_file(), name
    for name in ("sparsity.png", "theory.png", "accuracy.png"):
        assert (out / name).read_bytes()[:8] == PNG_SIGNATURE, name
    saved = _strict_json((out / "results.json").read_text())
    for key in ("config", "seed", "versions", "git_revision", "timings", "checkpoints", "final",
                "theory_summary", "targets", "conventions", "data"):
        assert key in saved, key
    assert saved["seed"] == 3
    assert {"torch", "numpy", "fftheory"} <= set(saved["versions"])
    assert saved["git_revision"] is None or len(saved["git_revision"]) == 40
    assert saved["data"]["n_train"] == 300 and saved["data"]["n_test"] == 100
    assert saved["timings"]["total_s"] > 0
    assert saved == results  # the returned dict is what was written
    summary = (out / "summary.md").read_text()
    table = [line for line in summary.splitlines() if line.startswith("|")]
    assert len(table) >= 4 and any(set(line) <= set("|-") for line in table)


def test_user_files_untouched_and_no_temporaries(tiny_run):
    out, _ = tiny_run
    assert (out / "keep-me.txt").read_text() == "the user's own file"
    assert sorted(os.listdir(out)) == sorted([*OUTPUT_FILES, "keep-me.txt"])


def test_checkpoints_measure_every_layer_and_rule(tiny_run):
    _, results = tiny_run
    cps = results["checkpoints"]
    assert [cp["epoch"] for cp in cps] == [0, 1]
    for cp in cps:
        assert 0.0 <= cp["test_accuracy"] <= 1.0
        assert len(cp["layers"]) == 2
        for lay in cp["layers"]:
            for kind in ("positive", "negative"):
                stats = lay[kind]
                assert stats["hoyer"] is None or 0.0 <= stats["hoyer"] <= 1.0
                assert 0.0 <= stats["active_fraction"] <= 1.0
                assert stats["goodness"] >= 0.0 and stats["all_zero"] >= 0
        for rule in ("batch-decrease", "ff-two-step"):
            assert len(cp["theory"][rule]) == 2
            for rec in cp["theory"][rule]:
                assert rec["decided"] + rec["undecided"] == 16
                assert rec["assumptions"]["inputs_nonnegative"] is True
                assert rec["eta"] > 0
                if rec["decided"]:
                    assert rec["ci_low"] <= rec["sign_agreement"] <= rec["ci_high"]
    # The random layer at initialisation: about half the units active, Hoyer well below 1.
    start = cps[0]["layers"][0]["positive"]
    assert 0.3 < start["active_fraction"] < 0.7 and 0.3 < start["hoyer"] < 0.7


def test_theory_holds_on_the_tiny_run(tiny_run):
    _, results = tiny_run
    for rule, per_layer in results["theory_summary"].items():
        for agg in per_layer:
            assert agg["decided"] > 0, rule
            assert agg["min_sign_agreement"] >= 0.95, rule
            assert agg["max_closed_form_vs_lemma_rel_err"] < 1e-8, rule


def test_reads_idx_directory(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("test", 20)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = np.zeros((n, 28, 28), dtype=np.uint8)
        images[:, 8:20, 8:20] = rng.integers(0, 256, (n, 12, 12))
        write_idx(tmp_path / (MNIST_FILES[f"{split}_images"] + ".gz"), images)
        write_idx(tmp_path / MNIST_FILES[f"{split}_labels"], labels)
    out = tmp_path / "out"
    results = reproduce(data=str(tmp_path), out=str(out), layers=(784, 8), epochs=1, progress=False,
                        checkpoints=1, probe_size=8)
    assert results["data"]["n_train"] == 40 and results["data"]["n_test"] == 20
    assert "IDX" in results["data"]["source"]
    assert (out / "results.json").is_file()


def test_missing_idx_directory_raises_data_error(tmp_path):
    with pytest.raises(DataError, match=MNIST_FILES["train_images"]):
        reproduce(data=str(tmp_path), out=str(tmp_path / "out"), epochs=0, progress=False)


def test_rejects_wrong_input_size(tmp_path):
    with pytest.raises(ValueError, match="784"):
        reproduce(layers=(100, 10), out=str(tmp_path), epochs=0, progress=False)


# --------------------------------------------------------------------------- pieces

def test_label_overlay():
    images = torch.rand(5, 784) + 0.5
    labels = torch.tensor([0, 3, 9, 3, 7])
    x = ff.overlay_labels(images, labels, value=1.0)
    for i, label in enumerate(labels.tolist()):
        expected = torch.zeros(10)
        expected[label] = 1.0
        assert torch.equal(x[i, :10], expected)
    assert torch.equal(x[:, 10:], images[:, 10:])
    assert (images[:, :10] >= 0.5).all()  # the input is not modified


def test_negative_labels_are_never_true_and_cover_all_wrong_labels():
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(10).repeat(900)
    drawn = ff.wrong_labels(labels, gen)
    assert not (drawn == labels).any()
    assert drawn.min() >= 0 and drawn.max() <= 9
    for true in range(10):
        counts = torch.bincount(drawn[labels == true], minlength=10)
        assert counts[true] == 0
        others = counts[torch.arange(10) != true].double()
        assert others.min() > 0.6 * 100 and others.max() < 1.4 * 100  # ~100 each of 900 draws


def test_label_goodness_shortcut_equals_overlaying_each_label():
    cfg = ff.TrainConfig(layers=(784, 20, 15))
    net = ff.FFNet(cfg, torch.Generator().manual_seed(1))
    images = torch.rand(30, 784)
    images[:4] = 0  # blank images: the label pixel is the whole input
    fast, direct = net.label_goodness(images, chunk=7), net.label_goodness_direct(images)
    assert torch.allclose(fast, direct, rtol=1e-4, atol=1e-6)


def test_hardest_wrong_label_is_wrong_and_best():
    cfg = ff.TrainConfig(layers=(784, 20))
    net = ff.FFNet(cfg, torch.Generator().manual_seed(2))
    images, labels = torch.rand(50, 784), torch.randint(0, 10, (50,))
    hard = net.hardest_wrong_labels(images, labels)
    assert not (hard == labels).any()
    scores = net.label_goodness(images)
    scores[torch.arange(50), labels] = -torch.inf
    assert torch.equal(hard, scores.argmax(-1))


def test_shift_images():
    gen = torch.Generator().manual_seed(0)
    images = torch.zeros(20, 784)
    images.view(20, 28, 28)[:, 10:18, 10:18] = torch.rand(20, 8, 8)
    assert torch.equal(ff.shift_images(images, 0, gen), images)
    shifted = ff.shift_images(images, 2, gen)
    # An interior digit only moves: its pixel values are kept, and some image did move.
    assert torch.allclose(shifted.sum(1), images.sum(1))
    assert torch.equal(shifted.sort(1).values, images.sort(1).values)
    assert not torch.equal(shifted, images)


def test_normalise_unit_length_and_zero():
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    y = ff.normalise(x)
    assert torch.allclose(y[0], torch.tensor([0.6, 0.8]))
    assert torch.equal(y[1], torch.zeros(2))


def test_stratified_split_is_disjoint_balanced_and_seeded():
    labels = np.repeat(np.arange(10), 500)
    a, b = stratified_split(labels, 4000, 1000, np.random.default_rng(0))
    assert len(a) == 4000 and len(b) == 1000 and not set(a) & set(b)
    assert np.bincount(labels[a]).tolist() == [400] * 10
    assert np.bincount(labels[b]).tolist() == [100] * 10
    a2, b2 = stratified_split(labels, 4000, 1000, np.random.default_rng(0))
    assert np.array_equal(a, a2) and np.array_equal(b, b2)
    a3, _ = stratified_split(labels, 4000, 1000, np.random.default_rng(1))
    assert not np.array_equal(a, a3)
    # Uneven classes and sizes: exact totals, proportions up to one sample.
    uneven = np.repeat(np.arange(3), [50, 30, 20])
    x, y = stratified_split(uneven, 37, 11, np.random.default_rng(0))
    assert len(x) == 37 and len(y) == 11 and not set(x) & set(y)
    assert np.all(np.abs(np.bincount(uneven[x], minlength=3) - 37 * np.array([0.5, 0.3, 0.2])) <= 1)
    with pytest.raises(ValueError):
        stratified_split(uneven, 90, 20, np.random.default_rng(0))
