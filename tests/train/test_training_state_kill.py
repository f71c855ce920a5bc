"""The acceptance test of resumable training: it kills real training processes
(tests/train/training_state_worker.py) with SIGKILL at random moments, some of them in the
middle of a write of the training state, resumes them until they finish, and requires the final
weights to be bit-identical to an uninterrupted run."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from deltaprop.train import state as ckpt

WORKER_PATH = Path(__file__).resolve().parent / "training_state_worker.py"

# --- the acceptance test: SIGKILL at random moments -----------------------------------------

WRITE_DELAY = 0.005  # seconds each checkpoint write waits between the temporary file and rename
PROCESS_TIMEOUT = 60.0
RUNS = 16  # interrupted runs, alternating between the two configurations


def _env():
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"  # the same arithmetic in every process, and no oversubscription
    env["DP_TEST_WRITE_DELAY"] = str(WRITE_DELAY)
    return env


def _spawn(config, workdir, *extra):
    err = open(workdir / "stderr.txt", "ab")  # noqa: SIM115 - closed by _finish
    proc = subprocess.Popen(
        [sys.executable, str(WORKER_PATH), config, str(workdir), *extra],
        stdout=subprocess.DEVNULL,
        stderr=err,
        env=_env(),
        cwd=str(workdir),
    )
    proc._stderr_file = err
    return proc


def _finish(proc, timeout=PROCESS_TIMEOUT):
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:  # only ever the process this test started
            proc.kill()
            proc.wait()
        proc._stderr_file.close()


def _events(workdir):
    try:
        return (workdir / "events").read_text().split()
    except FileNotFoundError:
        return []


def _temporaries(workdir):
    return [n for n in os.listdir(workdir) if n.startswith(".state.ckpt.") and n.endswith(".tmp")]


def _reference_run(config, workdir):
    workdir.mkdir()
    proc = _spawn(config, workdir, "--no-checkpoint")
    assert _finish(proc) == 0, (workdir / "stderr.txt").read_text()
    return _results(workdir)


def _results(workdir):
    with np.load(workdir / "weights.npz", allow_pickle=False) as f:
        weights = {k: f[k] for k in f.files}
    return weights, json.loads((workdir / "history.json").read_text())


def _kill_at(proc, workdir, kind, u, ref):
    """Kill ``proc`` at the moment ``kind``/``u`` picks; True when it was killed (False when it
    finished first)."""
    deadline = time.monotonic() + PROCESS_TIMEOUT
    before = _events(workdir)
    epochs_left = len(ref[1]["epoch"]) - before.count("end")
    if kind == "startup":  # during imports / setup, before training
        time.sleep(0.3 * u)
    elif kind == "time":  # anywhere in training: mid-epoch, mid-write or between
        while before.count("fit") == _events(workdir).count("fit"):
            if proc.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        expected = ref[1]["fit_seconds"] + epochs_left * (WRITE_DELAY + 0.01)
        time.sleep(u * expected)
    else:  # "write": wait for the chosen write to begin, then kill during it
        target = before.count("begin") + 1 + int(u * max(epochs_left - 1, 0))
        while True:
            events = _events(workdir)
            if events.count("begin") >= target and events[-1] == "begin":
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.001)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    return _finish(proc) == -signal.SIGKILL


def _interrupted_run(config, workdir, plan, ref):
    """Start, kill as ``plan`` says (one entry per process), then resume until done."""
    workdir.mkdir()
    kills = mid_write = 0
    for kind, u in plan:
        proc = _spawn(config, workdir)
        try:
            killed = _kill_at(proc, workdir, kind, u, ref)
        finally:
            code = _finish(proc)
        if not killed:
            assert code == 0, (workdir / "stderr.txt").read_text()
            break
        kills += 1
        if _temporaries(workdir):  # killed between creating the temporary file and the rename
            mid_write += 1
        if (workdir / "state.ckpt").exists():  # whatever the moment, the file is whole
            ckpt.read(str(workdir / "state.ckpt"))
    else:
        proc = _spawn(config, workdir)
        assert _finish(proc) == 0, (workdir / "stderr.txt").read_text()
    assert _temporaries(workdir) == []
    return kills, mid_write


def _csv_without_times(path):
    rows = list(csv.reader(open(path, newline="")))
    drop = rows[0].index("epoch_seconds")
    return [[cell for i, cell in enumerate(row) if i != drop] for row in rows]


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_at_random_moments_then_resume_is_bit_identical(tmp_path):
    started = time.monotonic()
    configs = ("steplr", "cosine_es")
    refs = {c: _reference_run(c, tmp_path / f"ref-{c}") for c in configs}
    rnd = random.Random(20240607)
    runs = []
    for i in range(RUNS):
        plan = []
        for j in range(rnd.choice((1, 1, 2, 3))):
            kind = rnd.choices(("time", "write", "startup"), weights=(7, 2, 1))[0]
            plan.append(("write" if i < 2 and j == 0 else kind, rnd.random() * 0.95))
        runs.append((configs[i % 2], tmp_path / f"run-{i:02d}", plan))

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda r: _interrupted_run(*r, refs[r[0]]), runs))

    kills = sum(k for k, _ in outcomes)
    mid_write = sum(m for _, m in outcomes)
    for config, workdir, plan in runs:
        weights, result = _results(workdir)
        ref_weights, ref_result = refs[config]
        assert list(weights) == list(ref_weights)
        for name, value in ref_weights.items():
            assert np.array_equal(weights[name], value), (workdir.name, plan, name)
        assert result["epoch"] == ref_result["epoch"]
        for key, values in ref_result["history"].items():
            if key != "epoch_seconds":
                assert result["history"][key] == values, (workdir.name, plan, key)
        assert result["stop_reason"] == ref_result["stop_reason"]
        if config == "steplr":
            assert _csv_without_times(workdir / "log.csv") == _csv_without_times(
                tmp_path / f"ref-{config}" / "log.csv"
            )
    print(f"\n{kills} kills, {mid_write} during a checkpoint write, "
          f"{time.monotonic() - started:.1f} s")  # fmt: skip
    assert kills >= 10
    assert mid_write >= 1  # killed between creating the temporary file and renaming it
    assert kills - mid_write >= 1  # killed outside a write: mid-epoch, at startup
