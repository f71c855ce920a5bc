"""The strict host backend itself: CuPy's refusals, its dispatch, the explicit transfers."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import backend, nn, strict_backend
from deltaprop.strict_backend import StrictArray


@pytest.fixture
def library_rules(monkeypatch):
    """The rules as deltaprop's own code meets them (this test file is not the library)."""
    monkeypatch.setattr(strict_backend, "LIBRARY_ONLY", False)
    yield
    strict_backend.VIOLATIONS.clear()


def test_strict_arrays_refuse_implicit_numpy(library_rules):
    a = backend.to_device(np.arange(3.0), "strict")
    assert isinstance(a, StrictArray) and backend.device_of(a) == "strict"
    with pytest.raises(TypeError, match="strict backend: np.asarray"):
        np.asarray(a)
    with pytest.raises(TypeError, match="np.add got a NumPy array"):
        a + np.ones(3)
    with pytest.raises(TypeError, match="got a NumPy array"):
        backend.xp_of(a).concatenate([a, np.ones(2)])
    assert len(strict_backend.VIOLATIONS) == 3  # recorded even when caught


def test_numpy_functions_dispatch_and_stay_on_the_device(library_rules):
    a = backend.to_device(np.arange(6.0).reshape(2, 3), "strict")
    xp = backend.xp_of(a)
    for result in (np.sum(a, axis=0), a.sum(), xp.maximum(a, 1.0), a.T @ a, a[:, 1], xp.exp(a)):
        assert isinstance(result, StrictArray)
    assert float(a.sum()) == 15.0  # a scalar comes back explicitly, as in CuPy
    np.testing.assert_array_equal(backend.to_numpy(a * 2), np.arange(6.0).reshape(2, 3) * 2)
    assert isinstance(xp.zeros((2,)), StrictArray) and not strict_backend.VIOLATIONS


def test_keyword_arrays_are_the_device_s_too(library_rules):
    # out= as CuPy takes it (clip_grad_value clamps in place so): a device array works, and a
    # NumPy one is refused, as a positional one is
    a = backend.to_device(np.array([-3.0, 0.5, 3.0]), "strict")
    xp = backend.xp_of(a)
    assert xp.clip(a, -1.0, 1.0, out=a) is not None
    np.testing.assert_array_equal(backend.to_numpy(a), [-1.0, 0.5, 1.0])
    with pytest.raises(TypeError, match="clip got a NumPy array"):
        xp.clip(a, -1.0, 1.0, out=np.empty(3))


def test_host_data_moved_to_the_device_is_a_copy(library_rules):
    # as cupy.asarray copies host memory to the GPU: changing the device array leaves the host
    # buffer alone (a rank's gradients come from a shared window so)
    host = np.arange(4.0)
    for name in ("asarray", "array", "ascontiguousarray", "asanyarray"):
        a = getattr(strict_backend.xp, name)(host)
        a *= 2
        np.testing.assert_array_equal(host, np.arange(4.0))


def test_devices_and_models_move(library_rules):
    assert dp.device("strict") == "strict" and repr(dp.device("cpu")) == "device('cpu')"
    net = nn.Sequential(nn.Linear(3, 2))
    net.to("strict")
    assert all(isinstance(p.data, StrictArray) for p in net.parameters())
    assert isinstance(net.state_dict()["0.weight"], np.ndarray)  # copied back explicitly
    net.to(dp.device("cpu"))
    assert all(type(p.data) is np.ndarray for p in net.parameters())


def test_the_trainer_on_the_strict_device_gives_the_cpu_result(library_rules):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((48, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    results = []
    for device in ("cpu", "strict"):
        dp.seed(0)
        net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Dropout(0.2), nn.Linear(8, 2))
        trainer = dp.Trainer(net, "cross_entropy", "adam", device=device, clip_norm=1.0)
        history = trainer.fit(X, y, epochs=3, batch_size=16, seed=0, verbose=False)
        results.append((history.history["loss"], trainer.predict(X)))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert not strict_backend.VIOLATIONS


def test_cuda_without_cupy_is_a_clear_error_naming_the_option(tmp_path, capsys):
    if backend.gpu_available():  # pragma: no cover - a GPU machine
        pytest.skip("CuPy and a GPU are here")
    with pytest.raises(dp.ConfigError, match=r"^device: 'cuda' needs (CuPy|a CUDA GPU)"):
        dp.device("cuda")
    net = nn.Sequential(nn.Linear(3, 2))
    before = net.state_dict()
    with pytest.raises(dp.ConfigError, match=r"^device: 'cuda' needs"):
        dp.Trainer(net, "cross_entropy", "sgd", device="cuda")
    with pytest.raises(dp.ConfigError, match=r"^device: expected one of"):
        net.to("tpu")
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    from deltaprop.cli import main

    save = tmp_path / "m.safetensors"
    code = main(["train", "--dataset", "iris", "--device", "cuda", "--save", str(save)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("deltaprop: error: --device: 'cuda' needs")
    assert not save.exists()
