import gzip
import struct

import numpy as np
import pytest

from deltaprop import backend
from deltaprop.data import DATASETS, Dataset, load_dataset, load_idx, make_spirals
from deltaprop.errors import ConfigError, DataError


def write_idx(path, arr, code=0x08, gz=False):
    """Write ``arr`` in the IDX format (big-endian) the way MNIST's files are laid out."""
    big = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    raw = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    raw += np.ascontiguousarray(arr).astype(big).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


@pytest.mark.parametrize(
    "name, shape, k",
    [("iris", (150, 4), 3), ("wine", (178, 13), 3), ("breast_cancer", (569, 30), 2)],
)
def test_bundled(name, shape, k):
    ds = load_dataset(name)
    assert isinstance(ds, Dataset)
    assert ds.X.shape == shape and ds.X.dtype == np.float32 and ds.y.dtype == np.int64
    assert ds.task == "classification" and ds.n_classes == k and len(ds.target_names) == k
    assert len(ds.feature_names) == shape[1] and ds.name == name
    assert (ds.n_samples, ds.n_features) == shape


def test_digits_and_name_spelling():
    ds = load_dataset("Digits")
    assert ds.X.shape == (1797, 64) and ds.n_classes == 10 and ds.target_names[3] == "3"
    assert load_dataset("breast-cancer").n_classes == 2


@pytest.mark.parametrize("name, k", [("moons", 2), ("circles", 2), ("spirals", 3)])
def test_generated(name, k):
    ds = load_dataset(name, seed=1)
    assert ds.X.shape == (500, 2) and ds.X.dtype == np.float32 and ds.n_classes == k
    assert set(np.unique(ds.y)) == set(range(k))
    again = load_dataset(name, seed=1)
    np.testing.assert_array_equal(ds.X, again.X)
    other = load_dataset(name, seed=2)
    assert not np.array_equal(ds.X, other.X)
    small = load_dataset(name, n_samples=30, noise=0.0, seed=0)
    assert small.X.shape == (30, 2)


def test_generated_follow_library_seed():
    backend.seed(7)
    a = load_dataset("moons").X
    backend.seed(7)
    np.testing.assert_array_equal(a, load_dataset("moons").X)


def test_noise_default_changes_data():
    quiet = load_dataset("circles", noise=0.0, seed=0).X
    r = np.linalg.norm(quiet, axis=1)
    assert np.allclose(np.sort(np.unique(r.round(5))), [0.8, 1.0])  # two exact circles
    assert not np.allclose(load_dataset("circles", seed=0).X, quiet)


def test_spirals():
    X, y = make_spirals(n_samples=10, n_arms=4, noise=0.0, seed=0)
    assert X.shape == (10, 2) and np.bincount(y).tolist() == [3, 3, 2, 2]
    assert np.all(np.linalg.norm(X, axis=1) <= 1.0 + 1e-6)


def test_xor():
    ds = load_dataset("xor")
    assert ds.X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and ds.y.tolist() == [0, 1, 1, 0]


def test_builtin_option_errors():
    with pytest.raises(ConfigError, match=r"dataset: expected one of \['digits'.*'xor'\].*'mnist'"):
        load_dataset("mnist")
    with pytest.raises(ConfigError, match="n_samples"):
        load_dataset("iris", n_samples=10)
    with pytest.raises(ConfigError, match="noise"):
        load_dataset("xor", noise=0.1)
    with pytest.raises(ConfigError, match="label: only applies to data files"):
        load_dataset("iris", label="species")
    with pytest.raises(ConfigError, match="n_samples: expected an integer >= 3, got 0"):
        load_dataset("moons", n_samples=0)
    with pytest.raises(ConfigError, match="noise: expected a finite number >= 0, got -1"):
        load_dataset("moons", noise=-1)
    assert len(DATASETS) == 8


class TestCSV:
    def test_last_column_is_label_by_default(self, tmp_path):
        p = tmp_path / "d.csv"
        p.write_text("a,b,label\n1,2,0\n3,4,1\n5,6.5,2\n")
        ds = load_dataset(p)
        assert ds.X.tolist() == [[1, 2], [3, 4], [5, 6.5]] and ds.y.tolist() == [0, 1, 2]
        assert ds.feature_names == ["a", "b"] and ds.n_classes == 3 and ds.target_names is None
        assert ds.task == "classification" and ds.name == str(p)

    def test_named_label_and_string_classes(self, tmp_path):
        p = tmp_path / "d.csv"
        p.write_text("species,x\ncat,1\ndog,2\nant,3\ncat,4\n")
        ds = load_dataset(str(p), label="species")
        assert ds.target_names == ["ant", "cat", "dog"] and ds.y.tolist() == [1, 2, 0, 1]
        assert ds.feature_names == ["x"] and ds.n_classes == 3

    def test_regression(self, tmp_path):
        p = tmp_path / "r.csv"
        p.write_text("x,price\n1,1.5\n2,2.25\n")
        ds = load_dataset(p)
        assert ds.task == "regression" and ds.y.dtype == np.float32 and ds.y.shape == (2,)
        assert ds.n_classes is None
        assert load_dataset(p, task="regression").task == "regression"
        p.write_text("x,count\n1,3\n2,5\n")
        assert load_dataset(p, task="regression").y.tolist() == [3.0, 5.0]

    def test_non_numeric_feature(self, tmp_path):
        p = tmp_path / "bad.csv"
        p.write_text("a,b,y\n1,2,0\n1,oops,1\n")
        with pytest.raises(
            DataError, match=r"bad.csv: row 2 \(line 3\), column 'b': expected a number, got 'oops'"
        ):
            load_dataset(p)

    def test_structure_errors(self, tmp_path):
        p = tmp_path / "e.csv"
        p.write_text("1,2,0\n3,4,1\n")
        with pytest.raises(DataError, match="e.csv: expected a header row"):
            load_dataset(p)
        p.write_text("a,b,y\n1,2\n")
        with pytest.raises(DataError, match=r"row 1 \(line 2\): expected 3 fields, got 2"):
            load_dataset(p)
        p.write_text("a,y\n")
        with pytest.raises(DataError, match="at least one data row"):
            load_dataset(p)
        p.write_text("y\n1\n")
        with pytest.raises(DataError, match="at least one feature column"):
            load_dataset(p)
        p.write_text("a,y\n1,\n")
        with pytest.raises(DataError, match="row 1, column 'y': the label is empty"):
            load_dataset(p)
        p.write_text("a,y\n1,0\n")
        with pytest.raises(
            ConfigError, match=r"label: expected one of the columns \['a', 'y'\], got 'z'"
        ):
            load_dataset(p, label="z")
        p.write_text("a,y\nnan,0\n")
        with pytest.raises(DataError, match="e.csv: X: expected finite values"):
            load_dataset(p)
        p.write_text("a,y\n1,-1\n2,1\n")  # issue 8: -1/+1 are two classes, no longer an error
        ds = load_dataset(p)
        assert ds.y.tolist() == [0, 1] and ds.target_names == ["-1", "1"]
        with pytest.raises(ConfigError, match="n_samples/noise"):
            load_dataset(p, n_samples=3)
        with pytest.raises(ConfigError, match="task: unknown name 'ranking'; expected one of"):
            load_dataset(p, task="ranking")
        p.write_text("a,y\n1,cat\n")
        with pytest.raises(DataError, match="y: expected numbers for regression, got text 'cat'"):
            load_dataset(p, task="regression")

    def test_builtin_name_wins_over_file(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        (tmp_path / "iris").write_text("a,y\n1,0\n")
        assert load_dataset("iris").n_samples == 150
        (tmp_path / "mydata").write_text("a,y\n1,0\n")
        with pytest.raises(DataError, match="mydata: unknown file type"):
            load_dataset("mydata")


class TestNPZ:
    def test_roundtrip_and_names(self, tmp_path):
        p = tmp_path / "d.npz"
        X = np.arange(12, dtype=np.float64).reshape(4, 3)
        np.savez(p, X=X, y=np.array([0, 1, 1, 0]), feature_names=np.array(["a", "b", "c"]))
        ds = load_dataset(p)
        assert ds.X.dtype == np.float32 and ds.feature_names == ["a", "b", "c"]
        assert ds.y.tolist() == [0, 1, 1, 0] and ds.n_classes == 2

    def test_label_key_images_and_text(self, tmp_path):
        p = tmp_path / "d.npz"
        np.savez(p, X=np.zeros((3, 2, 2)), target=np.array(["b", "a", "b"]))
        ds = load_dataset(p, label="target")
        assert ds.X.shape == (3, 4) and ds.target_names == ["a", "b"] and ds.y.tolist() == [1, 0, 1]
        assert ds.feature_names == ["x0", "x1", "x2", "x3"]

    def test_errors(self, tmp_path):
        p = tmp_path / "d.npz"
        np.savez(p, X=np.zeros((3, 2)))
        with pytest.raises(DataError, match=r"d.npz: expected arrays 'X' and 'y', found \['X'\]"):
            load_dataset(p)
        p.write_bytes(b"not a zip")
        with pytest.raises(DataError, match="d.npz: cannot read the NPZ file"):
            load_dataset(p)
        np.savez(p, X=np.zeros((2, 2)), y=np.array([0, 1, 2]))
        with pytest.raises(DataError, match="expected as many labels as rows, got 2 rows and 3"):
            load_dataset(p)
        np.savez(p, X=np.zeros((2, 2)), y=np.array([0, 2]), target_names=np.array(["a", "b"]))
        with pytest.raises(
            DataError, match=r"y: expected integer class labels 0..1 \(n_classes=2\)"
        ):
            load_dataset(p)
        np.savez(p, X=np.zeros((0, 2)), y=np.array([]))
        with pytest.raises(DataError, match="array 'X' is empty"):
            load_dataset(p)


class TestIDX:
    def test_load_idx_dtypes(self, tmp_path):
        for code, dt in [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32),
                         (0x0D, np.float32), (0x0E, np.float64)]:  # fmt: skip
            a = np.arange(24).reshape(2, 3, 4).astype(dt)
            out = load_idx(write_idx(tmp_path / f"a{code}.idx", a, code))
            assert out.dtype == dt and out.dtype.isnative
            np.testing.assert_array_equal(out, a)

    def test_gzip(self, tmp_path):
        a = np.arange(6, dtype=np.uint8)
        np.testing.assert_array_equal(
            load_idx(write_idx(tmp_path / "l.idx1-ubyte.gz", a, gz=True)), a
        )

    def test_load_dataset_mnist_style(self, tmp_path):
        imgs = np.array([[[0, 255], [51, 0]], [[255, 255], [0, 0]], [[1, 2], [3, 4]]], np.uint8)
        ip = write_idx(tmp_path / "train-images-idx3-ubyte.gz", imgs, gz=True)
        lp = write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([7, 0, 3], np.uint8))
        ds = load_dataset(ip, label=str(lp))
        assert ds.X.shape == (3, 4) and ds.X.dtype == np.float32
        np.testing.assert_allclose(ds.X[0], [0, 1, 0.2, 0])
        assert ds.y.tolist() == [7, 0, 3] and ds.n_classes == 8
        assert ds.feature_names[:2] == ["pixel_0_0", "pixel_0_1"]

    def test_errors(self, tmp_path):
        imgs = write_idx(tmp_path / "i.idx", np.zeros((2, 2, 2), np.uint8))
        with pytest.raises(ConfigError, match="label: expected the path of the labels IDX file"):
            load_dataset(imgs)
        labels = write_idx(tmp_path / "l.idx", np.zeros(3, np.uint8))
        with pytest.raises(DataError, match="got 2 rows and 3"):
            load_dataset(imgs, label=labels)
        bad = tmp_path / "bad.idx"
        bad.write_bytes(b"\x01\x02\x08\x01")
        with pytest.raises(DataError, match="bad.idx: not an IDX file"):
            load_idx(bad)
        bad.write_bytes(b"")
        with pytest.raises(DataError, match="not an IDX file"):
            load_idx(bad)
        bad.write_bytes(bytes([0, 0, 8, 2, 0, 0]))
        with pytest.raises(DataError, match="truncated IDX header"):
            load_idx(bad)
        bad.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 5) + b"abc")
        with pytest.raises(DataError, match=r"shape \(5,\) needs 5 bytes, got 3"):
            load_idx(bad)
        with pytest.raises(DataError, match="missing.idx: no such file"):
            load_idx(tmp_path / "missing.idx")
        with pytest.raises(DataError, match="expected IDX images"):
            load_dataset(labels, label=labels)
        empty = write_idx(tmp_path / "e.idx", np.zeros((0, 2, 2), np.uint8))
        none = write_idx(tmp_path / "n.idx", np.zeros(0, np.uint8))
        with pytest.raises(DataError, match="e.idx: X: expected at least one sample"):
            load_dataset(empty, label=none)


def test_file_errors(tmp_path):
    with pytest.raises(DataError, match=r"nope.csv: cannot load the data file \(no such file\)"):
        load_dataset(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="no such file"):
        load_dataset("missing/data.csv")
    with pytest.raises(DataError, match="expected one folder of images per class"):
        load_dataset(tmp_path)  # a folder is image data now (issue 10); this one holds none
    p = tmp_path / "d.txt"
    p.write_text("a")
    with pytest.raises(DataError, match="d.txt: unknown file type"):
        load_dataset(p)
