"""IDX reading: files built byte by byte from the format's definition, plain and gzipped."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from fftheory.experiments.idx import DataError, MNIST_FILES, load_mnist_idx, parse_idx, read_idx, write_idx


def idx_bytes(array: np.ndarray, code: int = 0x08, be_dtype: str = ">u1") -> bytes:
    """An IDX file by hand: 0, 0, dtype code, rank; big-endian uint32 dims; big-endian data."""
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + np.asarray(array, dtype=be_dtype).tobytes()


def put(path, raw: bytes) -> None:
    if str(path).endswith(".gz"):
        with gzip.open(path, "wb") as fh:
            fh.write(raw)
    else:
        path.write_bytes(raw)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_reads_hand_built_images(tmp_path, suffix):
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    path = tmp_path / f"imgs{suffix}"
    put(path, idx_bytes(images))
    got = read_idx(path)
    assert got.shape == (3, 4, 5) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, images)


def test_big_endian_multibyte_types(tmp_path):
    ints = np.array([[1, -2, 70000], [2**30, -(2**31), 5]], dtype=np.int64)
    floats = np.array([1.5, -0.25, 3e8])
    put(tmp_path / "i", idx_bytes(ints, 0x0C, ">i4"))
    put(tmp_path / "f", idx_bytes(floats, 0x0E, ">f8"))
    np.testing.assert_array_equal(read_idx(tmp_path / "i"), ints)
    np.testing.assert_array_equal(read_idx(tmp_path / "f"), floats)


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_write_then_read_round_trip(tmp_path, name):
    array = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28)).astype(np.uint8)
    write_idx(tmp_path / name, array)
    np.testing.assert_array_equal(read_idx(tmp_path / name), array)
    # The writer follows the same byte layout as the hand-built files.
    raw = gzip.decompress((tmp_path / name).read_bytes()) if name.endswith(".gz") else (tmp_path / name).read_bytes()
    assert raw == idx_bytes(array)


@pytest.mark.parametrize(
    "raw, problem",
    [
        (b"\x00\x00", "too short"),
        (b"\x01\x00\x08\x01" + struct.pack(">I", 2) + b"\x00\x01", "bad magic"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 2) + b"\x00\x01", "unknown dtype"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "header truncated"),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 3) + b"\x00\x01", "wrong length"),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 1) + b"\x00\x01", "wrong length"),
    ],
)
def test_corrupt_file_names_file_and_problem(tmp_path, raw, problem):
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(raw)
    with pytest.raises(DataError) as info:
        read_idx(path)
    assert problem in str(info.value)
    assert str(path) in str(info.value) and info.value.path == str(path)


def test_parse_idx_is_a_value_error():
    with pytest.raises(ValueError):
        parse_idx(b"\xff\xff\x08\x00", "x")


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"this is not gzip data")
    with pytest.raises(DataError, match="cannot read"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found") as info:
        read_idx(tmp_path / "nope")
    assert "nope" in str(info.value)


def make_mnist_dir(directory, n_train=12, n_test=6, gz=False, drop=None, n_train_labels=None):
    rng = np.random.default_rng(1)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28)).astype(np.uint8),
        "train_labels": (np.arange(n_train if n_train_labels is None else n_train_labels) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28)).astype(np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for key, array in arrays.items():
        if key == drop:
            continue
        put(directory / (MNIST_FILES[key] + (".gz" if gz else "")), idx_bytes(array))
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_directory(tmp_path, gz):
    arrays = make_mnist_dir(tmp_path, gz=gz)
    Xtr, ytr, Xte, yte = load_mnist_idx(tmp_path)
    assert Xtr.shape == (12, 784) and Xte.shape == (6, 784)
    np.testing.assert_array_equal(Xtr, arrays["train_images"].reshape(12, 784))
    np.testing.assert_array_equal(ytr, arrays["train_labels"])
    np.testing.assert_array_equal(yte, arrays["test_labels"])


def test_missing_mnist_file_is_named(tmp_path):
    make_mnist_dir(tmp_path, drop="test_labels")
    with pytest.raises(DataError) as info:
        load_mnist_idx(tmp_path)
    assert MNIST_FILES["test_labels"] in str(info.value)
    assert "not found" in str(info.value)


def test_mismatched_counts(tmp_path):
    make_mnist_dir(tmp_path, n_train=12, n_train_labels=11)
    with pytest.raises(DataError) as info:
        load_mnist_idx(tmp_path)
    message = str(info.value)
    assert MNIST_FILES["train_images"] in message and MNIST_FILES["train_labels"] in message
    assert "12 images" in message and "11 labels" in message


def test_labels_must_be_digits(tmp_path):
    make_mnist_dir(tmp_path)
    put(tmp_path / MNIST_FILES["test_labels"], idx_bytes(np.array([0, 1, 2, 3, 4, 12], dtype=np.uint8)))
    with pytest.raises(DataError, match="0-9"):
        load_mnist_idx(tmp_path)


def test_not_a_directory(tmp_path):
    with pytest.raises(DataError, match="not a directory"):
        load_mnist_idx(tmp_path / "absent")
