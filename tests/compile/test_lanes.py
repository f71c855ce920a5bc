"""A compiled step split over threads (deltaprop.compile.lanes): the same training as one lane
to float rounding, refused (one lane, one warning) where rows interact."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import backend, nn, ops, optim
from deltaprop.compile import CompiledStep
from deltaprop.compile import lanes as lanes_mod
from deltaprop.compile import threads as threads_mod
from deltaprop.errors import ConfigError, DataError
from deltaprop.report import DeltapropWarning


@pytest.fixture(autouse=True)
def dense_steps_split(request, monkeypatch):
    """The mechanism's tests run on small dense models, which lanes leave as one lane in use
    (their calls are too short to pay): here they count as long, and any size is enough,
    except where a test is marked ``real_rule``."""
    if "real_rule" not in request.keywords:
        monkeypatch.setattr(lanes_mod, "_LONG_OPS", (*lanes_mod._LONG_OPS, ops.linalg.Linear))
        monkeypatch.setattr(lanes_mod, "LONG_ELEMENTS", 0)


def _built(dtype, *layers):
    """Layers made with ``dtype`` parameters (the default dtype restored after)."""
    old = backend.default_dtype()
    backend.set_default_dtype(dtype)
    try:
        dp.seed(0)
        return nn.Sequential(*[make() for make in layers])
    finally:
        backend.set_default_dtype(old)


def _mlp(dtype=np.float64):
    return _built(dtype, lambda: nn.Linear(6, 16), nn.ReLU, lambda: nn.Linear(16, 3))


def _cnn(dtype=np.float64):
    return _built(dtype, lambda: nn.Conv2d(1, 4, 3, padding=1), nn.ReLU,
                  lambda: nn.MaxPool2d(2), nn.Flatten, lambda: nn.Linear(36, 3))  # fmt: skip


def _data(rows=64, shape=(6,), dtype=np.float64, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((rows, *shape)).astype(dtype), rng.integers(0, 3, rows)


def _train(make, loss, opt, lanes, x, y, steps=12, batch=None, **kw):
    model = make()
    step = CompiledStep(model, loss, opt(model.parameters()), lanes=lanes, **kw)
    batch = batch or x.shape[0]
    losses = []
    for i in range(steps):
        lo = (i * batch) % x.shape[0]
        losses.append(step(x[lo : lo + batch], y[lo : lo + batch]))
    return step, [p.data.copy() for p in model.parameters()], losses


def _close(a, b, rtol=1e-10):
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=rtol, atol=rtol * np.abs(u).max())


@pytest.mark.parametrize(
    "opt",
    [
        lambda p: optim.SGD(p, lr=0.1),
        lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
        lambda p: optim.Adam(p, lr=0.01),
    ],
    ids=["sgd", "nesterov", "adam"],
)
def test_two_lanes_train_as_one_lane(opt):
    x, y = _data(64)
    one, w1, l1 = _train(_mlp, nn.CrossEntropyLoss(), opt, 1, x, y)
    two, w2, l2 = _train(_mlp, nn.CrossEntropyLoss(), opt, 2, x, y)
    assert isinstance(next(iter(two._lanesets.values())), lanes_mod.LaneSet)
    assert two.replays == 11 and two.recordings == 1
    _close(w1, w2)
    np.testing.assert_allclose(l1, l2, rtol=1e-12)


@pytest.mark.parametrize("lanes", [3, 4])
def test_more_lanes_and_uneven_shards(lanes):
    x, y = _data(71)  # 71 rows: shards of 23/24 or 17/18
    _, w1, _ = _train(_mlp, nn.CrossEntropyLoss(), lambda p: optim.SGD(p, lr=0.1), 1, x, y)
    step, w2, _ = _train(_mlp, nn.CrossEntropyLoss(), lambda p: optim.SGD(p, lr=0.1), lanes, x, y)
    split = next(iter(step._lanesets.values()))
    sizes = [hi - lo for lo, hi in split.bounds]
    assert len(sizes) == lanes and sum(sizes) == 71 and max(sizes) - min(sizes) <= 1
    _close(w1, w2)


def test_float32_cnn_with_sum_reduction_and_mse():
    x, y = _data(40, (1, 6, 6), np.float32)
    loss = nn.CrossEntropyLoss(reduction="sum")

    def make():
        return _cnn(np.float32)

    _, w1, _ = _train(make, loss, lambda p: optim.SGD(p, lr=0.001), 1, x, y, steps=6)
    step, w2, _ = _train(make, loss, lambda p: optim.SGD(p, lr=0.001), 2, x, y, steps=6)
    assert step._lanesets and all(s is not None for s in step._lanesets.values())
    _close(w1, w2, rtol=1e-5)
    targets = np.random.default_rng(2).standard_normal((64, 3))
    xs, _ = _data(64)
    _, w1, _ = _train(_mlp, nn.MSELoss(), lambda p: optim.SGD(p, lr=0.1), 1, xs, targets)
    _, w2, _ = _train(_mlp, nn.MSELoss(), lambda p: optim.SGD(p, lr=0.1), 2, xs, targets)
    _close(w1, w2)


def test_small_batches_and_the_short_last_batch():
    x, y = _data(80)
    # batch 48: 48 rows split, the last 32 rows too (2 x 16); batch 20 is never split
    step, w2, _ = _train(
        _mlp, nn.CrossEntropyLoss(), lambda p: optim.SGD(p, lr=0.1), 2, x, y, steps=6, batch=48
    )
    assert len(step._lanesets) == 2 and all(step._lanesets.values())
    _, w1, _ = _train(
        _mlp, nn.CrossEntropyLoss(), lambda p: optim.SGD(p, lr=0.1), 1, x, y, steps=6, batch=48
    )
    _close(w1, w2)
    small, _, _ = _train(
        _mlp, nn.CrossEntropyLoss(), lambda p: optim.SGD(p, lr=0.1), 2, x, y, steps=3, batch=20
    )
    assert small._lanesets == {} and small.replays == 2
    assert lanes_mod.plan(31, 2) is None and lanes_mod.plan(32, 8) == [(0, 16), (16, 32)]


def _bn_model():
    return _built(np.float64, lambda: nn.Linear(6, 8), lambda: nn.BatchNorm1d(8), nn.ReLU,
                  lambda: nn.Linear(8, 3))  # fmt: skip


def _dropout_model():
    return _built(np.float64, lambda: nn.Linear(6, 8), lambda: nn.Dropout(0.5),
                  lambda: nn.Linear(8, 3))  # fmt: skip


class _OwnDropout(nn.Module):
    """Dropout from a generator of its own (the functional op's ``generator=``)."""

    def __init__(self):
        super().__init__()
        self.gen = np.random.default_rng(4)

    def forward(self, x):
        return ops.dropout(x, 0.5, training=self.training, generator=self.gen)


def _own_dropout_model():
    return _built(np.float64, lambda: nn.Linear(6, 8), _OwnDropout, lambda: nn.Linear(8, 3))


@pytest.mark.parametrize(
    "make, why",
    [(_own_dropout_model, "dropout with a generator of its own")],
    ids=["own-generator"],
)
def test_row_mixing_ops_run_as_one_lane_after_one_warning(make, why):
    x, y = _data(64)
    sgd = lambda p: optim.SGD(p, lr=0.1)  # noqa: E731
    with pytest.warns(DeltapropWarning, match=f"lanes=2: {why}.*one lane") as record:
        step, w2, _ = _train(make, nn.CrossEntropyLoss(), sgd, 2, x, y)
    assert len([w for w in record if "lanes" in str(w.message)]) == 1
    assert list(step._lanesets.values()) == [None] and step.replays == 11
    _, w1, _ = _train(make, nn.CrossEntropyLoss(), sgd, 1, x, y)
    for a, b in zip(w1, w2):  # one lane: the ordinary replay, bit for bit
        np.testing.assert_array_equal(a, b)


def test_a_loss_that_mixes_rows_is_caught_by_the_check():
    x, y = _data(64)
    t = np.random.default_rng(3).standard_normal((64, 3))

    def centred(out, target):  # subtracts the batch's mean: each row depends on all rows
        d = out - out.mean(axis=0) - target
        return (d * d).mean()

    sgd = lambda p: optim.SGD(p, lr=0.1)  # noqa: E731
    with pytest.warns(DeltapropWarning, match="rows interact"):
        step, w2, _ = _train(_mlp, centred, sgd, 2, x, t, steps=4)
    assert list(step._lanesets.values()) == [None]
    _, w1, _ = _train(_mlp, centred, sgd, 1, x, t, steps=4)
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)


def test_weighted_cross_entropy_is_caught_by_the_check():
    x, y = _data(64)
    loss = nn.CrossEntropyLoss(weight=np.array([1.0, 5.0, 0.2]))
    sgd = lambda p: optim.SGD(p, lr=0.1)  # noqa: E731
    with pytest.warns(DeltapropWarning, match="lanes=2"):
        step, _, _ = _train(_mlp, loss, sgd, 2, x, y, steps=3)
    assert list(step._lanesets.values()) == [None]


def test_replaced_parameters_and_mode_changes_are_recorded_again():
    x, y = _data(64)
    model = _mlp()
    step = CompiledStep(
        model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), lanes=2
    )
    step(x, y)
    step(x, y)
    model.load_state_dict(_mlp().state_dict())  # new arrays: the recordings are stale
    step(x, y)
    assert step.recordings == 2
    model.eval()
    step(x, y)
    assert step.recordings == 3 and len(step._lanesets) == 2


def test_an_error_in_a_worker_lane_reaches_the_caller():
    def fail(i):
        if i == 1:
            raise DataError("lane 1 failed")

    with pytest.raises(DataError, match="lane 1 failed"):
        threads_mod.run(2, fail)
    seen = []
    threads_mod.run(2, seen.append)  # the workers still run after a failure
    assert sorted(seen) == [0, 1]


def test_blas_threads_are_restored_and_lanes_run_in_other_threads():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    names = []
    threads_mod.run(2, lambda i: names.append(threading.current_thread().name))
    after = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert before == after and len(set(names)) == 2


def test_trainer_recipe_and_bad_lanes():
    x, y = _data(96)
    dp.seed(0)
    model = _mlp()
    t2 = dp.Trainer(model, "cross_entropy", "sgd", lr=0.1, compile=True, lanes=2)
    h2 = t2.fit(x, y, epochs=3, batch_size=48, verbose=False)
    model1 = _mlp()
    t1 = dp.Trainer(model1, "cross_entropy", "sgd", lr=0.1, compile=True)
    h1 = t1.fit(x, y, epochs=3, batch_size=48, verbose=False)
    assert t2._compiled._lanesets and all(t2._compiled._lanesets.values())
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-9)
    np.testing.assert_allclose(h1.history["accuracy"], h2.history["accuracy"])
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ConfigError, match="lanes"):
            dp.Trainer(_mlp(), "cross_entropy", "sgd", compile=True, lanes=bad)
    with pytest.raises(ConfigError, match="lanes: splits the compiled step"):
        dp.Trainer(_mlp(), "cross_entropy", "sgd", lanes=2)
    with pytest.raises(ConfigError, match="lanes"):
        CompiledStep(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters()), lanes=0)
    from deltaprop.recipe import Recipe

    with pytest.raises(ConfigError, match="lanes: splits the compiled step"):
        Recipe(dataset="iris", lanes=2)
    assert Recipe(dataset="iris", lanes=2, compile=True).lanes == 2


@pytest.mark.real_rule
def test_a_dense_or_small_step_runs_as_one_lane_and_a_large_cnn_step_splits():
    x, y = _data(64)
    sgd = lambda p: optim.SGD(p, lr=0.01)  # noqa: E731
    with pytest.warns(DeltapropWarning, match="without convolution or pooling.*one lane"):
        step, w2, _ = _train(_mlp, nn.CrossEntropyLoss(), sgd, 2, x, y, steps=3)
    assert list(step._lanesets.values()) == [None]
    _, w1, _ = _train(_mlp, nn.CrossEntropyLoss(), sgd, 1, x, y, steps=3)
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    xi, yi = _data(64, (1, 6, 6))
    with pytest.warns(DeltapropWarning, match="would hold 4608 numbers, fewer than the 160000"):
        step, _, _ = _train(_cnn, nn.CrossEntropyLoss(), sgd, 2, xi, yi, steps=2)
    assert list(step._lanesets.values()) == [None]

    def wide():  # 32 rows a lane x 16 channels x 20 x 20 = 204800 numbers out of the conv
        return _built(np.float32, lambda: nn.Conv2d(1, 16, 3, padding=1), nn.ReLU,
                      lambda: nn.MaxPool2d(4), nn.Flatten, lambda: nn.Linear(400, 3))  # fmt: skip

    xw, yw = _data(64, (1, 20, 20), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step, w2, _ = _train(wide, nn.CrossEntropyLoss(), sgd, 2, xw, yw, steps=3)
    assert all(isinstance(s, lanes_mod.LaneSet) for s in step._lanesets.values())
    _, w1, _ = _train(wide, nn.CrossEntropyLoss(), sgd, 1, xw, yw, steps=3)
    _close(w1, w2, rtol=1e-5)


def _lane_trainer(lr=0.1):
    model = _mlp()
    return dp.Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=lr), compile=True,
                      lanes=2)  # fmt: skip


def test_a_checkpoint_of_a_run_in_lanes_resumes_bit_for_bit(tmp_path):
    x, y = _data(96)
    path = tmp_path / "state.dpstate"
    whole = _lane_trainer()
    whole.fit(x, y, epochs=4, batch_size=48, seed=1, verbose=False)
    _lane_trainer().fit(x, y, epochs=2, batch_size=48, seed=1, verbose=False, checkpoint=path)
    resumed = _lane_trainer()
    history = resumed.fit(x, y, epochs=4, batch_size=48, seed=1, verbose=False,
                          checkpoint=path, resume_from=path)  # fmt: skip
    assert len(history.history["loss"]) == 4 and resumed._compiled._lanesets
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow itself, as in eager
def test_the_nan_guard_stops_a_diverging_run_in_lanes_before_its_update():
    x, y = _data(96)
    trainer = _lane_trainer(lr=1e6)
    with pytest.raises(dp.TrainingError, match="epoch 1"):
        trainer.fit(x * 1e3, y, epochs=5, batch_size=32, verbose=False)
    for p in trainer.model.parameters():
        assert np.isfinite(p.data).all()
    assert trainer._compiled.replays >= 1 and trainer._compiled._lanesets


def test_describe_and_source_show_the_split():
    x, y = _data(64)
    step, _, _ = _train(_mlp, nn.CrossEntropyLoss(), lambda p: optim.SGD(p, lr=0.1), 2, x, y, 2)
    text = step.describe()
    assert "lanes: 2 threads replay the kernels above on rows 0-31, 32-63" in text
    assert "updated inside their backward" not in text  # lanes keep every gradient
    code = step.source()
    assert "# lane 0 of 2 (rows 0-31)" in code and "G[0] = " in code
    assert "float(lane_seed) / 32" in code  # the lane's share of the batch's mean
    with pytest.warns(DeltapropWarning, match="generator of its own"):
        step, _, _ = _train(_own_dropout_model, nn.CrossEntropyLoss(),
                            lambda p: optim.SGD(p, lr=0.1), 2, x, y, 2)  # fmt: skip
    assert "lanes: 1 (lanes=2 refused for this step" in step.describe()  # noqa: E501
    assert "# lane 0" not in step.source()


def test_dropout_in_lanes_draws_eagers_masks():
    # one draw for the whole batch before the lanes start: the masks are eager's, so the
    # lanes train as one lane does (to rounding) and leave the generator where eager does
    x, y = _data(64)
    sgd = lambda p: optim.SGD(p, lr=0.1)  # noqa: E731
    dp.seed(3)
    step, w2, l2 = _train(_dropout_model, nn.CrossEntropyLoss(), sgd, 2, x, y, steps=12)
    after2 = backend.rng().random()
    assert all(isinstance(s, lanes_mod.LaneSet) for s in step._lanesets.values())
    dp.seed(3)
    _, w1, l1 = _train(_dropout_model, nn.CrossEntropyLoss(), sgd, 1, x, y, steps=12)
    after1 = backend.rng().random()
    _close(w1, w2)
    np.testing.assert_allclose(l1, l2, rtol=1e-12)
    assert after1 == after2


def _bn_variants(kind):
    def make():
        if kind == "2d":  # images: BatchNorm2d over (N, H, W)
            return _built(np.float64, lambda: nn.Conv2d(1, 4, 3, padding=1),
                          lambda: nn.BatchNorm2d(4), nn.ReLU, lambda: nn.MaxPool2d(2),
                          nn.Flatten, lambda: nn.Linear(36, 3))  # fmt: skip
        options = {"cumulative": {"momentum": None}, "plain": {"affine": False}}.get(kind, {})
        return _built(np.float64, lambda: nn.Linear(6, 8), lambda: nn.BatchNorm1d(8, **options),
                      nn.ReLU, lambda: nn.Dropout(0.3), lambda: nn.Linear(8, 3))  # fmt: skip

    return make


@pytest.mark.parametrize("kind", ["1d", "cumulative", "plain", "2d"])
def test_batch_norm_in_lanes_uses_the_whole_batchs_statistics(kind):
    # the lanes exchange their sums: the same training as one lane, running statistics and
    # batch counts included, to rounding (1e-6: Adam turns the bias before the batch norm's
    # gradient, zero but for rounding, into steps of lr); then eval mode reads them
    x, y = _data(64, (1, 6, 6) if kind == "2d" else (6,))
    opt = lambda p: optim.Adam(p, lr=0.01)  # noqa: E731
    runs = []
    for lanes in (1, 2):
        model = _bn_variants(kind)()
        step = CompiledStep(model, nn.CrossEntropyLoss(), opt(model.parameters()), lanes=lanes)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            losses = [step(x, y) for _ in range(10)]
            model.eval()
            losses.append(step(x, y))  # eval: running statistics, its own recording
            model.train()
            losses.append(step(x, y))
        runs.append((model, step, losses))
    (m1, _, l1), (m2, step, l2) = runs
    train_key = next(k for k in step._lanesets if all(k[-1][0]))
    assert isinstance(step._lanesets[train_key], lanes_mod.LaneSet)
    np.testing.assert_allclose(l1, l2, rtol=1e-10)
    for (name, a), b in zip(m1.state_dict().items(), m2.state_dict().values(), strict=True):
        np.testing.assert_allclose(np.asarray(b, np.float64), np.asarray(a, np.float64),
                                   rtol=1e-6, atol=1e-9, err_msg=name)  # fmt: skip


def test_a_failing_lane_reaches_the_caller_and_the_next_step_runs():
    x, y = _data(64)
    model = _bn_variants("1d")()
    step = CompiledStep(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                        lanes=2)  # fmt: skip
    step(x, y)
    step(x, y)
    split = next(iter(step._lanesets.values()))
    kernel = split.programs[1].kernels[0]  # lane 1's first linear: made to fail mid-forward
    original = split.programs[1].source.ns["dot"]

    def broken(*args, **kwargs):
        raise DataError("lane 1 broke")

    split.programs[1].source.ns["dot"] = broken
    with pytest.raises(DataError, match="lane 1 broke"):  # not lane 0's broken barrier
        step(x, y)
    split.programs[1].source.ns["dot"] = original
    assert kernel is split.programs[1].kernels[0]
    before = model[0].weight.data.copy()
    step(x, y)  # the exchanges were reset: the lanes meet again
    assert not np.array_equal(before, model[0].weight.data)


def test_a_bad_label_in_one_lane_raises_eager_s_error():
    """The replayed cross-entropy checks its labels in each lane; the caller sees the
    DataError of the lane that failed, and the lanes run again afterwards."""
    x, y = _data(64)
    step, _, _ = _train(_mlp, nn.CrossEntropyLoss(), lambda p: optim.SGD(p, lr=0.1), 2, x, y, 3)
    assert step._lanesets and all(step._lanesets.values())
    bad = y.copy()
    bad[-1] = -1  # in the second lane's rows
    with pytest.raises(DataError, match=r"target: expected class labels in 0\.\.2"):
        step(x, bad)
    assert np.isfinite(step(x, y))
