"""Image data sets (issue 10, item 6): X stays flat (n, C * H * W) with ``image_shape`` (C, H, W)
for digits, IDX images, MNIST folders and NPZ files with 3-D or 4-D X; ``as_images`` gives the
(n, C, H, W) view a CNN takes and refuses tabular data. The IDX files are written here by hand."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from deltaprop.data import Dataset, as_images, load_dataset
from deltaprop.errors import ConfigError, DataError, ShapeError
from deltaprop.recipe import Recipe
from deltaprop.recipe.build import load_data
from deltaprop.report import DeltapropWarning


def idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    return bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + (
        arr.astype(arr.dtype.newbyteorder(">")).tobytes())  # fmt: skip


def write_idx(path, arr, gz=False):
    data = idx_bytes(np.asarray(arr))
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def mnist_part(folder, part, n, hw=(3, 2), seed=0, gz=False, sep="-"):
    """``part``-images (n, *hw) with pixel i = label * 50 + i, and its labels, MNIST's names."""
    y = np.arange(n, dtype=np.uint8) % 3
    X = (y[:, None, None] * 50 + np.arange(np.prod(hw)).reshape(hw)).astype(np.uint8)
    ext = ".gz" if gz else ""
    write_idx(folder / f"{part}-images{sep}idx3-ubyte{ext}", X, gz)
    write_idx(folder / f"{part}-labels{sep}idx1-ubyte{ext}", y, gz)
    return X, y


class TestImageShape:
    def test_digits_are_one_by_eight_by_eight(self):
        ds = load_dataset("digits")
        assert ds.image_shape == (1, 8, 8) and ds.X.shape == (1797, 64)
        images = as_images(ds)
        assert images.shape == (1797, 1, 8, 8) and np.shares_memory(images, ds.X)
        np.testing.assert_array_equal(images[5, 0, 2], ds.X[5, 16:24])  # row 2 of image 5

    def test_tabular_data_is_refused_by_name(self):
        for name in ("iris", "moons"):
            assert load_dataset(name).image_shape is None
            with pytest.raises(ConfigError, match=rf"{name}: not image data .* a CNN needs images"):
                as_images(load_dataset(name))
        with pytest.raises(ConfigError, match=r"X: not image data \(rows of 4 features"):
            as_images(np.zeros((2, 4)))

    def test_arrays_with_a_shape_and_bad_shapes(self):
        X = np.arange(24, dtype=np.float32).reshape(2, 12)
        assert as_images(X, (3, 2, 2)).shape == (2, 3, 2, 2)
        with pytest.raises(ShapeError, match=r"image_shape \(1, 2, 2\) needs X of shape \(n, 4\)"):
            as_images(X, (1, 2, 2))
        with pytest.raises(ShapeError, match=r"image_shape: expected \(C, H, W\) of positive ints"):
            as_images(X, (12, 1))
        with pytest.raises(ShapeError, match=r"bad: image_shape \(1, 2, 2\) needs X of shape"):
            Dataset(X, np.zeros(2, np.int64), "classification", 1, [], None, "bad", (1, 2, 2))

    def test_the_run_data_carries_it_for_a_cnn(self):
        run = load_data(Recipe(dataset="digits", seed=0))
        assert run.image_shape == (1, 8, 8)
        assert as_images(run.X_train, run.image_shape).shape == (len(run.X_train), 1, 8, 8)
        assert load_data(Recipe(dataset="iris", seed=0)).image_shape is None


class TestIDX:
    def test_an_images_file_is_one_channel_and_finds_its_labels(self, tmp_path):
        X, y = mnist_part(tmp_path, "train", 6, gz=True)
        ds = load_dataset(tmp_path / "train-images-idx3-ubyte.gz")  # no label: found next to it
        assert ds.image_shape == (1, 3, 2) and ds.y.tolist() == y.tolist()
        np.testing.assert_allclose(as_images(ds)[:, 0], X / 255.0)
        assert ds.feature_names == [f"pixel_{r}_{c}" for r in range(3) for c in range(2)]

    def test_labels_are_still_asked_for_when_not_named_as_mnist(self, tmp_path):
        write_idx(tmp_path / "imgs.idx", np.zeros((2, 2, 2), np.uint8))
        with pytest.raises(ConfigError, match=r"label: expected the path of the labels IDX file"):
            load_dataset(tmp_path / "imgs.idx")

    @pytest.mark.parametrize("gz", [False, True])
    @pytest.mark.parametrize("sep", ["-", "."])
    def test_a_folder_with_the_four_mnist_files(self, tmp_path, gz, sep):
        X1, y1 = mnist_part(tmp_path, "train", 7, gz=gz, sep=sep)
        X2, y2 = mnist_part(tmp_path, "t10k", 4, gz=gz, sep=sep)
        ds = load_dataset(tmp_path)
        assert ds.image_shape == (1, 3, 2) and ds.n_samples == 11 and ds.test_from == 7
        assert ds.y.tolist() == y1.tolist() + y2.tolist() and ds.n_classes == 3
        np.testing.assert_allclose(as_images(ds)[7:, 0], X2 / 255.0)
        assert ds.name == str(tmp_path) and ds.task == "classification"

    def test_plain_files_win_over_their_gz_copies_and_one_part_is_enough(self, tmp_path):
        mnist_part(tmp_path, "train", 5, gz=False)
        write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((1, 9, 9), np.uint8), gz=True)
        ds = load_dataset(tmp_path)  # torchvision's raw folder holds both forms
        assert ds.image_shape == (1, 3, 2) and ds.n_samples == 5 and ds.test_from is None

    def test_a_missing_labels_file_is_named(self, tmp_path):
        mnist_part(tmp_path, "train", 5)
        write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 3, 2), np.uint8))
        with pytest.raises(DataError, match=r"has t10k-images-idx3-ubyte but no "
                           r"t10k-labels-idx1-ubyte \(or \.gz\)"):  # fmt: skip
            load_dataset(tmp_path)

    def test_counts_sizes_and_damage_are_named(self, tmp_path):
        mnist_part(tmp_path, "train", 5)
        mnist_part(tmp_path, "t10k", 2, hw=(4, 2))
        with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte: images of 4x2, but "
                           r"train-images-idx3-ubyte holds 3x2"):  # fmt: skip
            load_dataset(tmp_path)
        mnist_part(tmp_path, "t10k", 2)
        write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3, np.uint8))
        with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: 3 labels for the 2 images of "
                           r"t10k-images-idx3-ubyte"):  # fmt: skip
            load_dataset(tmp_path)
        mnist_part(tmp_path, "t10k", 2)
        whole = (tmp_path / "t10k-images-idx3-ubyte").read_bytes()
        (tmp_path / "t10k-images-idx3-ubyte").write_bytes(whole[:-3])  # truncated
        with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte: IDX data of shape \(2, 3, 2\)"
                           r" needs 12 bytes, got 9"):  # fmt: skip
            load_dataset(tmp_path)
        write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 6), np.uint8))
        with pytest.raises(DataError, match=r"expected IDX images of bytes \(n, rows, cols\)"):
            load_dataset(tmp_path)


class TestNPZ:
    @pytest.mark.filterwarnings("error::deltaprop.report.DeltapropWarning")
    def test_four_and_three_dimensional_x_are_images(self, tmp_path):
        X = np.random.default_rng(0).random((5, 2, 3, 4)).astype(np.float32)
        y = np.array([0, 1, 0, 1, 1])
        np.savez(tmp_path / "nchw.npz", X=X, y=y)
        ds = load_dataset(tmp_path / "nchw.npz")
        assert ds.image_shape == (2, 3, 4) and ds.X.shape == (5, 24)
        np.testing.assert_array_equal(as_images(ds), X)
        assert ds.feature_names[-1] == "x23"  # as NPZ columns were always named
        np.savez(tmp_path / "nhw.npz", X=X[:, 0], y=y)
        ds = load_dataset(tmp_path / "nhw.npz")
        assert ds.image_shape == (1, 3, 4)
        np.testing.assert_array_equal(as_images(ds)[:, 0], X[:, 0])
        np.savez(tmp_path / "flat.npz", X=X.reshape(5, -1), y=y)
        assert load_dataset(tmp_path / "flat.npz").image_shape is None

    @pytest.mark.filterwarnings("error::deltaprop.report.DeltapropWarning")
    def test_channels_last_is_taken_as_given_and_warned_of_when_used_as_images(self, tmp_path):
        np.savez(tmp_path / "nhwc.npz", X=np.zeros((4, 8, 8, 3), np.float32), y=[0, 1, 0, 1])
        ds = load_dataset(tmp_path / "nhwc.npz")  # an MLP does not care: no warning
        assert ds.image_shape == (8, 8, 3) and ds.X.shape == (4, 192)
        with pytest.warns(DeltapropWarning, match=r"nhwc\.npz: image shape \(8, 8, 3\) \(C, H, W\) "
                          r"looks channels-last.*X\.transpose\(0, 3, 1, 2\)"):  # fmt: skip
            assert as_images(ds).shape == (4, 8, 8, 3)
        with pytest.warns(DeltapropWarning, match=r"^X_train: image shape \(8, 8, 3\)"):
            as_images(ds.X, ds.image_shape, name="X_train")


class TestFromTheCommandLine:
    def test_train_an_mlp_on_an_mnist_folder_and_predict_it(self, tmp_path, capsys):
        from deltaprop.cli import main

        data = tmp_path / "mnist"
        data.mkdir()
        mnist_part(data, "train", 60, gz=True)
        mnist_part(data, "t10k", 15, gz=True)
        model = tmp_path / "m.safetensors"
        argv = ["train", "--dataset", data, "--hidden", "8", "--epochs", "15", "--seed", "0",
                "--save", model]  # fmt: skip
        assert main([str(a) for a in argv]) == 0
        out = capsys.readouterr().out
        assert "rows, 6 features, 3 classes; MLP 6-8-3" in out
        assert main(["predict", str(model), "--dataset", str(data)]) == 0
        out = capsys.readouterr().out
        assert "on 75 rows" in out

    def test_train_an_mlp_on_an_image_folder(self, tmp_path, capsys):
        Image = pytest.importorskip("PIL.Image")
        from deltaprop.cli import main

        for k, cls in enumerate(["dark", "light"]):
            (tmp_path / cls).mkdir()
            for i in range(12):
                Image.fromarray(np.full((3, 3), 40 + 150 * k + i, np.uint8)).save(
                    tmp_path / cls / f"{i}.png")  # fmt: skip
        argv = ["train", "--dataset", tmp_path, "--hidden", "4", "--epochs", "20", "--seed", "0"]
        assert main([str(a) for a in argv]) == 0
        out = capsys.readouterr().out
        assert "9 features, 2 classes; MLP 9-4-2" in out and "test_accuracy 1.0000" in out

    def test_a_missing_folder_or_file_is_still_named(self, tmp_path):
        with pytest.raises(DataError, match=r"nothing: cannot load the data file \(no such file\)"):
            load_dataset(tmp_path / "nothing")
