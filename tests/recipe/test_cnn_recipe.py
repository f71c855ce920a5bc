"""``model = "cnn"``, ``channels`` and ``residual`` in the recipe: validation, the model
defaults, image inputs scaled per channel, the one error for data that are not images, and
train -> save -> predict with the saved image shape."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError, DataError, ModelFileError
from deltaprop.recipe import Recipe, build_model, load_data, predict_file
from deltaprop.recipe.predict import load_model

TINY_CNN = {"model": "cnn", "channels": "4,8", "hidden": "16", "epochs": 2, "log_every": 2}


def test_model_keys_are_checked_and_hidden_follows_the_model():
    assert Recipe().model == "mlp" and Recipe(model="CNN").model == "cnn"
    assert Recipe().hidden == (256, 128) and Recipe(model="cnn").hidden == (128,)
    assert not Recipe().batchnorm and Recipe(model="cnn").batchnorm
    assert not Recipe(model="cnn", batchnorm=False).batchnorm
    assert Recipe().replace(model="cnn").hidden == (128,)  # the new model's default
    assert Recipe(hidden="64").replace(model="cnn").hidden == (64,)  # a given one stays
    assert Recipe(model="cnn", channels=[8, 16]).channels == (8, 16)
    with pytest.raises(ConfigError, match=r"^model: unknown name 'rnn'; expected one of"):
        Recipe(model="rnn")
    with pytest.raises(ConfigError, match=r"^--channels: conv block widths need --model cnn, "
                                          r"got --model mlp"):  # fmt: skip
        Recipe(channels="8", source="cli")
    with pytest.raises(ConfigError, match="^channels: expected at least one width"):
        Recipe(model="cnn", channels="")
    with pytest.raises(ConfigError, match="^layernorm: applies to model mlp; a cnn normalizes "
                                          "with batchnorm"):  # fmt: skip
        Recipe(model="cnn", layernorm=True)
    with pytest.raises(ConfigError, match=r"^--descent stochastic: batch normalization \(on by "
                                          r"default for a cnn\) needs batches of 2 rows or more, "
                                          r"and stochastic descent gives 1; use --descent "
                                          r"minibatch, or --no-batchnorm$"):  # fmt: skip
        Recipe(model="cnn", descent="stochastic", source="cli")
    with pytest.raises(ConfigError, match=r"^descent stochastic: batch normalization needs .* or "
                                          r"batchnorm=False$"):  # fmt: skip
        Recipe(batchnorm=True, descent="stochastic")
    assert Recipe(model="cnn", descent="stochastic", batchnorm=False).descent == "stochastic"


def test_cnn_inputs_are_images_scaled_per_channel():
    mlp, cnn = load_data(Recipe()), load_data(Recipe(model="cnn"))
    assert mlp.X_train.shape == (1437, 64) and mlp.input_shape == (64,)
    assert cnn.X_train.shape == (1437, 1, 8, 8) and cnn.input_shape == (1, 8, 8)
    assert cnn.X_test.shape == (360, 1, 8, 8) and cnn.n_in == 64
    scaler = cnn.prep.x_scaler  # one mean and scale for the one channel, repeated per column
    assert np.unique(scaler.mean).size == 1 and np.unique(scaler.scale).size == 1
    assert abs(cnn.X_train.mean()) < 1e-5 and cnn.X_train.std() == pytest.approx(1, abs=1e-5)
    # Per-pixel scaling blows up digits' border pixels (nearly always 0 in training); one
    # scale per channel keeps every pixel on the same scale.
    assert np.abs(mlp.X_test).max() > 30 and np.abs(cnn.X_test).max() < 3


def test_channel_scaler_takes_each_channel_apart():
    from deltaprop.recipe.images import channel_scaler

    X = np.zeros((2, 2, 1, 2))
    X[:, 0] = [[1.0, 3.0]]  # channel 0: mean 2, std 1
    X[:, 1] = 5.0  # channel 1: constant -> scale 1
    scaler = channel_scaler(X.reshape(2, -1), (2, 1, 2))
    assert scaler.mean.tolist() == [2.0, 2.0, 5.0, 5.0]
    assert scaler.scale.tolist() == [1.0, 1.0, 1.0, 1.0]


def test_a_cnn_on_data_that_are_not_images_is_one_error_naming_model_and_data(tmp_path):
    out = {"save": tmp_path / "m.safetensors", "metrics_out": tmp_path / "m.json"}
    with pytest.raises(ConfigError) as info:
        dp.run(Recipe(model="cnn", dataset="wine", source="cli", **out), verbose=False)
    assert str(info.value).startswith(
        "--model cnn needs image data, and wine is not (rows of 13 features, no image shape); "
        "image data: digits, an IDX file or MNIST folder"
    )
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    with pytest.raises(ConfigError, match=rf"^model cnn needs image data, and {path} is not "
                                          r"\(rows of 2 features"):  # fmt: skip
        load_data(Recipe(model="cnn", dataset=str(path)))
    with pytest.raises(ConfigError, match=r"^model cnn: expected image inputs \(C, H, W\), got "
                                          r"rows of 64 features"):  # fmt: skip
        build_model(Recipe(model="cnn"), 64, 10)
    with pytest.raises(ConfigError, match=r"^--channels: 4 conv blocks, each halving the image "
                                          r"with a 2x2 max-pool, need images of at least 16x16 "
                                          r"pixels, got 8x8; give at most 3 widths$"):  # fmt: skip
        dp.run(Recipe(model="cnn", channels="4,4,4,4", source="cli", **out), verbose=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]  # nothing written


def test_run_header_names_the_model():
    lines: list[str] = []
    dp.run(Recipe(**TINY_CNN, residual=True), verbose=False, log=lines.append)
    assert lines[-1] == (
        "digits: 1293 train + 144 validation / 360 test rows, 1x8x8 images, 10 classes; "
        "CNN 1x8x8 conv 4-8 dense 16-10 relu, batchnorm, residual"
    )
    lines.clear()
    dp.run(Recipe(hidden="8,8", residual=True, epochs=1), verbose=False, log=lines.append)
    assert lines[-1].endswith("64 features, 10 classes; MLP 64-8-8-10 relu, residual")


def test_residual_recipes_build_residual_blocks():
    mlp = build_model(Recipe(hidden="16,16", residual=True), 64, 10)
    assert [type(m).__name__ for m in mlp] == ["Residual", "Residual", "Linear"]
    cnn = build_model(Recipe(model="cnn", channels="4", residual=True), (1, 8, 8), 10)
    assert isinstance(cnn[0], nn.Residual) and isinstance(cnn[0].shortcut, nn.Conv2d)


def test_cnn_trains_saves_and_predicts_flat_rows_as_images(tmp_path):
    model_path = tmp_path / "cnn.safetensors"
    result = dp.run(Recipe(**TINY_CNN, save=str(model_path)), verbose=False)
    assert result.metrics["test_accuracy"] > 0.5
    model, prep, info = load_model(model_path)
    assert info["image_shape"] == [1, 8, 8] and info["settings"]["model"] == "cnn"
    assert info["settings"]["channels"] == "4,8"
    pred = predict_file(model_path, "digits")
    assert pred.n == 1797 and pred.metrics["accuracy"] > 0.5
    # the same rows from a CSV file of pixel columns (by name, any order): the same answers
    ds = dp.data.load_dataset("digits")
    csv_path = tmp_path / "digits.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        names = list(reversed(ds.feature_names))
        w.writerow([*names, "digit"])
        order = [ds.feature_names.index(n) for n in names]
        for x, y in zip(ds.X[:50], ds.y[:50]):
            w.writerow([*x[order].tolist(), int(y)])
    from_csv = predict_file(model_path, str(csv_path), label="digit")
    assert from_csv.values.tolist() == pred.values[:50].tolist()


def test_an_mlp_on_images_saves_no_image_shape(tmp_path):
    path = tmp_path / "mlp.safetensors"
    dp.run(Recipe(hidden="8", epochs=1, save=str(path)), verbose=False)
    assert "image_shape" not in load_model(path)[2]
    assert predict_file(path, "digits").n == 1797


def test_predict_refuses_images_of_another_shape_and_a_bad_saved_shape(tmp_path):
    model_path = tmp_path / "cnn.safetensors"
    dp.run(Recipe(**TINY_CNN, save=str(model_path)), verbose=False)
    npz = tmp_path / "small.npz"
    np.savez(npz, X=np.zeros((4, 1, 4, 4), np.float32), y=np.arange(4) % 2)
    with pytest.raises(DataError, match=r"small.npz: images of 1x4x4 \(C x H x W\); the model .* "
                                        r"takes 1x8x8 images"):  # fmt: skip
        predict_file(model_path, str(npz))
    model, meta = dp.io.load(model_path, return_metadata=True)
    info = dict(meta["deltaprop_cli"], image_shape=[1, 8, 9])
    bad = tmp_path / "bad.safetensors"
    dp.io.save(model, bad, metadata={"deltaprop_cli": info})
    with pytest.raises(
        ModelFileError,
        match=r"image_shape \[1, 8, 9\] in its metadata: expected "
        r"\[C, H, W\] whose product is the model's 64",
    ):
        load_model(bad)


def test_a_residual_cnn_saves_and_predicts(tmp_path):
    path = tmp_path / "res.safetensors"
    result = dp.run(Recipe(**TINY_CNN, residual=True, save=str(path)), verbose=False)
    model = load_model(path)[0]
    assert isinstance(model[0], nn.Residual) and isinstance(model[0].shortcut, nn.Conv2d)
    pred = predict_file(path, "digits")
    X = dp.data.load_dataset("digits").X
    with result.model.evaluating():
        expected = result.model(result.data.prep.transform(X).reshape(-1, 1, 8, 8)).numpy()
    assert pred.values.tolist() == [str(c) for c in expected.argmax(axis=1)]


def test_a_20_layer_tanh_net_trains_with_skip_connections_and_stalls_without():
    """Issue 10 item 4 (examples/deep_residual.py has the figures): 20 tanh layers of 64 with
    the default init; the plain net stays at chance, the residual one learns."""
    deep = Recipe(hidden=",".join(["64"] * 20), activation="tanh", epochs=10, seed=0)
    with dp.report.quiet():  # the plain run's stall warning
        plain = dp.run(deep, verbose=False).metrics["test_accuracy"]
    residual = dp.run(deep.replace(residual=True), verbose=False).metrics["test_accuracy"]
    assert plain < 0.15 and residual >= 0.95


@pytest.mark.slow  # 30 epochs of the default cnn: several seconds
def test_the_default_cnn_reaches_the_goal_on_digits():
    """Issue 10 item 3: `deltaprop train --model cnn` with its defaults; seeds 0-4 give
    0.9944 0.9944 0.9972 0.9861 0.9917 (mean 0.9928, README "CNNs"); seed 0 guards it here."""
    result = dp.run(Recipe(model="cnn", seed=0), verbose=False)
    assert result.metrics["test_accuracy"] >= 0.985
