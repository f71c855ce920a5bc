"""Data-parallel training under ``mpiexec`` (the venv's MPICH): 1 to 4 ranks give the weights
of one process on the same global batch, with the gradients summed by Allreduce ("mpi") and
through shared memory ("shm"), which agree with each other; a killed or hung rank ends the job
within a bound on both, leaving the last checkpoint intact; a run resumes on another number of
ranks; rank 0 alone prints and writes. Every run is bounded by a timeout (its process group is
killed)."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

from deltaprop.train import state as train_state

from .conftest import HERE

SCRIPT = str(HERE / "dist_run.py")
pytestmark = pytest.mark.slow
REDUCES = ("mpi", "shm")


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def _single(tmp_path_factory, *args: str) -> np.ndarray:
    from .conftest import run_group

    out = tmp_path_factory.mktemp("ref") / "w.npy"
    code, text, _ = run_group([sys.executable, SCRIPT, str(out), "--single", *args], 120)
    assert code == 0, text
    return np.load(out)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The single-process run (no MPI at all): 5 epochs, batch 32 over 203 rows."""
    return _single(tmp_path_factory)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_ranks_give_the_weights_of_one_process_on_both_sums(mpirun, reference, tmp_path, n):
    # 3 ranks: 203 rows give shards of 11/11/10 and the last batch 4/3/3 rows; the sum's
    # chunks of the 997-number bucket are uneven too (336/336/325 in 16-number lines)
    weights = {}
    for reduce in REDUCES:
        out = tmp_path / f"{reduce}.npy"
        code, text, _ = mpirun(n, [SCRIPT, str(out), "--reduce", reduce], timeout=180)
        assert code == 0, text
        assert f"summed by {reduce}" in text, text
        # rank 0 alone prints: one line per epoch, not one per rank
        assert text.count("epoch 5/5") == 1, text
        weights[reduce] = np.load(out)
        assert _rel(weights[reduce], reference) < 1e-5
    assert _rel(weights["shm"], weights["mpi"]) < 1e-6


@pytest.mark.parametrize("n", [2, 3])
def test_compiled_ranks_give_the_weights_of_one_process(mpirun, reference, tmp_path, n):
    """Trainer(compile=True, distributed=...): each rank's replays write its gradients, times
    its share of the batch, into its slot of the sum (no pack); the weights are eager's one
    process's (its recording step, and 3 ranks' last batch of 4/3/3 rows, record again)."""
    weights = {}
    for reduce in REDUCES:
        out = tmp_path / f"{reduce}.npy"
        code, text, _ = mpirun(n, [SCRIPT, str(out), "--reduce", reduce, "--compile"], 180)
        assert code == 0, text
        assert f"summed by {reduce}" in text and text.count("epoch 5/5") == 1, text
        assert "in place 6 replays" in text, text  # 3 linear layers' weights and biases
        weights[reduce] = np.load(out)
        assert _rel(weights[reduce], reference) < 1e-5
    assert _rel(weights["shm"], weights["mpi"]) < 1e-6


def test_compiled_ranks_with_penalties_and_clipping(mpirun, tmp_path_factory, tmp_path):
    """Penalties and clipping change the summed gradients in place: each rank works on its
    own copy, as without compile, and the weights are eager's one process's."""
    args = ["--regularize"]
    reference = _single(tmp_path_factory, *args)
    out = tmp_path / "w.npy"
    code, text, _ = mpirun(2, [SCRIPT, str(out), *args, "--compile", "--reduce", "shm"])
    assert code == 0, text
    assert "in place 6 replays" in text, text
    assert _rel(np.load(out), reference) < 1e-5


@pytest.mark.parametrize("reduce", REDUCES)
def test_ranks_on_a_device_give_the_weights_of_one_process(mpirun, tmp_path_factory, tmp_path,
                                                           reduce):  # fmt: skip
    """Two ranks on the strict device (CuPy's refusals, on the host): the gradients reach the
    host bucket and come back by explicit copies, with penalties and clipping (each rank's
    own copy of the sum); the weights are one process's on the CPU, nothing refused."""
    args = ["--regularize"]
    reference = _single(tmp_path_factory, *args)
    out = tmp_path / "w.npy"
    code, text, _ = mpirun(2, [SCRIPT, str(out), *args, "--strict", "--reduce", reduce], 180)
    assert code == 0, text
    assert f"summed by {reduce}" in text and text.count("epoch 5/5") == 1, text
    assert _rel(np.load(out), reference) < 1e-5


def test_ranks_share_the_cores_out_among_their_blas_threads(mpirun, reference, tmp_path):
    """Run as a user would, with no OMP_NUM_THREADS: during fit each of 2 ranks on this host
    keeps cores // 2 BLAS threads (not a thread per core each, spinning against the other
    rank's), and gets its own number back afterwards; the weights are one process's."""
    out = tmp_path / "w.npy"
    code, text, _ = mpirun(2, [SCRIPT, str(out), "--threads"], 180, blas_threads=False)
    assert code == 0, text
    # (a regular expression: the launcher may put two ranks' lines on one)
    found = re.findall(r"rank (\d): cores (\d+), blas threads before (\[[\d, ]*\]), "
                       r"in fit (\[[\d, ]*\]), after (\[[\d, ]*\])", text)  # fmt: skip
    assert sorted(rank for rank, *_ in found) == ["0", "1"], text
    for _, cores, before, during, after in found:
        assert during == f"[{max(1, int(cores) // 2)}]" and after == before, text
    assert _rel(np.load(out), reference) < 1e-5


def test_auto_sums_through_shared_memory_a_bucket_of_two_dtypes_with_penalties_and_clipping(
    mpirun, tmp_path_factory, tmp_path
):
    # the last layer in float64: the bucket is float64, the float32 gradients are widened;
    # penalties and clipping change the summed gradients in place (each rank its own copy)
    args = ["--mixed", "--regularize"]
    reference = _single(tmp_path_factory, *args)
    weights = {}
    for reduce in ("auto", "mpi"):
        out = tmp_path / f"{reduce}.npy"
        code, text, _ = mpirun(3, [SCRIPT, str(out), *args, "--reduce", reduce])
        assert code == 0, text
        assert f"summed by {'mpi' if reduce == 'mpi' else 'shm'}" in text, text
        weights[reduce] = np.load(out)
        assert _rel(weights[reduce], reference) < 1e-5
    assert _rel(weights["auto"], weights["mpi"]) < 1e-6


@pytest.mark.parametrize("reduce", REDUCES)
def test_killed_rank_ends_the_job_and_the_checkpoint_resumes_on_other_ranks(
    mpirun, reference, tmp_path, reduce
):
    ck = tmp_path / "state.safetensors"
    out = tmp_path / "w.npy"
    # rank 1 is SIGKILLed at the end of epoch 3 (index 2), before that epoch's checkpoint
    code, text, seconds = mpirun(
        2, [SCRIPT, str(out), "--checkpoint", str(ck), "--kill-rank", "1", "--at", "2",
            "--reduce", reduce], timeout=120,
    )  # fmt: skip
    assert code not in (0, None), text  # ended, and not as a success
    assert "signal 9" in text or "Killed" in text, text  # the launcher says which rank died
    assert not out.exists()
    state = train_state.read(str(ck))  # whole: the checksum is verified on reading
    assert 2 <= state.epoch <= 3
    # resume on 4 ranks (then 1): the run ends as the uninterrupted one did
    code, text, _ = mpirun(4, [SCRIPT, str(out), "--checkpoint", str(ck), "--resume", str(ck),
                               "--reduce", reduce])  # fmt: skip
    assert code == 0, text
    assert f"resumed from {ck} after epoch {state.epoch}" in text
    assert _rel(np.load(out), reference) < 1e-5


@pytest.mark.parametrize(
    "reduce, what", [("mpi", "the gradient allreduce"), ("shm", "the gradient sum (shared memory)")]
)
def test_hung_rank_times_out_with_a_clear_error(mpirun, tmp_path, reduce, what):
    ck = tmp_path / "state.safetensors"
    out = tmp_path / "w.npy"
    args = [SCRIPT, str(out), "--checkpoint", str(ck), "--kill-rank", "1", "--at", "1",
            "--signal", "STOP", "--timeout", "3", "--reduce", reduce]  # fmt: skip
    code, text, seconds = mpirun(3, args, timeout=90)
    assert code not in (0, None), text
    assert f"waited 3 s for the other ranks at {what}" in text, text
    assert "RankTimeout" in text and "the last checkpoint is intact" in text
    assert seconds < 60
    assert train_state.read(str(ck)).epoch == 2  # rank 0 wrote epoch 2, then waited


def test_resume_on_fewer_ranks(mpirun, reference, tmp_path):
    ck = tmp_path / "state.safetensors"
    out = tmp_path / "w.npy"
    code, text, _ = mpirun(4, [SCRIPT, str(out), "--epochs", "2", "--checkpoint", str(ck)])
    assert code == 0, text
    code, text, _ = mpirun(1, [SCRIPT, str(out), "--resume", str(ck)])
    assert code == 0, text
    assert _rel(np.load(out), reference) < 1e-5


def test_cli_train_distributed_prints_and_writes_once(mpirun, tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 3))
    y = (X[:, 0] > 0).astype(int)
    csv = tmp_path / "d.csv"
    rows = [f"{a:.5f},{b:.5f},{c:.5f},{t}" for (a, b, c), t in zip(X, y)]
    csv.write_text("a,b,c,label\n" + "\n".join(rows) + "\n")
    args = ["-m", "deltaprop", "train", "--dataset", str(csv), "--hidden", "8", "--epochs",
            "4", "--log-every", "1", "--distributed", "--save", "m.safetensors",
            "--metrics-out", "m.json"]  # fmt: skip
    code, text, _ = mpirun(2, args, timeout=180, cwd=tmp_path)
    assert code == 0, text
    assert text.count("test_accuracy") == 1, text
    assert text.count("epoch 4/4") == 1, text
    assert (tmp_path / "m.safetensors").exists() and (tmp_path / "m.json").exists()
    # a global batch smaller than the ranks: one clear error naming the flag, nothing written
    args = [*args[:-4], "--batch-size", "1", "--save", "n.safetensors"]
    code, text, _ = mpirun(2, args, timeout=120, cwd=tmp_path)
    assert code == 2, text
    assert not (tmp_path / "n.safetensors").exists()
    # every rank says it once, on a line of its own; rank 1 names itself (not a duplicate)
    said = "error: --batch-size: the global batch of 1 row(s) is smaller than the number of ranks"
    lines = [line for line in text.splitlines() if "deltaprop:" in line]
    assert sorted(line.split(said)[0] for line in lines) == [
        "deltaprop: ",
        "deltaprop: rank 1: ",
    ], text
