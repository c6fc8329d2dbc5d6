"""A Forward-Forward network in the theory's setting, and its training.

Conventions (reported in results.json by `conventions()`):
  * layer: h = ReLU(W x), no bias; every layer's input is length-normalised to
    unit L2 length, x / (||x||_2 + eps), so only its direction passes on;
  * goodness G = sum of squares of the layer's activations (the package's
    `sum_of_squares`), threshold theta in the same units;
  * loss per layer: mean over the batch of softplus(theta - G_pos) + softplus(G_neg - theta),
    each layer trained on its own loss (inputs detached from the layer below);
  * positive data: the image with its label overlaid on the first 10 pixels
    (zeroed, then pixel[label] = the maximum pixel value, 1.0); negative data:
    the same image with a wrong label, drawn uniformly or (a fraction of the
    time) the hardest wrong label, the one the network currently rates best;
  * prediction: the label with the highest goodness summed over all layers.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import sum_of_squares

N_CLASSES = 10
SIDE = 28  # MNIST images are SIDE x SIDE


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Training choices. Every field is reported."""

    layers: tuple[int, ...] = (784, 500, 500)
    theta: float = 5.0
    init_std: float = 0.1
    optimizer: str = "adam"
    lr: float = 0.01
    lr_schedule: str = "linear-to-zero"
    batch_size: int = 100
    epochs: int = 40
    hard_negative_fraction: float = 0.5
    max_shift: int = 2
    label_value: float = 1.0
    eps: float = 1e-8


def overlay_labels(images: Tensor, labels: Tensor, value: float = 1.0) -> Tensor:
    """A copy of `images` (N, pixels) with the first 10 pixels zeroed and pixel[label] set to `value`."""
    if images.shape[-1] < N_CLASSES:
        raise ValueError(f"images need at least {N_CLASSES} pixels for the label overlay")
    out = images.clone()
    out[:, :N_CLASSES] = 0
    out[torch.arange(len(out)), labels] = value
    return out


def wrong_labels(labels: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A label drawn uniformly from the 9 labels other than each true label."""
    offset = torch.randint(1, N_CLASSES, labels.shape, generator=generator)
    return (labels + offset) % N_CLASSES


def shift_images(images: Tensor, max_shift: int, generator: torch.Generator | None = None) -> Tensor:
    """Translate each 28x28 image by a random integer offset in [-max_shift, max_shift]^2 (zero fill)."""
    if max_shift <= 0:
        return images
    n = len(images)
    padded = F.pad(images.reshape(n, SIDE, SIDE), (max_shift,) * 4)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    grid = torch.arange(SIDE)
    rows = (dy[:, None] + grid)[:, :, None]
    cols = (dx[:, None] + grid)[:, None, :]
    return padded[torch.arange(n)[:, None, None], rows, cols].reshape(n, SIDE * SIDE)


def normalise(x: Tensor, eps: float = 1e-8) -> Tensor:
    """x / (||x||_2 + eps) per row: unit length, zero stays zero."""
    return x / (torch.linalg.vector_norm(x, dim=-1, keepdim=True) + eps)


class FFNet:
    """The weights of an FF network (one (n, m) matrix per layer) and its forward pass."""

    def __init__(self, config: TrainConfig, generator: torch.Generator):
        self.config = config
        self.weights = [
            (torch.randn(n, m, generator=generator) * config.init_std).requires_grad_(True)
            for m, n in zip(config.layers[:-1], config.layers[1:])
        ]

    def layer_io(self, x: Tensor, weights: list[Tensor] | None = None) -> list[tuple[Tensor, Tensor]]:
        """(normalised input, activations) of every layer for raw inputs x, inputs detached."""
        out = []
        h = x
        for W in self.weights if weights is None else weights:
            inp = normalise(h.detach(), self.config.eps)
            h = torch.relu(inp @ W.T)
            out.append((inp, h))
        return out

    @torch.no_grad()
    def label_goodness(self, images: Tensor, chunk: int = 1000) -> Tensor:
        """Goodness summed over layers for every image and every label, (N, 10).

        The overlay leaves the input's length the same for every label (the 10
        label pixels are zeroed, then one is set to `label_value`), so layer 1's
        pre-activations for label l are (W x0 + value * W[:, l]) / (||x0||^2 + value^2)^(1/2):
        one product per image instead of ten. Equal to overlaying each label and
        running `layer_io` (up to float rounding; the tests check it).
        """
        cfg = self.config
        value = cfg.label_value
        W1, rest = self.weights[0], self.weights[1:]
        out = torch.empty(len(images), N_CLASSES)
        for start in range(0, len(images), chunk):
            base = images[start : start + chunk].clone()
            base[:, :N_CLASSES] = 0
            b = len(base)
            norm = torch.sqrt(base.square().sum(-1) + value**2) + cfg.eps
            z = (base @ W1.T)[:, None, :] + value * W1[:, :N_CLASSES].T[None]  # (b, 10, n1)
            h = torch.relu(z / norm[:, None, None]).reshape(b * N_CLASSES, -1)
            total = sum_of_squares(h)
            for W in rest:
                h = torch.relu(normalise(h, cfg.eps) @ W.T)
                total = total + sum_of_squares(h)
            out[start : start + b] = total.reshape(b, N_CLASSES)
        return out

    @torch.no_grad()
    def label_goodness_direct(self, images: Tensor) -> Tensor:
        """`label_goodness` the plain way: overlay each label, run the network (for tests)."""
        out = torch.empty(len(images), N_CLASSES)
        for label in range(N_CLASSES):
            x = overlay_labels(images, torch.full((len(images),), label), self.config.label_value)
            out[:, label] = sum(sum_of_squares(h) for _, h in self.layer_io(x))
        return out

    def predict(self, images: Tensor) -> Tensor:
        return self.label_goodness(images).argmax(-1)

    def accuracy(self, images: Tensor, labels: Tensor) -> float:
        return float((self.predict(images) == labels).double().mean()) if len(labels) else float("nan")

    def hardest_wrong_labels(self, images: Tensor, labels: Tensor) -> Tensor:
        """The wrong label with the highest goodness, per image."""
        scores = self.label_goodness(images)
        scores[torch.arange(len(labels)), labels] = -torch.inf
        return scores.argmax(-1)


def ff_loss(h_pos: Tensor, h_neg: Tensor, theta: float) -> Tensor:
    """Hinton's loss, averaged over the batch."""
    g_pos, g_neg = sum_of_squares(h_pos), sum_of_squares(h_neg)
    return (F.softplus(theta - g_pos) + F.softplus(g_neg - theta)).mean()


def make_optimizer(net: FFNet) -> torch.optim.Optimizer:
    # Adam keeps per-parameter state and layers are detached from each other, so
    # one optimiser over all layers is the same as one per layer.
    if net.config.optimizer != "adam":
        raise ValueError(f"unknown optimiser {net.config.optimizer!r}")
    return torch.optim.Adam(net.weights, lr=net.config.lr)


def train_epoch(
    net: FFNet,
    optimizer: torch.optim.Optimizer,
    images: Tensor,
    labels: Tensor,
    epoch: int,
    generator: torch.Generator,
) -> list[float]:
    """One pass over the training data in shuffled mini-batches; returns each layer's mean loss."""
    cfg = net.config
    if cfg.lr_schedule == "linear-to-zero":
        lr = cfg.lr * (1 - epoch / cfg.epochs)
    elif cfg.lr_schedule == "constant":
        lr = cfg.lr
    else:
        raise ValueError(f"unknown learning-rate schedule {cfg.lr_schedule!r}")
    for group in optimizer.param_groups:
        group["lr"] = lr
    order = torch.randperm(len(images), generator=generator)
    totals = [0.0] * len(net.weights)
    batches = 0
    for start in range(0, len(images), cfg.batch_size):
        idx = order[start : start + cfg.batch_size]
        x, y = shift_images(images[idx], cfg.max_shift, generator), labels[idx]
        neg = wrong_labels(y, generator)
        if cfg.hard_negative_fraction > 0:
            use_hard = torch.rand(len(idx), generator=generator) < cfg.hard_negative_fraction
            if use_hard.any():
                neg[use_hard] = net.hardest_wrong_labels(x[use_hard], y[use_hard])
        pos_io = net.layer_io(overlay_labels(x, y, cfg.label_value))
        neg_io = net.layer_io(overlay_labels(x, neg, cfg.label_value))
        losses = [ff_loss(hp, hn, cfg.theta) for (_, hp), (_, hn) in zip(pos_io, neg_io)]
        optimizer.zero_grad()
        sum(losses).backward()
        optimizer.step()
        totals = [t + l.item() for t, l in zip(totals, losses)]
        batches += 1
    return [t / max(batches, 1) for t in totals]


def conventions(config: TrainConfig) -> dict:
    """Plain-language statement of every choice, for the report."""
    return {
        "layer": "h = ReLU(W x), no bias",
        "input_normalisation": "unit L2 length: x / (||x||_2 + eps), every layer (pixels scaled to [0, 1] first)",
        "goodness": "sum of squares of the layer's activations (the package's sum_of_squares)",
        "theta": config.theta,
        "theta_units": "sum of squares (the package's units)",
        "loss": "mean over the batch of softplus(theta - G_pos) + softplus(G_neg - theta), per layer, layers detached",
        "optimizer": f"Adam, lr {config.lr}, {config.lr_schedule} over {config.epochs} epochs",
        "batch_size": config.batch_size,
        "init": f"W ~ N(0, {config.init_std}^2) per entry",
        "positive_data": f"label overlaid on the first 10 pixels (zeroed, pixel[label] = {config.label_value})",
        "negative_data": (
            f"same image, wrong label: with probability {config.hard_negative_fraction} the hardest wrong label "
            "(highest goodness under the current network, computed per mini-batch on the shifted images), "
            "else uniform over the 9 wrong labels"
        ),
        "augmentation": f"random translation by up to {config.max_shift} pixels (training images only)",
        "prediction": "label with the highest goodness summed over all layers",
    }
