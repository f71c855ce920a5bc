import numpy as np
import pytest

from deltaprop import backend
from deltaprop.data import DESCENTS, DataLoader, iterate_batches, n_batches, resolve_batch_size
from deltaprop.data.loader import batch_size_for, epoch_batches
from deltaprop.errors import ConfigError, DataError


def data(n=10, d=3):
    X = np.arange(n * d, dtype=np.float32).reshape(n, d)
    return X, np.arange(n)


class TestResolveBatchSize:
    def test_modes(self):
        assert DESCENTS == ("batch", "stochastic", "minibatch")
        assert resolve_batch_size("batch", 32, 100) == 100
        assert resolve_batch_size("stochastic", 32, 100) == 1
        assert resolve_batch_size("minibatch", 16, 100) == 16
        assert resolve_batch_size("minibatch", 500, 100) == 100
        assert resolve_batch_size("Minibatch", np.int64(8), 100) == 8
        assert resolve_batch_size("batch", None, 7) == 7  # batch_size ignored outside minibatch
        # the same rule without the checks, for callers that checked (Trainer.fit)
        assert [batch_size_for(d, 16, 10) for d in DESCENTS] == [10, 1, 10]
        assert batch_size_for("minibatch", 4, 10) == 4

    def test_errors(self):
        with pytest.raises(
            ConfigError,
            match=r"descent: unknown name 'sgd'; expected one of "
            r"\('batch', 'stochastic', 'minibatch'\)",
        ):
            resolve_batch_size("sgd", 32, 100)
        for bad in (0, -1, 2.5, "8", None, True):
            with pytest.raises(ConfigError, match="batch_size: expected an integer >= 1"):
                resolve_batch_size("minibatch", bad, 100)
        with pytest.raises(DataError, match="n_samples: expected at least one training row"):
            resolve_batch_size("batch", 32, 0)


def test_n_batches():
    assert n_batches(10, 3) == 4
    assert n_batches(10, 3, drop_last=True) == 3
    assert n_batches(9, 3) == 3 and n_batches(2, 5, True) == 0
    with pytest.raises(ConfigError, match="batch_size"):
        n_batches(10, 0)


class TestIterateBatches:
    def test_unshuffled_views_in_order(self):
        X, y = data()
        batches = list(iterate_batches(X, y, 4, shuffle=False))
        assert [len(b) for b, _ in batches] == [4, 4, 2]
        assert all(np.shares_memory(b, X) for b, _ in batches)
        np.testing.assert_array_equal(np.concatenate([yb for _, yb in batches]), y)

    def test_shuffled_every_row_once_and_pairs_intact(self):
        X, y = data(23)
        rng = np.random.default_rng(0)
        batches = list(iterate_batches(X, y, 5, rng=rng))
        ys = np.concatenate([yb for _, yb in batches])
        assert sorted(ys.tolist()) == list(range(23)) and ys.tolist() != list(range(23))
        for xb, yb in batches:
            np.testing.assert_array_equal(xb, X[yb])
        # one permuted copy per epoch, then views of it
        base = batches[0][0].base
        assert base is not None and all(xb.base is base for xb, _ in batches)

    def test_drop_last_and_no_y(self):
        X, _ = data(10)
        batches = list(iterate_batches(X, None, 3, shuffle=False, drop_last=True))
        assert [len(b) for b, _ in batches] == [3, 3, 3] and batches[0][1] is None
        assert len(list(iterate_batches(X, None, 3, drop_last=False))) == 4

    def test_lists_and_library_rng(self):
        backend.seed(3)
        a = [yb.tolist() for _, yb in iterate_batches([[1], [2], [3]], [0, 1, 2], 1)]
        backend.seed(3)
        b = [yb.tolist() for _, yb in iterate_batches([[1], [2], [3]], [0, 1, 2], 1)]
        assert a == b

    def test_errors_at_call_time(self):
        X, y = data()
        with pytest.raises(
            DataError, match="X and y: expected the same number of rows, got 10 and 9"
        ):
            iterate_batches(X, y[:9], 2)
        with pytest.raises(ConfigError, match="batch_size"):
            iterate_batches(X, y, 0)

    def test_stochastic_hands_out_views_of_one_permuted_copy(self):
        # Speed lives in benchmarks; what makes batch size 1 cheap is checked here: one
        # permuted copy per epoch, and every batch a view into it (no per-row copy).
        X, y = data(2000, 8)
        batches = list(iterate_batches(X, y, 1, rng=np.random.default_rng(0)))
        assert len(batches) == 2000
        base = batches[0][0].base
        assert base is not None and base is not X and base.shape == X.shape
        assert all(xb.base is base and yb.base is batches[0][1].base for xb, yb in batches)
        np.testing.assert_array_equal(np.sort(np.concatenate([yb for _, yb in batches])), y)

    def test_epoch_batches_is_the_same_without_the_checks(self):
        X, y = data(11)
        checked = list(iterate_batches(X, y, 4, rng=np.random.default_rng(3), drop_last=True))
        unchecked = list(epoch_batches(X, y, 4, True, np.random.default_rng(3), True))
        assert len(checked) == len(unchecked) == 2
        for (a, b), (c, d) in zip(checked, unchecked, strict=True):
            np.testing.assert_array_equal(a, c)
            np.testing.assert_array_equal(b, d)


class TestDataLoader:
    def test_epochs_differ_and_cover(self):
        X, y = data(17)
        dl = DataLoader(X, y, batch_size=4, seed=0)
        assert len(dl) == 5
        e1 = np.concatenate([yb for _, yb in dl])
        e2 = np.concatenate([yb for _, yb in dl])
        assert sorted(e1.tolist()) == sorted(e2.tolist()) == list(range(17))
        assert e1.tolist() != e2.tolist()

    def test_reproducible_with_seed(self):
        X, y = data(17)
        a = [[yb.tolist() for _, yb in DataLoader(X, y, 4, seed=9)] for _ in range(1)]
        b = [[yb.tolist() for _, yb in DataLoader(X, y, 4, seed=9)] for _ in range(1)]
        assert a == b
        l1, l2 = DataLoader(X, y, 4, seed=9), DataLoader(X, y, 4, seed=9)
        for _ in range(3):
            assert [yb.tolist() for _, yb in l1] == [yb.tolist() for _, yb in l2]
        assert [yb.tolist() for _, yb in DataLoader(X, y, 4, seed=10)] != a[0]

    def test_no_shuffle_drop_last_repr(self):
        X, y = data(10)
        dl = DataLoader(X, y, batch_size=3, shuffle=False, drop_last=True)
        assert len(dl) == 3
        assert np.concatenate([yb for _, yb in dl]).tolist() == list(range(9))
        assert "batch_size=3" in repr(dl)

    def test_descent_modes(self):
        X, y = data(12)
        sto = DataLoader(X, y, resolve_batch_size("stochastic", 32, len(X)), seed=0)
        assert len(sto) == 12 and all(len(xb) == 1 for xb, _ in sto)
        full = DataLoader(X, y, resolve_batch_size("batch", 32, len(X)), seed=0)
        assert len(full) == 1 and [len(xb) for xb, _ in full] == [12]

    def test_errors(self):
        X, y = data()
        with pytest.raises(ConfigError, match="batch_size: expected an integer >= 1, got 0"):
            DataLoader(X, y, batch_size=0)
        with pytest.raises(DataError, match="X and y"):
            DataLoader(X, y[:3])
