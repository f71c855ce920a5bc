"""`deltaprop export` (a saved model -> ONNX, run by onnxruntime) and `deltaprop train
--tensorboard DIR / --mlflow` (the recipe keys tensorboard and mlflow), as a user runs them."""

from __future__ import annotations

import os

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.cli import main
from deltaprop.data import Standardizer, load_dataset
from deltaprop.errors import ConfigError
from deltaprop.nn.module import Module

FAST = ["--dataset", "iris", "--epochs", "3", "--hidden", "8", "--log-every", "1"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- export -----------------------------------------------------------------------------------


def test_export_a_trained_mlp_and_run_it_in_onnxruntime(tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    model_path, out = tmp_path / "m.safetensors", tmp_path / "m.onnx"
    assert run(capsys, "train", *FAST, "--save", model_path)[0] == 0
    code, text, _ = run(capsys, "export", model_path, "--format", "onnx", "--out", out)
    assert code == 0
    assert (
        text.strip()
        == f"wrote {out}: input 'input' (batch,4) -> output 'output' (batch,3); opset 17"
    )
    # the graph takes the standardized features, as the saved model does
    meta = dp.read_metadata(model_path)["deltaprop_cli"]
    X = (
        Standardizer.from_state(meta["standardizer"])
        .transform(load_dataset("iris").X)
        .astype(np.float32)
    )
    got = ort.InferenceSession(str(out)).run(None, {"input": X})[0]
    want = dp.load(model_path)(dp.tensor(X)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_export_a_cnn_takes_the_image_shape_from_the_file(tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    model_path, out = tmp_path / "c.safetensors", tmp_path / "c.onnx"
    argv = ["--model", "cnn", "--channels", "4", "--hidden", "8", "--epochs", "1"]
    assert run(capsys, "train", *argv, "--quiet", "--save", model_path)[0] == 0
    code, text, _ = run(capsys, "export", model_path, "--out", out)
    assert code == 0 and "input 'input' (batch,1,8,8) -> output 'output' (batch,10)" in text
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    got = ort.InferenceSession(str(out)).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, dp.load(model_path)(dp.tensor(x)).numpy(), rtol=1e-5, atol=1e-5)


def test_export_a_model_built_in_code_needs_or_takes_an_input_shape(tmp_path, capsys):
    pytest.importorskip("onnx")
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten())
    dp.save(model, tmp_path / "conv.safetensors")
    code, _, err = run(
        capsys, "export", tmp_path / "conv.safetensors", "--out", tmp_path / "c.onnx"
    )
    assert code == 2
    assert "--input-shape: needed for this model: its first layer is a Conv2d" in err
    assert not (tmp_path / "c.onnx").exists()
    argv = ["export", tmp_path / "conv.safetensors", "--out", tmp_path / "c.onnx"]
    code, text, _ = run(capsys, *argv, "--input-shape", "2,5,5")
    assert code == 0 and "(batch,2,5,5) -> output 'output' (batch,27)" in text


class Halve(Module):
    def forward(self, x):
        return x * 0.5

    def get_config(self):
        return {}


def test_export_errors_are_one_line_naming_the_problem(tmp_path, capsys):
    pytest.importorskip("onnx")
    # a model file with a layer deltaprop does not know (registered where it was saved only)
    nn.register_layer(Halve)
    try:
        dp.save(nn.Sequential(nn.Linear(3, 3), Halve()), tmp_path / "custom.safetensors")
        code, _, err = run(
            capsys, "export", tmp_path / "custom.safetensors", "--out", tmp_path / "x.onnx"
        )
        assert code == 2  # registered here: it loads, and has no ONNX form
        assert "layer '1' is a " in err and "Halve, which has no ONNX form" in err
    finally:
        del nn.LAYERS["Halve"]
    code, _, err = run(
        capsys, "export", tmp_path / "custom.safetensors", "--out", tmp_path / "x.onnx"
    )
    assert code == 2 and "is a 'Halve', which is not a registered layer class" in err
    assert err.count("\n") == 1 and not (tmp_path / "x.onnx").exists()
    dp.save(nn.Linear(3, 2), tmp_path / "ok.safetensors")
    code, _, err = run(
        capsys, "export", tmp_path / "ok.safetensors", "--out", tmp_path / "ok.safetensors"
    )
    assert code == 2 and "--out" in err
    code, _, err = run(capsys, "export", tmp_path / "ok.safetensors", "--out", tmp_path / "x.onnx",
                       "--input-shape", "5")  # fmt: skip
    assert code == 2 and err.startswith("deltaprop: error: --input-shape: the model does not run")
    code, _, err = run(
        capsys, "export", tmp_path / "ok.safetensors", "--format", "tflite", "--out", "x"
    )
    assert code == 2 and "invalid choice: 'tflite'" in err
    code, _, err = run(
        capsys, "export", tmp_path / "none.safetensors", "--out", tmp_path / "x.onnx"
    )
    assert code == 2 and "no such file" in err
    if os.path.isdir("/proc/self"):
        code, _, err = run(capsys, "export", tmp_path / "ok.safetensors", "--out", "/proc/x.onnx")
        assert code == 2 and err.startswith(
            "deltaprop: error: --out: cannot create a file in /proc"
        )


# --- --tensorboard and --mlflow ------------------------------------------------------------


def test_train_tensorboard_writes_the_runs_epochs(tmp_path, capsys):
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    code, _, _ = run(capsys, "train", *FAST, "--cv", "2", "--tensorboard", tmp_path / "tb")
    assert code == 0
    files = os.listdir(tmp_path / "tb")
    assert len(files) == 1  # the final fit only, not the cross-validation's folds
    acc = ea.EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("val_loss")] == [1, 2, 3]


def test_recipe_keys_from_python_and_toml(tmp_path):
    pytest.importorskip("tensorboardX")
    toml = tmp_path / "run.toml"
    toml.write_text(f'tensorboard = "{tmp_path / "tb"}"\nmlflow = false\n')
    recipe = dp.Recipe.from_toml(toml)
    assert recipe.tensorboard == str(tmp_path / "tb") and recipe.mlflow is False
    assert recipe.to_dict()["tensorboard"] == str(tmp_path / "tb")
    built = dp.recipe.build_callbacks(recipe, log=None)
    assert [type(cb).__name__ for cb in built] == ["StallWarning", "TensorBoard"]
    assert (
        dp.recipe.build_callbacks(recipe, log=None, tracking=False)[-1].__class__.__name__
        == "StallWarning"
    )
    with pytest.raises(ConfigError, match="mlflow: expected True or False, got 'yes'"):
        dp.Recipe(mlflow="yes")
    with pytest.raises(ConfigError, match="tensorboard: expected a string, got 3"):
        dp.Recipe(tensorboard=3)


def test_an_unwritable_log_dir_fails_before_any_work(tmp_path, capsys):
    pytest.importorskip("tensorboardX")
    afile = tmp_path / "f"
    afile.write_text("x")
    save = tmp_path / "m.safetensors"
    code, out, err = run(capsys, "train", *FAST, "--save", save, "--tensorboard", afile / "tb")
    assert code == 2 and out == ""  # no header, no epoch: nothing ran
    message = f"--tensorboard: cannot create the folder {afile / 'tb'}: Not a directory"
    assert err == f"deltaprop: error: {message}\n"
    assert not save.exists()
    with pytest.raises(ConfigError, match="^tensorboard: .* is a file; expected a folder"):
        dp.run(dp.Recipe(dataset="iris", epochs=1, tensorboard=str(afile)), verbose=False)


@pytest.mark.slow
def test_train_mlflow_logs_the_settings_epochs_test_scores_and_model(tmp_path, capsys, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, out, err = run(capsys, "train", *FAST, "--mlflow")
    assert code == 0 and err == ""  # MLflow's own store messages kept off the terminal
    client = MlflowClient("sqlite:///" + str(tmp_path / "mlruns" / "mlflow.db"))
    (experiment,) = [e for e in client.search_experiments() if e.name == "deltaprop"]
    (run_info,) = client.search_runs([experiment.experiment_id])
    params, metrics = run_info.data.params, run_info.data.metrics
    assert params["dataset"] == "iris" and params["hidden"] == "8" and params["mlflow"] == "True"
    assert "label" not in params  # None values are left out
    assert metrics["test_accuracy"] == pytest.approx(
        float(out.split("test_accuracy ")[1].split()[0]), abs=1e-4
    )
    assert len(client.get_metric_history(run_info.info.run_id, "loss")) == 3
    assert [a.path for a in client.list_artifacts(run_info.info.run_id)] == ["model.safetensors"]


def test_diagnose_tensorboard_gets_the_monitors_gradient_norms(tmp_path, capsys):
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    code, _, _ = run(capsys, "diagnose", *FAST, "--tensorboard", tmp_path / "tb")
    assert code == 0
    acc = ea.EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    # the doctor appends its GradientMonitor after the recipe's callbacks: still written
    assert [e.step for e in acc.Scalars("grad_norm/0")] == [1, 2, 3]
    code, _, err = run(capsys, "diagnose", *FAST, "--tensorboard", "/proc/tb")
    assert code == 2 and err.startswith("deltaprop: error: --tensorboard: cannot create the folder")
