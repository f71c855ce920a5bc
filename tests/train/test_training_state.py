"""Resumable training: fit(checkpoint=...) / fit(resume_from=...), the training state of
deltaprop.train.state.

These in-process tests cover the round trip, the file format's checks and the argument checks;
test_training_state_kill.py kills real training processes and resumes them.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

import deltaprop as dp
from deltaprop import backend, io, nn, optim
from deltaprop.errors import ConfigError, ModelFileError
from deltaprop.train import Callback, Trainer
from deltaprop.train import state as ckpt
from deltaprop.train.callbacks import CSVLogger, EarlyStopping

HERE = Path(__file__).resolve().parent
WORKER_PATH = HERE / "training_state_worker.py"


def _load_worker():
    spec = importlib.util.spec_from_file_location("deltaprop_training_state_worker", WORKER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = _load_worker()


# --- in-process helpers ---------------------------------------------------------------------


def small_data():
    X, y, val = worker.data(n=480)
    return X, y, val


def run(config, folder, epochs=None, **fit_kwargs):
    """Build ``config`` afresh (as a new process would) and fit; returns (trainer, history)."""
    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    X, y, val = small_data()
    trainer, kwargs = worker.build(config, str(folder))
    kwargs["validation_data"] = val
    if epochs is not None:
        kwargs["epochs"] = epochs
    kwargs.update(fit_kwargs)
    return trainer, trainer.fit(X, y, **kwargs)


def assert_same_weights(model, reference):
    state = model.state_dict()
    assert list(state) == list(reference)
    for name, value in reference.items():
        assert state[name].dtype == value.dtype, name
        assert np.array_equal(state[name], value), name


def assert_same_history(history, reference):
    assert history.epoch == reference.epoch
    assert set(history.history) == set(reference.history)
    for key, values in reference.history.items():
        if key != "epoch_seconds":
            assert history.history[key] == values, key


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """The uninterrupted runs (no checkpointing at all), per configuration."""
    out = {}
    for config in ("steplr", "cosine_es"):
        trainer, history = run(config, tmp_path_factory.mktemp(f"ref-{config}"))
        out[config] = (trainer.model.state_dict(), history, trainer.stop_reason)
    return out


def test_the_configurations_do_what_the_tests_need(references):
    _, steplr, reason = references["steplr"]
    assert len(steplr.epoch) == worker.EPOCHS["steplr"] and reason is None
    _, cosine, reason = references["cosine_es"]
    assert 5 < len(cosine.epoch) < worker.EPOCHS["cosine_es"]  # early stopping fires, late
    assert reason.startswith("EarlyStopping")


# --- round trip -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config, k",
    [("steplr", 1), ("steplr", 5), ("steplr", 16), ("cosine_es", 2), ("cosine_es", 7)],
)
def test_resuming_after_epoch_k_gives_the_uninterrupted_run(tmp_path, references, config, k):
    weights, reference, reason = references[config]
    path = tmp_path / "state.ckpt"
    run(config, tmp_path / "a", epochs=k, checkpoint=path)
    state = ckpt.read(str(path))
    assert state.epoch == k and state.state["epochs"] == k
    trainer, history = run(config, tmp_path / "b", resume_from=path)
    assert_same_weights(trainer.model, weights)
    assert_same_history(history, reference)
    assert trainer.stop_reason == reason


def test_resuming_a_stopped_run_trains_no_more_and_restores_the_best_weights(tmp_path, references):
    weights, reference, reason = references["cosine_es"]
    path = tmp_path / "state.ckpt"
    run("cosine_es", tmp_path / "a", checkpoint=path)
    state = ckpt.read(str(path))
    assert state.stopped and state.epoch == len(reference.epoch)
    steps = []

    class Steps(Callback):
        def on_batch_end(self, batch, logs=None):
            steps.append(batch)

    X, y, val = small_data()
    trainer, kwargs = worker.build("cosine_es", str(tmp_path))
    trainer.callbacks.callbacks[0].verbose = True
    history = trainer.fit(X, y, validation_data=val, resume_from=path, **kwargs)
    assert steps == []
    assert_same_weights(trainer.model, weights)  # EarlyStopping put its best epoch back
    assert_same_history(history, reference)
    assert trainer.stop_reason == reason
    # a larger epochs changes nothing once a callback has stopped training
    trainer, history = run("cosine_es", tmp_path / "c", epochs=60, resume_from=path)
    assert_same_weights(trainer.model, weights)
    assert len(history.epoch) == len(reference.epoch)


def test_a_finished_run_can_be_extended(tmp_path):
    path = tmp_path / "state.ckpt"
    trainer, _ = run("steplr", tmp_path / "a", epochs=6, checkpoint=path)
    resumed, history = run("steplr", tmp_path / "b", epochs=9, resume_from=path)
    whole, reference = run("steplr", tmp_path / "c", epochs=9)
    assert_same_weights(resumed.model, whole.model.state_dict())
    assert_same_history(history, reference)
    assert history.params["epochs"] == 9


def test_checkpoint_and_resume_from_the_same_path(tmp_path, references):
    """The run-until-done pattern: no file yet starts afresh; then resume and keep writing."""
    weights, reference, _ = references["steplr"]
    path = tmp_path / "state.ckpt"
    assert not path.exists()
    run("steplr", tmp_path / "a", epochs=4, checkpoint=path, resume_from=path)
    assert ckpt.read(str(path)).epoch == 4
    run("steplr", tmp_path / "a", epochs=9, checkpoint=path, resume_from=path)
    assert ckpt.read(str(path)).epoch == 9
    trainer, history = run("steplr", tmp_path / "a", checkpoint=path, resume_from=path)
    assert ckpt.read(str(path)).epoch == 16
    assert_same_weights(trainer.model, weights)
    assert_same_history(history, reference)
    rows = list(csv.reader(open(tmp_path / "a" / "log.csv", newline="")))
    assert rows[0][0] == "epoch" and [r[0] for r in rows[1:]] == [str(i) for i in range(1, 17)]
    assert sorted(os.listdir(tmp_path)) == ["a", "state.ckpt"]  # no temporary files left


def test_a_resumed_csv_log_drops_the_rows_of_the_lost_epochs(tmp_path):
    path = tmp_path / "state.ckpt"
    run("steplr", tmp_path / "a", epochs=3, checkpoint=path)
    log = tmp_path / "a" / "log.csv"
    with open(log, "a", newline="") as f:  # what an interrupted 4th epoch had written
        f.write("4,lost\r\n")
    run("steplr", tmp_path / "a", epochs=5, resume_from=path)
    rows = list(csv.reader(open(log, newline="")))
    assert [r[0] for r in rows] == ["epoch", "1", "2", "3", "4", "5"]
    assert "lost" not in rows[4]


def test_checkpointing_does_not_change_the_run(tmp_path, references):
    weights, reference, _ = references["cosine_es"]
    trainer, history = run("cosine_es", tmp_path, checkpoint=tmp_path / "state.ckpt")
    assert_same_weights(trainer.model, weights)
    assert_same_history(history, reference)


# --- what the file holds --------------------------------------------------------------------


def test_the_file_is_safetensors_with_json_state(tmp_path):
    path = tmp_path / "state.ckpt"
    trainer, history = run("steplr", tmp_path / "a", epochs=3, checkpoint=path)
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        meta = f.metadata()
        names = list(f.keys())
    assert meta["format"] == "deltaprop-checkpoint" and meta["version"] == "1"
    state = json.loads(meta["state"])
    assert state["epoch"] == 3 and state["step"] == 3 * history.params["steps"]
    assert state["optimizer"]["class"] == "Adam" and state["scheduler"]["class"] == "StepLR"
    assert [c["class"] for c in state["callbacks"]] == [
        "EarlyStopping",
        "ReduceLROnPlateau",
        "CSVLogger",
    ]
    assert state["rng"]["library"]["bit_generator"] == "PCG64"
    assert state["rng"]["shuffle"]["bit_generator"] == "PCG64"  # fit's seeded generator
    assert state["history"]["epoch"] == [0, 1, 2]
    model_names = {"model/" + k for k in trainer.model.state_dict()}
    assert model_names <= set(names)
    assert any(n.startswith("optimizer/") for n in names)
    assert any(n.startswith("callbacks/0/best_weights") for n in names)
    assert "model/1.running_mean" in names  # buffers too


def test_the_shuffling_generator_is_the_library_one_without_a_seed(tmp_path):
    path = tmp_path / "state.ckpt"
    run("cosine_es", tmp_path / "a", epochs=2, checkpoint=path)
    assert ckpt.read(str(path)).state["rng"]["shuffle"] == "library"


# --- bad files ------------------------------------------------------------------------------


@pytest.fixture
def written(tmp_path):
    path = tmp_path / "state.ckpt"
    run("steplr", tmp_path / "a", epochs=2, checkpoint=path)
    return path


def fresh(tmp_path):
    """A Trainer as a new process builds it, and its arguments."""
    trainer, kwargs = worker.build("steplr", str(tmp_path / "a"))
    X, y, val = small_data()
    return trainer, dict(kwargs, validation_data=val), X, y


def assert_untouched(trainer, call):
    """``call`` raises; the model, the optimizer and deltaprop's generator are as they were."""
    weights = trainer.model.state_dict()
    opt_state = trainer.optimizer.state_dict()
    rng_state = backend.rng().bit_generator.state
    with pytest.raises((ModelFileError, ConfigError)) as info:
        call()
    assert_same_weights(trainer.model, weights)
    assert trainer.optimizer.state_dict()["param_groups"] == opt_state["param_groups"]
    assert trainer.optimizer.state == {}
    assert backend.rng().bit_generator.state == rng_state
    return info.value


def _corrupt(path, offset_from_end=None, offset=None):
    data = bytearray(path.read_bytes())
    i = len(data) - offset_from_end if offset is None else offset
    data[i] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["tensor byte", "state byte", "truncated", "empty", "garbage"])
def test_a_damaged_checkpoint_raises_model_file_error(tmp_path, written, damage):
    if damage == "tensor byte":
        _corrupt(written, offset_from_end=5)
        match = "checksum"
    elif damage == "state byte":
        data = written.read_bytes()
        i = data.index(b'"epoch\\":2') + len('"epoch\\":')
        written.write_bytes(data[:i] + b"3" + data[i + 1 :])  # still valid JSON: epoch 3
        match = "checksum"
    elif damage == "truncated":
        written.write_bytes(written.read_bytes()[: written.stat().st_size // 2])
        match = "truncated or corrupt"
    elif damage == "empty":
        written.write_bytes(b"")
        match = "truncated or corrupt"
    else:
        written.write_bytes(np.random.default_rng(0).integers(0, 256, 3000, np.uint8).tobytes())
        match = "truncated or corrupt"
    trainer, kwargs, X, y = fresh(tmp_path)
    error = assert_untouched(trainer, lambda: trainer.fit(X, y, resume_from=written, **kwargs))
    assert isinstance(error, ModelFileError)
    assert match in str(error) and str(written) in str(error)


def test_foreign_files_raise_model_file_error(tmp_path):
    trainer, kwargs, X, y = fresh(tmp_path)
    model_file = tmp_path / "model.safetensors"
    dp.save(trainer.model, model_file)
    error = assert_untouched(trainer, lambda: trainer.fit(X, y, resume_from=model_file, **kwargs))
    assert "model file" in str(error) and "not a training checkpoint" in str(error)
    other = tmp_path / "other.safetensors"
    safetensors.numpy.save_file({"w": np.zeros(3, np.float32)}, str(other))
    error = assert_untouched(trainer, lambda: trainer.fit(X, y, resume_from=other, **kwargs))
    assert "not a deltaprop training checkpoint" in str(error)
    missing = tmp_path / "missing.ckpt"
    error = assert_untouched(trainer, lambda: trainer.fit(X, y, resume_from=missing, **kwargs))
    assert isinstance(error, ModelFileError) and "no such file" in str(error)


def _wider(trainer):
    dp.seed(11)
    model = nn.Sequential(
        nn.Linear(12, 40), nn.BatchNorm1d(40), nn.ReLU(), nn.Dropout(0.3), nn.Linear(40, 3)
    )
    opt = optim.Adam(model.parameters(), lr=3e-3)
    return Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=trainer.callbacks.callbacks,
                   scheduler=optim.schedules.StepLR(opt, step_size=4, gamma=0.7))  # fmt: skip


def _tanh(trainer):
    dp.seed(11)
    model = nn.Sequential(
        nn.Linear(12, 48), nn.BatchNorm1d(48), nn.Tanh(), nn.Dropout(0.3), nn.Linear(48, 3)
    )
    opt = optim.Adam(model.parameters(), lr=3e-3)
    return Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=trainer.callbacks.callbacks,
                   scheduler=optim.schedules.StepLR(opt, step_size=4, gamma=0.7))  # fmt: skip


def _sgd(trainer):
    opt = optim.SGD(trainer.model.parameters(), lr=0.1)
    return Trainer(trainer.model, nn.CrossEntropyLoss(), opt, callbacks=trainer.callbacks.callbacks,
                   scheduler=optim.schedules.StepLR(opt, step_size=4, gamma=0.7))  # fmt: skip


def _no_callbacks(trainer):
    return Trainer(trainer.model, trainer.loss, trainer.optimizer, scheduler=trainer.scheduler)


def _no_scheduler(trainer):
    return Trainer(trainer.model, trainer.loss, trainer.optimizer,
                   callbacks=trainer.callbacks.callbacks)  # fmt: skip


@pytest.mark.parametrize(
    "change, expected",
    [
        (_wider, "model weight '0.weight': shape (12, 48) in the file, (12, 40) here"),
        (_tanh, "architecture: model.layers[2].class: 'ReLU' in the file, 'Tanh' here"),
        (_sgd, "optimizer: Adam in the file, SGD here"),
        (_no_callbacks, "callbacks: ['EarlyStopping', 'ReduceLROnPlateau', 'CSVLogger'] in"),
        (_no_scheduler, "scheduler: StepLR in the file, None here"),
        ({"batch_size": 32}, "fit batch_size: 16 in the file, 32 here"),
        ({"seed": None}, "fit seed: 5 in the file, None here"),
        ({"descent": "batch"}, "fit descent: 'minibatch' in the file, 'batch' here"),
    ],
    ids=["width", "activation", "optimizer", "callbacks", "scheduler", "batch", "seed", "descent"],
)
def test_a_checkpoint_of_another_run_raises_naming_the_difference(
    tmp_path, written, change, expected
):
    trainer, kwargs, X, y = fresh(tmp_path)
    if callable(change):
        trainer = change(trainer)
    else:
        kwargs.update(change)
    error = assert_untouched(trainer, lambda: trainer.fit(X, y, resume_from=written, **kwargs))
    assert isinstance(error, ModelFileError)
    assert "does not match this training run" in str(error)
    assert expected in str(error)


def test_drop_last_is_recorded_and_a_different_one_is_refused(tmp_path, written):
    saved = ckpt.read(str(written))
    assert saved.state["fit"]["drop_last"] is False
    trainer, _, _, _ = fresh(tmp_path)
    saved.check(trainer, dict(saved.state["fit"]))  # the same settings: fine
    with pytest.raises(ModelFileError, match="fit drop_last: False in the file, True here"):
        saved.check(trainer, dict(saved.state["fit"], drop_last=True))
    settings = ckpt.fit_settings("minibatch", 16, 360, 120, True, 5, drop_last=True)
    assert settings["drop_last"] is True
    assert ckpt.fit_settings("minibatch", 16, 360, 120, True, 5)["drop_last"] is False


def test_resuming_with_another_drop_last_is_refused(tmp_path):
    path = tmp_path / "state.ckpt"
    run("steplr", tmp_path / "a", epochs=2, checkpoint=path, drop_last=True)
    assert ckpt.read(str(path)).state["fit"]["drop_last"] is True
    trainer, kwargs, X, y = fresh(tmp_path)
    error = assert_untouched(
        trainer, lambda: trainer.fit(X, y, resume_from=path, drop_last=False, **kwargs)
    )
    assert "fit drop_last: True in the file, False here" in str(error)
    run("steplr", tmp_path / "b", epochs=3, resume_from=path, drop_last=True)


# --- arguments ------------------------------------------------------------------------------


def test_a_checkpoint_in_a_missing_folder_is_refused_before_training(tmp_path):
    trainer, kwargs, X, y = fresh(tmp_path)
    target = tmp_path / "no" / "such" / "state.ckpt"
    error = assert_untouched(trainer, lambda: trainer.fit(X, y, checkpoint=target, **kwargs))
    assert isinstance(error, ConfigError)
    assert "checkpoint" in str(error) and "does not exist" in str(error)
    error = assert_untouched(trainer, lambda: trainer.fit(X, y, checkpoint=tmp_path, **kwargs))
    assert isinstance(error, ConfigError) and "is a folder" in str(error)
    error = assert_untouched(trainer, lambda: trainer.fit(X, y, checkpoint=3, **kwargs))
    assert "checkpoint: expected a file path" in str(error)


def test_a_scheduler_without_state_is_refused_before_training(tmp_path):
    class Bare:
        def __init__(self, optimizer):
            self.optimizer = optimizer

        def step(self):
            pass

    dp.seed(0)
    model = nn.Linear(3, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=Bare(opt))
    X = np.zeros((4, 3), np.float32)
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ConfigError, match="scheduler Bare has no state_dict"):
        trainer.fit(X, y, checkpoint=tmp_path / "s.ckpt", verbose=False)


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "state.ckpt"
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(ModelFileError, match="disk full"):
        run("steplr", tmp_path / "a", epochs=5, checkpoint=path)
    monkeypatch.undo()
    assert ckpt.read(str(path)).epoch == 2
    assert sorted(os.listdir(tmp_path)) == ["a", "state.ckpt"]


def test_stale_temporary_files_are_removed(tmp_path):
    path = tmp_path / "state.ckpt"
    stale = tmp_path / ".state.ckpt.0123456789ab.tmp"
    stale.write_bytes(b"half a checkpoint")
    keep = tmp_path / ".other.0123456789ab.tmp"
    keep.write_bytes(b"not ours")
    run("cosine_es", tmp_path / "a", epochs=1, checkpoint=path)
    assert not stale.exists() and keep.exists()


def test_early_stopping_state_survives_with_its_best_weights(tmp_path):
    path = tmp_path / "state.ckpt"
    trainer, _ = run("cosine_es", tmp_path / "a", epochs=9, checkpoint=path)
    es = trainer.callbacks.callbacks[0]
    assert isinstance(es, EarlyStopping)
    saved = ckpt.read(str(path))
    state = io.decode(saved.state["callbacks"][0]["state"], saved.tensors)
    assert state["wait"] == es.wait and state["best_epoch"] == es.best_epoch
    for name, value in es.best_weights.items():
        assert np.array_equal(state["best_weights"][name], value)


def test_csv_logger_state_round_trip(tmp_path):
    logger = CSVLogger(tmp_path / "log.csv")
    assert logger.state_dict() == {"keys": None, "size": 0}
    with pytest.raises(ConfigError, match="state_dict: expected the keys"):
        logger.load_state_dict({"keys": []})
