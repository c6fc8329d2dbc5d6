"""Reading a user's layer and batch, validating it, and writing reports safely."""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import signal
import tempfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


class InputError(ValueError):
    """Bad user input; the message names the array or value and the problem."""


def load_case_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Arrays of an .npz file, read with pickling disabled (object arrays are refused)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):  # a bare .npy array: no names to read
            raise InputError(f"{path}: a single .npy array, not an .npz archive of named arrays (W, X, ...)")
        with data:
            return {name: data[name] for name in data.files}
    except InputError:
        raise
    except ValueError as exc:  # numpy refuses object arrays when allow_pickle=False
        raise InputError(f"{path}: cannot read without pickling ({exc}); object arrays are refused") from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npz file ({exc})") from exc


def _as_array(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _float_matrix(name: str, value, rank: int) -> Tensor:
    if value is None:
        raise InputError(f"missing array {name!r}")
    array = _as_array(value)
    if array.dtype.kind not in "fiu" or array.dtype == np.bool_:
        raise InputError(f"array {name!r} has dtype {array.dtype}; expected a real floating-point array")
    if array.dtype.kind != "f":
        raise InputError(f"array {name!r} has integer dtype {array.dtype}; convert it to float64 first")
    if array.ndim != rank:
        raise InputError(f"array {name!r} has rank {array.ndim} (shape {array.shape}); expected rank {rank}")
    if not np.isfinite(array).all():
        raise InputError(f"array {name!r} contains NaN or Inf")
    return torch.from_numpy(array.astype(np.float64, copy=True))


def validate_case(
    arrays: dict, *, needs_labels: bool
) -> tuple[Tensor, Tensor, Tensor | None]:
    """W (n, m), X (N, m) and, for the ff rules, a bool `positive` (N) with both classes present.

    `arrays` maps names to numpy arrays or torch tensors; the results are new float64
    tensors (the caller's arrays are never modified). Raises InputError naming the array.
    """
    for name in ("W", "X") + (("positive",) if needs_labels else ()):
        if arrays.get(name) is None:
            found = sorted(k for k, v in arrays.items() if v is not None)
            raise InputError(f"missing array {name!r} (found: {found or 'none'})")
    W = _float_matrix("W", arrays["W"], 2)
    X = _float_matrix("X", arrays["X"], 2)
    if X.shape[0] == 0:
        raise InputError("array 'X' is an empty batch (0 points)")
    if W.shape[0] == 0 or W.shape[1] == 0:
        raise InputError(f"array 'W' has an empty dimension (shape {tuple(W.shape)})")
    if W.shape[1] != X.shape[1]:
        raise InputError(
            f"shape mismatch: W is {tuple(W.shape)} (n x m) but X is {tuple(X.shape)} (N x m): m differs"
        )
    positive = None
    if needs_labels:
        raw = _as_array(arrays["positive"])
        if raw.dtype != np.bool_:
            raise InputError(f"array 'positive' has dtype {raw.dtype}; expected bool")
        if raw.shape != (X.shape[0],):
            raise InputError(f"array 'positive' has shape {raw.shape}; expected ({X.shape[0]},), one per point of X")
        if raw.all() or not raw.any():
            raise InputError("array 'positive' must mark at least one positive and one negative point")
        positive = torch.from_numpy(raw.copy())
    return W, X, positive


def layer_extras(arrays: dict, n_units: int) -> tuple[Tensor | None, str]:
    """The optional bias 'b' (n,) and 'activation' name of a case file (default: none, "relu")."""
    bias = None
    if arrays.get("b") is not None:
        bias = _float_matrix("b", arrays["b"], 1)
        if bias.shape != (n_units,):
            raise InputError(f"array 'b' has shape {tuple(bias.shape)}; expected ({n_units},), one per unit of W")
    activation = "relu"
    if "activation" in arrays:
        value = _as_array(arrays["activation"])
        if value.shape != () or value.dtype.kind != "U":
            raise InputError(f"array 'activation' must be a scalar string, got dtype {value.dtype} shape {value.shape}")
        activation = str(value)
    return bias, activation


def check_scalar(name: str, value: float, *, positive: bool) -> float:
    """A finite float (and > 0 if `positive`)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise InputError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise InputError(f"{name} must be > 0, got {value}")
    return float(value)


def write_atomic(path: str | os.PathLike, data: str | bytes) -> None:
    """Write via a temporary file in the same directory, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data if isinstance(data, bytes) else data.encode()
    # Created with mode 0666 so the kernel applies the umask (mkstemp's 0600 would hide reports).
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def deferred_interrupt():
    """Hold Ctrl-C (SIGINT) until the block ends, then raise KeyboardInterrupt: for the few
    milliseconds in which several report files are renamed into place together."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def check_output_path(path: str | os.PathLike, *, directory: bool = False) -> Path:
    """Refuse an output path that cannot be written, before any work is done.

    A file path must not be an existing directory; a directory path must not be
    an existing file or a dangling link; the nearest existing ancestor must be a
    writable directory. Any error the file system gives is reported as bad input.
    """
    path = Path(path)
    try:
        if directory and path.exists() and not path.is_dir():
            raise InputError(f"{path}: exists and is not a directory")
        if path.is_symlink() and not path.exists():
            raise InputError(f"{path}: a link to nothing ({os.readlink(path)})")
        if not directory and path.is_dir():
            raise InputError(f"{path}: is a directory; give a file name")
        ancestor = path if directory and path.is_dir() else path.parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise InputError(f"{path}: cannot write there ({ancestor}: not a directory)")
        with tempfile.TemporaryFile(dir=ancestor):  # a nameless probe (O_TMPFILE): nothing is left behind
            pass
    except OSError as exc:
        raise InputError(f"{path}: cannot write there ({exc.strerror or exc})") from None
    return path


def write_json(path: str | os.PathLike, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n")
