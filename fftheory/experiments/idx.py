"""Reading (and writing) IDX files, the format the full MNIST data set ships in.

An IDX file is: two zero bytes, a dtype code byte, a rank byte; then `rank`
big-endian uint32 dimension sizes; then the data, big-endian, row-major.
Files may be gzipped (name ending in .gz).

Every problem with a file (missing, unreadable, bad magic, wrong length,
image and label counts that disagree) raises `DataError`, which names the file.
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

# dtype code byte -> numpy dtype (big-endian where it matters).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# The four files of the standard MNIST distribution.
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class DataError(ValueError):
    """A data file is missing or malformed. `path` names the file, `problem` says what is wrong."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def _read_bytes(path: str) -> bytes:
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                return fh.read()
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(path, f"cannot read the file ({exc})") from None


def parse_idx(raw: bytes, path: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Decode the bytes of an IDX file into an array of its dtype and shape."""
    if len(raw) < 4:
        raise DataError(path, f"too short for an IDX header ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0:
        raise DataError(path, f"bad magic number {raw[:4].hex()} (an IDX file starts with two zero bytes)")
    code, rank = raw[2], raw[3]
    if code not in IDX_DTYPES:
        raise DataError(path, f"bad magic number {raw[:4].hex()}: unknown dtype code 0x{code:02x}")
    header = 4 + 4 * rank
    if len(raw) < header:
        raise DataError(path, f"header truncated: rank {rank} needs {header} bytes, file has {len(raw)}")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=rank, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        raise DataError(
            path, f"wrong length: dimensions {dims} of {dtype.name} need {expected} data bytes, found {found}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzipped if its name ends in .gz)."""
    path = os.fspath(path)
    return parse_idx(_read_bytes(path), path)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write `array` as an IDX file (gzipped if the name ends in .gz)."""
    path = os.fspath(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(f"IDX has no dtype code for {array.dtype}")
    if array.ndim > 255:
        raise ValueError("IDX rank must fit in one byte")
    code = codes[native]
    raw = (
        bytes([0, 0, code, array.ndim])
        + np.asarray(array.shape, dtype=">u4").tobytes()
        + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    )
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as fh:
        fh.write(raw)


def find_idx(directory: str | os.PathLike, name: str) -> str:
    """The path of `name` or `name.gz` in `directory` (plain preferred); DataError if neither exists."""
    base = os.path.join(os.fspath(directory), name)
    for candidate in (base, base + ".gz"):
        if os.path.isfile(candidate):
            return candidate
    raise DataError(base, f"file not found (expected {name} or {name}.gz in {os.fspath(directory)})")


def _images(path: str) -> np.ndarray:
    images = read_idx(path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(path, f"expected a rank-3 ubyte image array, found rank {images.ndim} of {images.dtype}")
    return images.reshape(len(images), -1)


def _labels(path: str) -> np.ndarray:
    labels = read_idx(path)
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(path, f"expected a rank-1 ubyte label array, found rank {labels.ndim} of {labels.dtype}")
    if labels.size and labels.max() > 9:
        raise DataError(path, f"labels must be digits 0-9, found {int(labels.max())}")
    return labels.astype(np.int64)


def load_mnist_idx(directory: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four MNIST IDX files of `directory`: train images (N, pixels) uint8, train labels (N,),
    test images, test labels. Images and labels must agree in count; train and test in pixels."""
    if not os.path.isdir(os.fspath(directory)):
        raise DataError(directory, "not a directory (expected the four MNIST IDX files in it)")
    out = []
    pixels = None
    for split in ("train", "test"):
        img_path = find_idx(directory, MNIST_FILES[f"{split}_images"])
        lab_path = find_idx(directory, MNIST_FILES[f"{split}_labels"])
        images, labels = _images(img_path), _labels(lab_path)
        if len(images) != len(labels):
            raise DataError(
                img_path, f"{len(images)} images but {lab_path} has {len(labels)} labels (counts must match)"
            )
        if pixels is not None and images.shape[1] != pixels:
            raise DataError(img_path, f"images have {images.shape[1]} pixels, the training images {pixels}")
        pixels = images.shape[1]
        out += [images, labels]
    return tuple(out)  # type: ignore[return-value]
