"""dp.callbacks.TensorBoard: what it writes, read back with TensorBoard's own event reader."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def read(log_dir) -> event_accumulator.EventAccumulator:
    acc = event_accumulator.EventAccumulator(
        str(log_dir), size_guidance={"scalars": 0, "histograms": 0}
    )
    acc.Reload()
    return acc


def trainer(callbacks, seed=0):
    dp.seed(seed)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    return dp.Trainer(model, nn.CrossEntropyLoss(), "sgd", lr=0.1, callbacks=callbacks)


def test_scalars_lr_monitor_norms_and_histograms_are_written(tmp_path, toy):
    X, y = toy(n=64)
    board = dp.callbacks.TensorBoard(tmp_path / "tb", histogram_every=2)
    monitor = dp.callbacks.GradientMonitor()  # listed after: its records are still written
    t = trainer([board, monitor])
    history = t.fit(X, y, epochs=4, batch_size=16, validation_split=0.25, verbose=False)
    acc = read(tmp_path / "tb")
    tags = acc.Tags()
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds"):
        events = acc.Scalars(key)
        assert [e.step for e in events] == [1, 2, 3, 4]
        np.testing.assert_allclose([e.value for e in events], history.history[key], rtol=1e-6)
    for layer in ("0", "2"):
        events = acc.Scalars(f"grad_norm/{layer}")
        assert [e.step for e in events] == [1, 2, 3, 4]
        np.testing.assert_allclose([e.value for e in events], history.history[f"grad_norm/{layer}"],
                                   rtol=1e-6)  # fmt: skip
        assert f"update_ratio/{layer}" in tags["scalars"]
    assert "first_last_ratio" in tags["scalars"]
    assert sorted(tags["histograms"]) == sorted(
        f"{kind}/{name}"
        for kind in ("weights", "gradients")
        for name in ("0.weight", "0.bias", "2.weight", "2.bias")
    )
    weights = acc.Histograms("weights/0.weight")
    assert [h.step for h in weights] == [2, 4]
    assert weights[-1].histogram_value.num == 3 * 8
    np.testing.assert_allclose(
        weights[-1].histogram_value.max, t.model[0].weight.numpy().max(), rtol=1e-6
    )
    assert board.writer is None  # closed at the end


def test_no_histograms_when_asked_and_a_new_file_per_fit(tmp_path, toy):
    X, y = toy(n=32)
    board = dp.callbacks.TensorBoard(tmp_path / "tb", histogram_every=None)
    t = trainer([board])
    t.fit(X, y, epochs=2, verbose=False)
    acc = read(tmp_path / "tb")
    assert acc.Tags()["histograms"] == [] and "grad_norm/0" not in acc.Tags()["scalars"]
    t.fit(X, y, epochs=2, verbose=False)
    files = [f for f in os.listdir(tmp_path / "tb") if f.startswith("events.out.tfevents")]
    assert len(files) == 2  # also within one second
    assert len(read(tmp_path / "tb").Scalars("loss")) == 4  # both fits' epochs


def test_a_monitor_per_step_writes_at_the_global_step(tmp_path, toy):
    X, y = toy(n=32)
    monitor = dp.callbacks.GradientMonitor(every_n_steps=2)
    trainer([monitor, dp.callbacks.TensorBoard(tmp_path, histogram_every=None)]).fit(
        X, y, epochs=2, batch_size=8, verbose=False
    )
    steps = [e.step for e in read(tmp_path).Scalars("steps/grad_norm/0")]
    assert steps == [2, 4, 6, 8]


def test_the_writer_is_closed_when_training_fails(tmp_path, toy):
    class Boom(dp.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("boom")

    X, y = toy(n=32)
    board = dp.callbacks.TensorBoard(tmp_path)
    with pytest.raises(RuntimeError, match="boom"):
        trainer([board, Boom()]).fit(X, y, epochs=5, verbose=False)
    assert board.writer is None
    assert [e.step for e in read(tmp_path).Scalars("loss")] == [1, 2]


def test_the_log_dir_is_created(tmp_path):
    board = dp.callbacks.TensorBoard(tmp_path / "a" / "b")
    assert os.path.isdir(tmp_path / "a" / "b") and board.log_dir == str(tmp_path / "a" / "b")


def test_an_unusable_log_dir_is_one_error_naming_it(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ConfigError, match=f"log_dir: {afile} is a file; expected a folder"):
        dp.callbacks.TensorBoard(afile)
    with pytest.raises(ConfigError, match="log_dir: cannot create the folder .*file/sub"):
        dp.callbacks.TensorBoard(afile / "sub")
    with pytest.raises(ConfigError, match="log_dir: expected a folder path, got 3"):
        dp.callbacks.TensorBoard(3)
    with pytest.raises(ConfigError, match="histogram_every: expected an integer >= 1, got 0"):
        dp.callbacks.TensorBoard(tmp_path, histogram_every=0)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_log_dir_that_cannot_be_written(tmp_path):
    # /proc refuses new entries even to root, for whom chmod changes nothing
    with pytest.raises(ConfigError, match="log_dir: cannot create the folder /proc/tb"):
        dp.callbacks.TensorBoard("/proc/tb")
    with pytest.raises(ConfigError, match="log_dir: cannot create a file in /proc/self"):
        dp.callbacks.TensorBoard("/proc/self")


def test_without_tensorboardx_the_error_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(
        ConfigError, match=r"TensorBoard: needs tensorboardX.*deltaprop\[tensorboard\]"
    ):
        dp.callbacks.TensorBoard(tmp_path)
