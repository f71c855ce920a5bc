"""dp.viz: every plot writes a valid PNG from a real (short) training run, has the expected
axes and lines, and rejects bad inputs with a DeltapropError naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg", force=True)

import deltaprop as dp  # noqa: E402
from deltaprop import nn, viz  # noqa: E402
from deltaprop.data import Standardizer, load_dataset  # noqa: E402
from deltaprop.errors import ConfigError, ShapeError  # noqa: E402
from deltaprop.optim import SGD, StepLR  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_bytes=5000):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > min_bytes


def mlp(n_in=2, n_out=2, hidden=16):
    return nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, n_out))


@pytest.fixture(scope="module")
def moons():
    ds = load_dataset("moons", n_samples=300, seed=0)
    return Standardizer().fit_transform(ds.X), ds.y


@pytest.fixture(scope="module")
def trained(moons):
    """A small classifier trained on moons, with validation and a learning-rate schedule."""
    X, y = moons
    dp.seed(0)
    model = mlp()
    opt = SGD(model.parameters(), lr=0.5, momentum=0.9)
    trainer = nn_trainer(model, opt, scheduler=StepLR(opt, step_size=10, gamma=0.5))
    history = trainer.fit(X, y, epochs=40, batch_size=32, validation_split=0.2, seed=0,
                          verbose=False)  # fmt: skip
    return trainer, history


def nn_trainer(model, opt, **kwargs):
    return dp.Trainer(model, nn.CrossEntropyLoss(), opt, **kwargs)


# --- plot_history ---------------------------------------------------------------------------
def test_plot_history_panels_lines_and_png(trained, tmp_path):
    trainer, history = trained
    assert "lr" in history.history and "val_accuracy" in history.history
    fig = viz.plot_history(history, tmp_path / "curves.png")
    assert_png(tmp_path / "curves.png")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy", "learning rate"]
    loss_ax = fig.axes[0]
    assert len(loss_ax.lines) == 2  # train and validation
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), history.history["loss"])
    np.testing.assert_allclose(loss_ax.lines[1].get_ydata(), history.history["val_loss"])
    np.testing.assert_allclose(fig.axes[2].lines[0].get_ydata(), history.history["lr"])
    # The same from the dict, from the Trainer, and for chosen metrics; no path: no file.
    assert len(viz.plot_history(history.history).axes) == 3
    assert len(viz.plot_history(trainer).axes) == 3
    assert [ax.get_title() for ax in viz.plot_history(history, metrics=["loss"]).axes] == [
        "loss",
        "learning rate",
    ]


def test_plot_history_without_lr_or_validation():
    fig = viz.plot_history({"loss": [1.0, 0.5, 0.25], "mae": [0.9, 0.6, 0.3]})
    assert [ax.get_title() for ax in fig.axes] == ["loss", "mae"]
    assert all(len(ax.lines) == 1 for ax in fig.axes)


def test_plot_history_omits_a_constant_learning_rate():
    # no schedule: the lr is the same every epoch, a panel of it is a flat line
    fig = viz.plot_history({"loss": [1.0, 0.5, 0.25], "lr": [0.1, 0.1, 0.1]})
    assert [ax.get_title() for ax in fig.axes] == ["loss"]
    fig = viz.plot_history({"loss": [1.0, 0.5, 0.25], "lr": [0.1, 0.1, 0.01]})
    assert [ax.get_title() for ax in fig.axes] == ["loss", "learning rate"]


def test_plot_history_bad_inputs():
    with pytest.raises(ConfigError, match="history"):
        viz.plot_history([1, 2, 3])
    with pytest.raises(ConfigError, match="history.*empty"):
        viz.plot_history({})
    with pytest.raises(ConfigError, match="metrics.*'f1'"):
        viz.plot_history({"loss": [1.0]}, metrics=["f1"])
    with pytest.raises(ConfigError, match="path: folder does not exist"):
        viz.plot_history({"loss": [1.0]}, "/nonexistent-folder/x.png")


# --- plot_histories -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def descent_runs(moons):
    X, y = moons
    runs = {}
    for descent, lr in (("batch", 1.0), ("stochastic", 0.02), ("minibatch", 0.3)):
        dp.seed(0)
        model = mlp(hidden=8)
        trainer = nn_trainer(model, SGD(model.parameters(), lr=lr))
        runs[descent] = trainer.fit(X[:120], y[:120], epochs=4, descent=descent,
                                    validation_data=(X[200:], y[200:]), verbose=False)  # fmt: skip
    return runs


def test_plot_histories_by_epoch_and_by_time(descent_runs, tmp_path):
    fig = viz.plot_histories(descent_runs, tmp_path / "descent.png")
    assert_png(tmp_path / "descent.png")
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines] == ["batch", "stochastic", "minibatch"]
    for line, h in zip(ax.lines, descent_runs.values()):
        np.testing.assert_allclose(line.get_ydata(), h.history["val_loss"])
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4])

    fig = viz.plot_histories(descent_runs, metric="val_accuracy", x="time")
    (ax,) = fig.axes
    assert len(ax.lines) == 3
    for line, h in zip(ax.lines, descent_runs.values()):
        np.testing.assert_allclose(line.get_xdata(), np.cumsum(h.history["epoch_seconds"]))
        np.testing.assert_allclose(line.get_ydata(), h.history["val_accuracy"])


def test_plot_histories_bad_inputs(descent_runs):
    with pytest.raises(ConfigError, match="runs"):
        viz.plot_histories({})
    with pytest.raises(ConfigError, match="runs"):
        viz.plot_histories([descent_runs["batch"]])
    with pytest.raises(ConfigError, match=r"x: unknown name .*expected one of \('epoch', 'time'\)"):
        viz.plot_histories(descent_runs, x="steps")
    with pytest.raises(ConfigError, match="metric: 'val_f1'.*'batch'"):
        viz.plot_histories(descent_runs, metric="val_f1")
    with pytest.raises(ConfigError, match="x: 'time' needs epoch_seconds"):
        viz.plot_histories({"a": {"loss": [1.0]}}, metric="loss", x="time")


# --- plot_decision_boundary -----------------------------------------------------------------
def test_decision_boundary_on_moons_colors_the_classes_apart(trained, moons, tmp_path):
    trainer, _ = trained
    X, y = moons
    assert np.mean(trainer.predict_classes(X) == y) > 0.9
    fig = viz.plot_decision_boundary(trainer, X, y, tmp_path / "boundary.png", resolution=100)
    assert_png(tmp_path / "boundary.png")
    (ax,) = fig.axes
    (image,) = ax.images
    grid = np.asarray(image.get_array())
    assert grid.shape == (100, 100) and set(np.unique(grid)) == {0, 1}
    # The two predicted regions are drawn in different colours ...
    c0, c1 = image.to_rgba(np.array([[0, 1]]))[0]
    assert not np.allclose(c0, c1)
    # ... and the region under each point is mostly its own class.
    x0, x1, y0, y1 = image.get_extent()
    col = np.clip(((X[:, 0] - x0) / (x1 - x0) * 100).astype(int), 0, 99)
    row = np.clip(((X[:, 1] - y0) / (y1 - y0) * 100).astype(int), 0, 99)
    assert np.mean(grid[row, col] == y) > 0.9
    # The points are coloured by their class: two distinct face colours.
    faces = ax.collections[0].get_facecolors()
    assert len(faces) == len(y)
    assert not np.allclose(faces[y == 0][0], faces[y == 1][0])
    # A bare Module gives the same regions (argmax of its outputs, under no_grad).
    fig2 = viz.plot_decision_boundary(trainer.model, X, y, resolution=100)
    np.testing.assert_array_equal(np.asarray(fig2.axes[0].images[0].get_array()), grid)
    assert trainer.model.training  # modes restored


def test_decision_boundary_bad_inputs(trained, moons):
    trainer, _ = trained
    X, y = moons
    with pytest.raises(ShapeError, match=r"X: .*2 features.*\(300, 3\)"):
        viz.plot_decision_boundary(trainer, np.zeros((300, 3)), y)
    with pytest.raises(ShapeError, match="X: .*2 features"):
        viz.plot_decision_boundary(trainer, X[:, 0], y)
    with pytest.raises(ShapeError, match="y: expected shape"):
        viz.plot_decision_boundary(trainer, X, y[:10])
    with pytest.raises(ConfigError, match="resolution"):
        viz.plot_decision_boundary(trainer, X, y, resolution=1)
    with pytest.raises(ConfigError, match="trainer_or_model"):
        viz.plot_decision_boundary("model", X, y)


# --- plot_weight_histograms -----------------------------------------------------------------
def test_weight_and_gradient_histograms(trained, tmp_path):
    trainer, _ = trained
    model = trainer.model
    names = [n for n, _ in model.named_parameters()]
    fig = viz.plot_weight_histograms(model, tmp_path / "weights.png")
    assert_png(tmp_path / "weights.png")
    assert len(fig.axes) == len(names) == 4
    assert [ax.get_title().split()[0] for ax in fig.axes] == names
    assert all(len(ax.patches) > 0 for ax in fig.axes)
    fig = viz.plot_weight_histograms(trainer, tmp_path / "grads.png", grads=True)
    assert_png(tmp_path / "grads.png")
    assert len(fig.axes) == 4 and fig.axes[0].get_xlabel() == "gradient"


def test_histograms_bad_inputs():
    model = mlp()
    with pytest.raises(ConfigError, match="grads: the model has no gradients"):
        viz.plot_weight_histograms(model, grads=True)
    with pytest.raises(ConfigError, match="model: expected a deltaprop Module"):
        viz.plot_weight_histograms(object())
    with pytest.raises(ConfigError, match="model: has no parameters"):
        viz.plot_weight_histograms(nn.Sequential(nn.Tanh()))


# --- plot_gradient_flow ---------------------------------------------------------------------
def test_gradient_flow_log_scale(tmp_path):
    per_layer = {f"layer{i}": [10.0 ** (-i - e / 4) for e in range(6)] for i in range(5)}
    per_layer["dead"] = [0.0, 1e-3, float("nan"), 1e-3, 1e-3, 1e-3]
    fig = viz.plot_gradient_flow(per_layer, tmp_path / "flow.png")
    assert_png(tmp_path / "flow.png")
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert [line.get_label() for line in ax.lines] == list(per_layer)
    np.testing.assert_allclose(ax.lines[2].get_ydata(), per_layer["layer2"])
    assert np.isnan(ax.lines[-1].get_ydata()[0])  # 0 cannot be drawn on a log scale


def test_gradient_flow_bad_inputs():
    with pytest.raises(ConfigError, match="per_layer"):
        viz.plot_gradient_flow({})
    with pytest.raises(ConfigError, match="per_layer"):
        viz.plot_gradient_flow([1.0, 2.0])
    with pytest.raises(ConfigError, match=r"per_layer\['a'\]"):
        viz.plot_gradient_flow({"a": "abc"})
    with pytest.raises(ConfigError, match=r"per_layer\['a'\]"):
        viz.plot_gradient_flow({"a": [1.0, "x"]})


def test_missing_matplotlib_is_a_config_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ConfigError, match=r"deltaprop\[plot\]"):
        viz.plot_history({"loss": [1.0]})


def test_deltaprop_viz_imports_without_matplotlib():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import deltaprop, deltaprop.viz\n"
        "try:\n"
        "    deltaprop.viz.plot_gradient_flow({'a': [1.0]})\n"
        "except deltaprop.ConfigError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "install deltaprop[plot]" in out.stdout


# --- deltaprop train --plot DIR -------------------------------------------------------------
def test_cli_train_plot_writes_learning_curves_and_decision_boundary(tmp_path, capsys):
    from deltaprop.cli import main

    out = tmp_path / "plots"  # created by --plot
    argv = ["train", "--dataset", "moons", "--hidden", "8", "--epochs", "3", "--quiet",
            "--validation-split", "0.2", "--plot", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert "decision_boundary.png" in capsys.readouterr().out
    assert_png(out / "learning_curves.png")
    assert_png(out / "decision_boundary.png")
    # Data with more than 2 features: learning curves only.
    out2 = tmp_path / "iris"
    assert main(["train", "--dataset", "iris", "--hidden", "4", "--epochs", "2", "--quiet",
                 "--plot", str(out2)]) == 0  # fmt: skip
    assert sorted(p.name for p in out2.iterdir()) == ["learning_curves.png"]


def test_cli_train_plot_bad_folder_fails_before_training(tmp_path, capsys):
    from deltaprop.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["train", "--epochs", "1", "--plot", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert "--plot: cannot create folder" in err and "epoch" not in err
