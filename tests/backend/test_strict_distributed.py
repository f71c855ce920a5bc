"""Data-parallel training on the strict device (see conftest.py): MPI wheels are not
CUDA-aware, so the gradients go to the host bucket by explicit copies and come back the same
way; nothing converts a device array implicitly. One rank, in this process (mpi4py's world of
one): the path is every rank's."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import backend, nn


@pytest.mark.parametrize("reduce", ["mpi", "shm"])
def test_a_world_of_one_rank_on_the_device_trains_as_one_process(reduce, tmp_path):
    pytest.importorskip("mpi4py")
    from deltaprop import parallel

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    weights, logs = [], []
    for distributed in (False, parallel.World(reduce=reduce)):
        dp.seed(3)
        net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        trainer = dp.Trainer(net, "cross_entropy", "sgd", lr=0.1, distributed=distributed,
                             clip_norm=1.0, clip_value=0.05, l2=1e-3,
                             metrics=["accuracy"])  # fmt: skip
        checkpoint = tmp_path / f"{bool(distributed)}.safetensors"
        history = trainer.fit(X, y, epochs=2, batch_size=8, seed=1, verbose=False,
                              checkpoint=checkpoint)  # fmt: skip
        assert checkpoint.exists()  # rank 0's, from the device's weights
        assert all(backend.xp_of(p.data) is not np for p in net.parameters())
        weights.append(np.concatenate([backend.to_numpy(p.data).ravel() for p in net.parameters()]))
        logs.append((history.history["loss"], history.history["accuracy"]))
    np.testing.assert_allclose(weights[0], weights[1], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(logs[0], logs[1], rtol=1e-6)
