"""Files written by an older deltaprop (tests/io/fixtures, made by make_fixtures.py at commit
49b059c, before the io package) still load, and a training state still resumes. Their model
files are format version 1: a checksum of the tensors only, so loading one warns that its
header is unprotected."""

from __future__ import annotations

import importlib.util
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
from safetensors import safe_open

import deltaprop as dp
from deltaprop import io
from deltaprop.errors import ModelFileError
from deltaprop.report import DeltapropWarning
from deltaprop.train import state as training_state

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _load_maker():
    spec = importlib.util.spec_from_file_location(
        "deltaprop_io_fixtures", FIXTURES / "make_fixtures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


maker = _load_maker()


def test_an_old_model_file_loads_with_the_same_predictions():
    expected = safetensors.numpy.load_file(str(FIXTURES / "model_expected.safetensors"))
    with pytest.warns(DeltapropWarning, match="header .* is not protected"):
        model, metadata = dp.load(FIXTURES / "model.safetensors", return_metadata=True)
    assert not model.training
    assert repr(model) == repr(maker.build_model())
    assert np.array_equal(model(expected["X"]).numpy(), expected["predictions"])
    assert metadata == {"dataset": "fixture", "classes": [0, 1, 2], "mean": [0.0, 1.0, 2.0, 3.0]}
    with pytest.warns(DeltapropWarning):
        assert dp.read_metadata(FIXTURES / "model.safetensors") == metadata
    into = dp.load_weights(maker.build_model(), FIXTURES / "model.safetensors").eval()
    assert np.array_equal(into(expected["X"]).numpy(), expected["predictions"])


def _expected_training():
    path = str(FIXTURES / "training_expected.safetensors")
    tensors = safetensors.numpy.load_file(path)
    with safe_open(path, framework="np") as f:
        history = json.loads(f.metadata()["history"])
    weights = {k[8:]: v for k, v in tensors.items() if k.startswith("weights/")}
    return tensors, weights, history


def test_an_old_training_state_resumes_to_the_uninterrupted_run(tmp_path):
    tensors, weights, reference = _expected_training()
    path = tmp_path / "training.ckpt"
    shutil.copyfile(FIXTURES / "training.ckpt", path)  # resuming may go on writing it
    trainer = maker.build_trainer()
    val = (tensors["X_val"], tensors["y_val"])
    history = trainer.fit(tensors["X"], tensors["y"], epochs=maker.EPOCHS, validation_data=val,
                          checkpoint=path, resume_from=path, **maker.FIT)  # fmt: skip
    state = trainer.model.state_dict()
    assert sorted(state) == sorted(weights)
    for name, value in weights.items():
        assert state[name].dtype == value.dtype, name
        # the same machine gives the same bits; another BLAS may round a little differently
        np.testing.assert_allclose(state[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    assert history.epoch == list(range(maker.EPOCHS))
    for key, values in reference.items():
        np.testing.assert_allclose(history.history[key], values, rtol=1e-5, err_msg=key)
    # and the file it went on writing is the current format, at the last epoch
    assert training_state.read(str(path)).epoch == maker.EPOCHS


def test_an_old_training_state_still_refuses_another_run(tmp_path):
    tensors, _, _ = _expected_training()
    trainer = maker.build_trainer()
    with pytest.raises(ModelFileError, match="fit batch_size: 8 in the file, 4 here"):
        trainer.fit(tensors["X"], tensors["y"], epochs=maker.EPOCHS, batch_size=4, seed=5,
                    validation_data=(tensors["X_val"], tensors["y_val"]), verbose=False,
                    resume_from=FIXTURES / "training.ckpt")  # fmt: skip
    with pytest.warns(DeltapropWarning):
        assert io.read_metadata(FIXTURES / "model.safetensors")["dataset"] == "fixture"


def test_an_old_training_state_without_drop_last_is_taken_as_drop_last_false():
    saved = training_state.read(str(FIXTURES / "training.ckpt"))
    assert "drop_last" not in saved.state["fit"]  # written before drop_last was recorded
    trainer = maker.build_trainer()
    settings = training_state.fit_settings("minibatch", 8, 44, 16, True, 5, drop_last=False)
    saved.check(trainer, settings)
    with pytest.raises(ModelFileError, match="fit drop_last: False in the file, True here"):
        saved.check(trainer, dict(settings, drop_last=True))


def test_an_old_model_file_warns_that_its_header_is_unprotected(tmp_path):
    old = FIXTURES / "model.safetensors"
    with safe_open(str(old), framework="np") as f:
        assert f.metadata()["version"] == "1" and f.metadata()["checksum"].startswith("sha256:")
    with pytest.warns(DeltapropWarning, match=r"0\.1\.0.*not protected.*re-save it with dp.save"):
        model, metadata = dp.load(old, return_metadata=True)
    with pytest.warns(DeltapropWarning, match="not protected"):
        assert dp.read_metadata(old) == metadata
    resaved = tmp_path / "resaved.safetensors"
    dp.save(model, resaved, metadata=metadata)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the current format: no warning
        again, meta = dp.load(resaved, return_metadata=True)
    assert meta == metadata and repr(again) == repr(model)


def test_an_old_model_file_with_a_changed_tensor_byte_or_no_checksum_is_refused(tmp_path):
    data = bytearray((FIXTURES / "model.safetensors").read_bytes())
    data[-2] ^= 0x10  # a byte of the last tensor's data
    bad = tmp_path / "old.safetensors"
    bad.write_bytes(bytes(data))
    for call in [lambda: dp.load(bad), lambda: dp.load_weights(maker.build_model(), bad)]:
        with pytest.raises(ModelFileError, match="tensor data does not match its checksum"):
            call()
    tensors = safetensors.numpy.load_file(str(FIXTURES / "model.safetensors"))
    with safe_open(str(FIXTURES / "model.safetensors"), framework="np") as f:
        header = dict(f.metadata())
    del header["checksum"]  # 0.1.0 always wrote one: a file without it was changed
    bad.write_bytes(safetensors.numpy.save(tensors, metadata=header))
    for call in [lambda: dp.load(bad), lambda: dp.read_metadata(bad)]:
        with pytest.raises(ModelFileError, match="corrupt file: the checksum is missing"):
            call()
