"""The parts of data-parallel training that run in one process: sharding, the gradient bucket,
the World's timeout (on a stand-in communicator), a world of one rank, and the bad inputs
(no mpi4py, a global batch smaller than the ranks, a bad ``distributed``)."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, parallel
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
