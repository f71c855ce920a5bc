"""Helpers of the MPI tests: ``mpirun(n, args, timeout)`` runs ``mpiexec -n n python ...`` from
the venv's bin (next to ``sys.executable``), in its own process group, and ends that group
(and only it) when the timeout passes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import deltaprop

HERE = Path(__file__).resolve().parent
SRC = Path(deltaprop.__file__).resolve().parents[1]
MPIEXEC = Path(sys.executable).parent / "mpiexec"


def _env(blas_threads: bool = True) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[key] = "1"  # ranks share 2 cores: one BLAS thread each
        if not blas_threads:  # as a user who sets none: deltaprop shares the cores out
            del env[key]
    env.pop("DELTAPROP_DIST_TIMEOUT", None)
    env.pop("DELTAPROP_DIST_REDUCE", None)
    return env


def run_group(
    cmd: list[str], timeout: float, cwd: Path | None = None, blas_threads: bool = True
) -> tuple[int, str, float]:
    """(exit code, stdout+stderr, seconds); the process group is killed at the timeout (and
    the code is then None)."""
    import time

    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=_env(blas_threads), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group this test started, nothing else
        out, _ = proc.communicate()
        return None, out, time.monotonic() - start
    return proc.returncode, out, time.monotonic() - start


@pytest.fixture
def mpirun():
    pytest.importorskip("mpi4py")
    if not MPIEXEC.exists():
        pytest.skip(f"no mpiexec next to {sys.executable} (install deltaprop[dist])")

    def run(n: int, args: list[str], timeout: float = 120.0, cwd: Path | None = None,
            blas_threads: bool = True):  # fmt: skip
        cmd = [str(MPIEXEC), "-n", str(n), sys.executable, *args]
        return run_group(cmd, timeout, cwd, blas_threads)

    return run
