"""The parts of data-parallel training that run in one process: sharding, the gradient bucket,
the World's timeout (on a stand-in communicator), a world of one rank, and the bad inputs
(no mpi4py, a global batch smaller than the ranks, a bad ``distributed``)."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, parallel, report
from deltaprop.cli import main

world_module = importlib.import_module("deltaprop.parallel.world")


def test_shards_cover_every_row_once_and_differ_by_at_most_one():
    for n in range(1, 40):
        for size in range(1, 9):
            bounds = [parallel.shard_bounds(n, r, size) for r in range(size)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            sizes = [hi - lo for lo, hi in bounds]
            assert max(sizes) - min(sizes) <= 1


def test_a_global_batch_smaller_than_the_ranks_is_refused_naming_it():
    parallel.check_global_batch(4, 4)
    with pytest.raises(dp.ConfigError, match=r"^--batch-size: the global batch of 3 row"):
        parallel.check_global_batch(3, 4, "--batch-size")


def test_bucket_packs_scaled_gradients_contiguously_and_unpacks_views():
    a = nn.Parameter(np.ones((2, 3), np.float32))
    b = nn.Parameter(np.ones(4, np.float32))
    frozen = nn.Parameter(np.ones(2, np.float32))
    frozen.requires_grad = False
    a.grad = dp.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    bucket = parallel.GradBucket([a, b, frozen], n_scalars=2)
    assert bucket.buffer.shape == (6 + 4 + 2 + 2,) and bucket.buffer.dtype == np.float32
    bucket.pack(0.5)  # b has no gradient: zeros
    np.testing.assert_array_equal(bucket.buffer[:6], np.arange(6) * 0.5)
    np.testing.assert_array_equal(bucket.buffer[6:12], 0)
    bucket.buffer[:6] += 1  # as if the other ranks added theirs
    bucket.unpack()
    np.testing.assert_array_equal(a.grad.numpy(), np.arange(6).reshape(2, 3) * 0.5 + 1)
    assert np.shares_memory(a.grad.data, bucket.buffer)  # no copy on the host
    assert frozen.grad is None
    bucket.zero()
    assert not bucket.buffer.any()


class _Never:
    def Test(self):  # noqa: N802  (mpi4py's name)
        return False


class _FakeComm:
    """A communicator of ``size`` ranks whose requests never complete (a dead partner)."""

    def __init__(self, rank=0, size=2):
        self.rank, self.size, self.aborted = rank, size, []

    def Get_rank(self):  # noqa: N802
        return self.rank

    def Get_size(self):  # noqa: N802
        return self.size

    def Iallreduce(self, *args):  # noqa: N802
        return _Never()

    def Ibcast(self, *args, **kwargs):  # noqa: N802
        return _Never()

    def Ibarrier(self):  # noqa: N802
        return _Never()

    def Abort(self, code):  # noqa: N802
        self.aborted.append(code)


def test_a_collective_that_never_completes_times_out_with_a_clear_error():
    pytest.importorskip("mpi4py")
    comm = _FakeComm(rank=1, size=3)
    w = parallel.World(timeout=0.05, comm=comm)
    with pytest.raises(parallel.RankTimeout, match=r"rank 1 of 3 waited 0.05 s .* at the test"):
        w.allreduce_(np.zeros(3), "the test")
    assert w.broken
    with pytest.raises(parallel.RankTimeout, match="an earlier collective timed out"):
        w.broadcast_(np.zeros(3), "the next one")


def test_a_barrier_that_never_completes_times_out_naming_it():
    # the shared-memory sum's two syncs a step are such barriers (on the host's communicator)
    pytest.importorskip("mpi4py")
    w = parallel.World(timeout=0.05, comm=_FakeComm(rank=0, size=2))
    node = _FakeComm(rank=0, size=2)
    with pytest.raises(parallel.RankTimeout, match=r"waited 0.05 s .* at the gradient sum"):
        w.barrier("the gradient sum (shared memory)", node)
    assert w.broken


def test_timeout_is_checked(monkeypatch):
    pytest.importorskip("mpi4py")
    with pytest.raises(dp.ConfigError, match="^timeout"):
        parallel.World(timeout=0, comm=_FakeComm())
    monkeypatch.setenv(parallel.TIMEOUT_ENV, "soon")
    with pytest.raises(dp.ConfigError, match=rf"^{parallel.TIMEOUT_ENV}: expected a number"):
        parallel.World(comm=_FakeComm())
    monkeypatch.setenv(parallel.TIMEOUT_ENV, "7.5")
    assert parallel.World(comm=_FakeComm()).timeout == 7.5


def _toy(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def _net():
    dp.seed(3)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def test_a_world_of_one_rank_trains_as_one_process():
    pytest.importorskip("mpi4py")
    X, y = _toy()
    weights = []
    for distributed in (False, True):
        net = _net()
        trainer = dp.Trainer(net, "cross_entropy", "sgd", lr=0.1, distributed=distributed)
        trainer.fit(X, y, epochs=2, batch_size=8, seed=1, verbose=False)
        weights.append(np.concatenate([p.numpy().ravel() for p in net.parameters()]))
    np.testing.assert_array_equal(weights[0], weights[1])


def test_batch_smaller_than_the_ranks_changes_nothing():
    pytest.importorskip("mpi4py")
    X, y = _toy()
    net = _net()
    before = net.state_dict()
    w = parallel.World(comm=_FakeComm(rank=0, size=4))
    trainer = dp.Trainer(net, "cross_entropy", "sgd", lr=0.1, distributed=w)
    with pytest.raises(dp.ConfigError, match=r"^batch_size: the global batch of 3 row"):
        trainer.fit(X, y, epochs=1, batch_size=3, verbose=False)
    with pytest.raises(dp.ConfigError, match=r"^batch_size: the global batch of 1 row"):
        trainer.fit(X, y, epochs=1, descent="stochastic", verbose=False)
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_distributed_must_be_a_bool_or_a_world():
    with pytest.raises(dp.ConfigError, match=r"^distributed: expected True, False or a"):
        dp.Trainer(_net(), "cross_entropy", "sgd", distributed="yes")


@pytest.fixture
def no_mpi(monkeypatch):
    """mpi4py cannot be imported, and no world was made before."""
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setattr(world_module, "_WORLD", None)


def test_distributed_without_mpi4py_names_the_extra(no_mpi):
    with pytest.raises(dp.ConfigError, match=r"^distributed: .*pip install deltaprop\[dist\]"):
        dp.Trainer(_net(), "cross_entropy", "sgd", distributed=True)
    assert not parallel.mpi_available()
    assert parallel.rank() == 0 and parallel.size() == 1 and parallel.is_root()


def test_cli_distributed_without_mpi4py_is_one_error_and_writes_nothing(no_mpi, tmp_path, capsys):
    save = tmp_path / "m.safetensors"
    code = main(["train", "--dataset", "iris", "--epochs", "1", "--distributed",
                 "--save", str(save)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("deltaprop: error: --distributed: data-parallel training needs mpi4py")
    assert "pip install deltaprop[dist]" in err and err.count("\n") == 1
    assert not save.exists()


# --- the gradient sum: Allreduce or a shared-memory window (parallel/gradsum.py) -------------
gradsum = importlib.import_module("deltaprop.parallel.gradsum")


def test_chunks_cover_the_sum_once_in_whole_cache_lines():
    for itemsize in (4, 8):
        per_line = 64 // itemsize
        for n in (1, 5, 16, 17, 100, 997, 4096):
            for size in (1, 2, 3, 4, 7):
                bounds = [gradsum.chunk_bounds(n, r, size, itemsize) for r in range(size)]
                assert bounds[0][0] == 0 and bounds[-1][1] == n
                assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
                # every border but the end falls on a line: no line has two writers
                assert all(hi % per_line == 0 for lo, hi in bounds if hi < n)
                lines = [-(-(hi - lo) // per_line) for lo, hi in bounds]
                assert max(lines) - min(lines) <= 1
    # uneven: 997 numbers (63 lines of 16) over 3 and 4 ranks
    assert [gradsum.chunk_bounds(997, r, 3) for r in range(3)] == [(0, 336), (336, 672),
                                                                    (672, 997)]  # fmt: skip
    assert [gradsum.chunk_bounds(997, r, 4)[1] for r in range(4)] == [256, 512, 768, 997]


def test_reduce_option_is_checked_and_read_from_the_environment(monkeypatch):
    pytest.importorskip("mpi4py")
    assert parallel.World(comm=_FakeComm()).reduce == "auto"
    assert parallel.World(comm=_FakeComm(), reduce="SHM").reduce == "shm"
    with pytest.raises(dp.ConfigError, match=r"^reduce: unknown name 'nccl'; expected one of"):
        parallel.World(comm=_FakeComm(), reduce="nccl")
    monkeypatch.setenv(parallel.REDUCE_ENV, "mpi")
    assert parallel.World(comm=_FakeComm()).reduce == "mpi"
    assert parallel.World(comm=_FakeComm(), reduce="auto").reduce == "auto"  # the argument wins
    monkeypatch.setenv(parallel.REDUCE_ENV, "fast")
    with pytest.raises(dp.ConfigError, match=rf"^{parallel.REDUCE_ENV}: unknown name 'fast'"):
        parallel.World(comm=_FakeComm())


class _Done:
    def Test(self):  # noqa: N802
        return True


class _TwoHosts(_FakeComm):
    """A world of ``size`` ranks of which this host holds ``size - 1``."""

    def Ibarrier(self):  # noqa: N802
        return _Done()

    def Split_type(self, kind, key=0):  # noqa: N802
        return _Node(self.size - 1)


class _Node(_FakeComm):
    def __init__(self, size):
        super().__init__(0, size)
        self.freed = False

    def Free(self):  # noqa: N802
        self.freed = True


def test_shm_on_ranks_of_several_hosts_is_refused_and_auto_uses_allreduce():
    pytest.importorskip("mpi4py")
    w = parallel.World(comm=_TwoHosts(rank=0, size=3), reduce="shm")
    with pytest.raises(dp.ConfigError, match=r"^reduce: 'shm' .* these 3 ranks span several"):
        gradsum.gradient_sum(w, 10, np.float32)
    w = parallel.World(comm=_TwoHosts(rank=0, size=3), reduce="auto")
    summed = gradsum.gradient_sum(w, 10, np.float32)
    assert summed.kind == "mpi" and w.summed_by == "mpi"
    assert summed.buffer.shape == (10,) and summed.result is summed.buffer


def test_shm_on_several_hosts_fails_before_fit_changes_anything():
    pytest.importorskip("mpi4py")
    X, y = _toy()
    net = _net()
    before = net.state_dict()
    w = parallel.World(comm=_TwoHosts(rank=1, size=2), reduce="shm")
    trainer = dp.Trainer(net, "cross_entropy", "sgd", lr=0.1, distributed=w)
    with pytest.raises(dp.ConfigError, match=r"^reduce: 'shm'"):
        trainer.fit(X, y, epochs=1, batch_size=8, verbose=False)
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def _one_rank(reduce):
    from mpi4py import MPI

    return parallel.World(comm=MPI.COMM_WORLD, reduce=reduce)


def test_a_shared_window_of_one_rank_sums_a_bucket_of_two_dtypes():
    pytest.importorskip("mpi4py")
    a = nn.Parameter(np.zeros((2, 3), np.float32))
    b = nn.Parameter(np.zeros(5))
    b.data = b.data.astype(np.float64)  # a Parameter is made in the default dtype
    a.grad = dp.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    b.grad = dp.tensor(np.linspace(0, 1, 5))
    dtype, n = parallel.bucket.layout([a, b], 2)
    assert (dtype, n) == (np.float64, 13)
    summed = gradsum.gradient_sum(_one_rank("shm"), n, dtype)
    assert isinstance(summed, gradsum.SharedSum) and summed.unified
    bucket = parallel.GradBucket([a, b], 2, buffer=summed.buffer)
    bucket.pack(0.5)
    bucket.scalars[:] = [3.0, 4.0]
    result = summed.sum("the test")
    assert result is summed.result and not np.shares_memory(result, summed.buffer)
    np.testing.assert_array_equal(bucket.scalars_of(result), [3.0, 4.0])
    bucket.unpack(result)
    np.testing.assert_array_equal(a.grad.numpy(), np.arange(6).reshape(2, 3) * 0.5)
    np.testing.assert_array_equal(b.grad.numpy(), np.linspace(0, 1, 5) * 0.5)
    assert np.shares_memory(a.grad.data, result) and a.grad.data.dtype == np.float64
    bucket.unpack(result, copy=True)  # for penalties and clipping, which change it in place
    assert not np.shares_memory(a.grad.data, result) and not np.shares_memory(b.grad.data, result)
    np.testing.assert_array_equal(b.grad.numpy(), np.linspace(0, 1, 5) * 0.5)
    summed.close()
    summed.close()  # once only
    assert not summed.open


def test_a_bucket_refuses_a_buffer_of_another_layout():
    a = nn.Parameter(np.zeros(4, np.float32))
    with pytest.raises(dp.ConfigError, match=r"^buffer: expected a 1-D array of 6 float32"):
        parallel.GradBucket([a], 2, buffer=np.zeros(5, np.float32))
    with pytest.raises(dp.ConfigError, match=r"^buffer: expected a 1-D array of 6 float32"):
        parallel.GradBucket([a], 2, buffer=np.zeros(6, np.float64))


@pytest.mark.parametrize("reduce", ["mpi", "shm"])
def test_a_world_of_one_rank_trains_as_one_process_on_either_sum(reduce):
    pytest.importorskip("mpi4py")
    X, y = _toy()
    weights, grads = [], []
    for distributed in (False, _one_rank(reduce)):
        net = _net()
        trainer = dp.Trainer(net, "cross_entropy", "momentum", lr=0.1, distributed=distributed)
        trainer.fit(X, y, epochs=2, batch_size=7, seed=1, verbose=False)
        weights.append(np.concatenate([p.numpy().ravel() for p in net.parameters()]))
        grads.append([p.grad.numpy().copy() for p in net.parameters()])
        if distributed:
            assert distributed.summed_by == reduce
            assert trainer._dist.sum is None  # closed at the end of fit
    np.testing.assert_array_equal(weights[0], weights[1])
    for g0, g1 in zip(*grads):
        np.testing.assert_array_equal(g0, g1)  # the last step's gradients stay readable


class _OneHost(_TwoHosts):
    """A world of ``size`` ranks all on this host, whose collectives complete at once (the
    sums are this rank's own values)."""

    def Split_type(self, kind, key=0):  # noqa: N802
        return _Node(self.size)

    def Iallreduce(self, *args):  # noqa: N802
        return _Done()


def test_too_little_room_for_the_window_falls_back_or_is_refused(monkeypatch):
    pytest.importorskip("mpi4py")
    # 1000 float32 numbers: each of 2 slots and the result takes a page
    assert gradsum.window_bytes(1000, np.float32, 2) == 3 * 4096
    assert gradsum.window_bytes(1025, np.float32, 1) == 2 * 8192
    monkeypatch.setattr(gradsum, "shm_free_bytes", lambda: 5 * 2**20)  # 3 x 8 MB needed
    w = parallel.World(comm=_OneHost(rank=0, size=2), reduce="auto")
    with pytest.warns(report.DeltapropWarning, match=r"window needs 24 MB in /dev/shm, 5 MB are"):
        summed = gradsum.gradient_sum(w, 2 * 2**20, np.float32)
    assert summed.kind == "mpi"
    w = parallel.World(comm=_OneHost(rank=1, size=2), reduce="shm")
    with pytest.raises(dp.ConfigError, match=r"^reduce: 'shm': the gradient window needs 24 MB"):
        gradsum.gradient_sum(w, 2 * 2**20, np.float32)
    # the room is enough, or unknown (no /dev/shm: another OS): the window is made
    for free in (2**30, None):
        monkeypatch.setattr(gradsum, "shm_free_bytes", lambda free=free: free)
        summed = gradsum.gradient_sum(_one_rank("shm"), 2 * 2**20, np.float32)
        assert summed.kind == "shm"
        summed.close()


def test_the_room_of_a_missing_folder_is_unknown():
    assert gradsum.shm_free_bytes("/no/such/folder") is None
    free = gradsum.shm_free_bytes()
    assert free is None or free > 0


def test_a_compiled_step_writes_its_gradients_into_the_bucket_scaled_by_the_seed():
    """CompiledStep(grads_into=the bucket's views): replays write every linear gradient into
    its view, times set_seed's value, so pack copies nothing; the step that records runs
    eager's backward (gradients from 1), which pack scales and copies as before."""
    from deltaprop.compile import CompiledStep

    dp.seed(0)
    model = dp.nn.Sequential(dp.nn.Linear(6, 8), dp.nn.Tanh(), dp.nn.Linear(8, 3))
    opt = dp.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    params = list(model.parameters())
    bucket = parallel.GradBucket(params, 2)
    loss = dp.nn.CrossEntropyLoss()
    step = CompiledStep(model, loss, opt, fuse_update=False,
                        grads_into={id(p): v for p, v in zip(params, bucket.views)},
                        loss_call=lambda out, y: loss(out, dp.Tensor._wrap(y)))  # fmt: skip
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((10, 6)).astype(np.float32), rng.integers(0, 3, 10)
    for i in range(3):
        step.forward(x, y)
        step.set_seed(0.25)
        step.backward()
        bucket.pack(0.25)
        assert bucket.in_place == (0 if i == 0 else 4)  # recorded eagerly, then replayed
        for p in params:  # eager's gradients of the same weights, times the share
            p.grad = None
        out = loss(model(dp.Tensor(x)), dp.Tensor(y))
        out.backward()
        expected = [p.grad.data * np.float32(0.25) for p in params]
        for view, e in zip(bucket.views, expected, strict=True):
            np.testing.assert_allclose(view, e, rtol=1e-5, atol=1e-7)
        bucket.unpack()
        opt.step()


def test_blas_threads_share_the_host_s_cores_unless_the_user_set_them():
    from deltaprop.train.distributed import THREAD_VARS, blas_threads

    assert blas_threads(2, 2, {}) == 1
    assert blas_threads(16, 4, {}) == 4
    assert blas_threads(2, 4, {}) == 1  # oversubscribed: one each, never none
    assert blas_threads(16, 1, {}) is None  # alone on the host: the library's own choice
    for key in THREAD_VARS:
        assert blas_threads(16, 4, {key: "2"}) is None
