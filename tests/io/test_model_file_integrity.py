"""Model files: the whole file is checksummed (issue 9, item 1). A file that differs from what
dp.save wrote in any byte, header included, either loads as exactly the same model or raises
ModelFileError; a version-2 file without its whole-file checksum is corrupt."""

import json
import struct

import numpy as np
import pytest
import safetensors.numpy
from safetensors import safe_open

import deltaprop as dp
from deltaprop import io, nn
from deltaprop.errors import ModelFileError

METADATA = {"standardizer": {"mean": [5.8, 3.0], "std": [0.8, 0.4]}, "classes": ["a", "b"]}


@pytest.fixture
def bn_file(tmp_path):
    """(path, model): a BatchNorm model (a float in its config, buffers) saved with metadata."""
    dp.seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    model.train()
    model(np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32))  # running stats
    model.eval()
    path = tmp_path / "bn.safetensors"
    io.save(model, path, metadata=METADATA)
    return path, model


def _header(path):
    with safe_open(str(path), framework="np") as f:
        return dict(f.metadata())


def _rewrite(path, metadata):
    """The file's tensors again, with this metadata exactly (no checksum added)."""
    tensors = safetensors.numpy.load_file(str(path))
    path.write_bytes(safetensors.numpy.save(tensors, metadata=metadata))


def _flip(path, find, bit, at=0, occurrence=0):
    """Flip ``bit`` in byte ``at`` of the ``occurrence``-th ``find`` in the file."""
    data = bytearray(path.read_bytes())
    i = -1
    for _ in range(occurrence + 1):
        i = data.index(find, i + 1)
    data[i + at] ^= bit
    path.write_bytes(bytes(data))


def _refused(path, match, model=None):
    """load, read_metadata and load_weights all raise ModelFileError naming the path."""
    for call in [lambda: io.load(path), lambda: io.read_metadata(path)] + (
        [lambda: io.load_weights(model, path)] if model is not None else []
    ):
        with pytest.raises(ModelFileError, match=match) as info:
            call()
        assert str(path) in str(info.value)


def test_the_checksum_covers_the_whole_file(bn_file):
    path, _ = bn_file
    header = _header(path)
    assert header["checksum"].startswith("sha256/file:") and header["version"] == "2"
    tensors = safetensors.numpy.load_file(str(path))
    assert header["checksum"] == io.file_checksum(header, tensors)
    assert header["checksum"] != io.file_checksum(dict(header, metadata="{}"), tensors)


def test_a_removed_checksum_is_corruption(bn_file):
    path, model = bn_file
    header = _header(path)
    del header["checksum"]
    _rewrite(path, header)
    _refused(path, "corrupt file: the checksum is missing", model)


def test_a_renamed_checksum_key_is_corruption(bn_file):
    path, model = bn_file
    _flip(path, b'"checksum"', 0x01, at=1)  # a one-bit change of the key: "bhecksum"
    assert "checksum" not in _header(path)
    _refused(path, "corrupt file: the checksum is missing", model)


def test_a_tensor_only_or_unknown_checksum_in_a_version_2_file_is_corruption(bn_file):
    path, model = bn_file
    header = _header(path)
    tensors = safetensors.numpy.load_file(str(path))
    _rewrite(path, dict(header, checksum=io.checksum(tensors)))  # 0.1.0's scheme, and valid
    _refused(path, "corrupt file: .*covers only the tensors")
    io.load_weights(model, path)  # which uses only what that checksum covers
    _rewrite(path, dict(header, checksum="md5:" + header["checksum"][12:]))
    _refused(path, "corrupt file: unknown checksum scheme", model)


def test_a_one_bit_change_in_the_architecture_is_refused(bn_file):
    path, model = bn_file
    _flip(path, b"1e-05", 0x04, at=4)  # BatchNorm's eps: "5" (0x35) -> "1" (0x31)
    assert json.loads(_header(path)["architecture"])["layers"][1]["config"]["eps"] == 0.1
    _refused(path, "corrupt file: the file does not match its checksum", model)


def test_a_change_in_the_user_metadata_is_refused(bn_file):
    path, model = bn_file
    _flip(path, b"5.8", 0x01)  # the standardizer's mean: 5.8 -> 4.8
    assert json.loads(_header(path)["metadata"])["standardizer"]["mean"] == [4.8, 3.0]
    _refused(path, "does not match its checksum", model)


def _same_model(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return (
        io.architecture(a) == io.architecture(b)
        and list(sa) == list(sb)
        and all(sa[k].dtype == sb[k].dtype and sa[k].tobytes() == sb[k].tobytes() for k in sa)
    )


def test_random_single_byte_corruptions_load_the_same_model_or_raise(bn_file, tmp_path):
    path, model = bn_file
    data = path.read_bytes()
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    rng = np.random.default_rng(9)
    # the length field, a sample of the header (JSON, padding) and of the data
    positions = [*range(8), *rng.choice(np.arange(8, header_end), 160, replace=False)]
    positions += rng.choice(np.arange(header_end, len(data)), 30, replace=False).tolist()
    bad = tmp_path / "corrupt.safetensors"
    loaded = refused = 0
    for i in positions:
        corrupt = bytearray(data)
        corrupt[i] ^= int(rng.integers(1, 256))
        bad.write_bytes(bytes(corrupt))
        try:
            other, meta = io.load(bad, return_metadata=True)
        except ModelFileError:
            refused += 1
            with pytest.raises(ModelFileError):
                io.read_metadata(bad)
            continue
        loaded += 1  # a change JSON ignores (padding or whitespace): the very same model
        assert _same_model(other, model), f"byte {i} loaded as another model"
        assert meta == METADATA and io.read_metadata(bad) == METADATA, f"byte {i}"
    assert refused > 0.9 * len(positions)


def test_load_weights_reads_a_foreign_file_without_a_checksum_and_verifies_one_with(tmp_path):
    layer = nn.Linear(2, 3)
    weights = {"weight": np.ones((2, 3), np.float32), "bias": np.zeros(3, np.float32)}
    foreign = tmp_path / "foreign.safetensors"
    safetensors.numpy.save_file(weights, str(foreign), metadata={"format": "pt"})
    assert np.array_equal(io.load_weights(layer, foreign).weight.numpy(), weights["weight"])
    io.write_tensor_file(foreign, weights, {"format": "pt"})  # now with a checksum
    _flip(
        foreign, b"\x00\x00\x80\x3f", 0x01, occurrence=2
    )  # a data byte of one of the weights' 1.0s
    with pytest.raises(ModelFileError, match="does not match its checksum"):
        io.load_weights(layer, foreign)
