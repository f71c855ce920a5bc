"""Running trials in guarded worker processes.

A worker (``fuzz.py worker``) sets its target up once, limits its address space
(``RLIMIT_AS``: what it uses after setup plus ``memory_mib``), then runs a range of seeds, each
under a timer (:func:`fuzzcore.trial`), and appends one JSON line per trial to a results file:
``{"start": seed, ...}`` before and the outcome after. A trial whose peak resident memory
exceeds what was resident before it by more than ``rss_mib`` is a wrong outcome ("allocated
over ... MiB"); the peak is reset before each trial (``/proc/self/clear_refs``), or, where Linux
refuses that, the worker exits after such a trial so that the next one starts from a low peak.

The parent (:func:`run_target`) runs ``jobs`` workers on slices of the seeds and watches them:
a worker that dies (a crash, the kernel's OOM killer, an abort in native code) or stops
answering (a hang the timer cannot interrupt) is killed if needed, the seed it was on is
recorded as a wrong outcome or a hang, and a new worker carries on from the next seed.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
STARTUP_S = 180.0  # a worker's setup: imports, a tiny training run, the reference resume
ENV_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _status_kib(key: str) -> int:
    """A ``VmSize``/``VmRSS``/``VmHWM`` line of /proc/self/status, in KiB (0 if absent)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    """Reset the peak resident size (VmHWM) to the current one; False where Linux refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def worker(
    target_name: str, start: int, stop: int, out: str, timeout: float, memory_mib: int, rss_mib: int
) -> None:
    """The worker process: results of seeds ``start..stop-1`` appended to ``out``."""
    import fuzz_targets as targets  # here: the parent does not need deltaprop
    from fuzzcore import trial

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the library and the callbacks print; results go to ``out`` only
    target = targets.TARGETS[target_name]()
    # in the parent's folder, which the parent removes: a killed worker leaves nothing behind
    with tempfile.TemporaryDirectory(prefix=f"{target_name}-", dir=os.path.dirname(out)) as workdir:
        target.setup(workdir)
        limit = _status_kib("VmSize") * 1024 + memory_mib * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
        resettable = _reset_peak()
        with open(out, "a", buffering=1) as results:
            for seed in range(start, stop):
                # the peak resident size a trial reaches, over what was resident before it
                if resettable:
                    _reset_peak()
                    before = _status_kib("VmRSS")
                else:
                    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

                def started(r: dict) -> None:
                    results.write(json.dumps({"start": r}) + "\n")

                record = trial(target, seed, workdir, timeout, on_start=started)
                if resettable:
                    grown = (_status_kib("VmHWM") - before) // 1024
                else:
                    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024
                if grown > rss_mib and record["outcome"] != "wrong":
                    was = f"peak memory grew {grown} MiB; the outcome was {record['outcome']}"
                    record.update(outcome="wrong", kind=f"allocated over {rss_mib} MiB", detail=was)
                results.write(json.dumps(record) + "\n")
                if grown > rss_mib and not resettable:  # a new worker starts from a low peak
                    results.write(json.dumps({"restart": seed}) + "\n")
                    return


class _Lane:
    """One slice of seeds and the worker process running it."""

    def __init__(self, target: str, start: int, stop: int, folder: str) -> None:
        self.target, self.next, self.stop = target, start, stop
        self.out = os.path.join(folder, f"{target}-{start}.jsonl")
        self.err = os.path.join(folder, f"{target}-{start}.err")
        self.proc: subprocess.Popen | None = None
        self.offset = 0
        self.current: dict | None = None  # the "start" record of the trial in progress
        self.last = 0.0
        self.answered = False


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for var in ENV_THREADS:
        env[var] = "1"  # no thread pools to oversubscribe the cores (or to reserve memory)
    # This checkout's src after the caller's PYTHONPATH: a PYTHONPATH naming another deltaprop
    # tree fuzzes that tree; either comes before an installed copy.
    src = os.path.join(os.path.dirname(os.path.dirname(HERE)), "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), src) if p)
    return env


def deltaprop_source() -> str:
    """The folder of the deltaprop package the workers import."""
    cmd = [sys.executable, "-c", "import deltaprop, os; print(os.path.dirname(deltaprop.__file__))"]
    out = subprocess.run(cmd, env=_env(), capture_output=True, text=True, check=True)
    return out.stdout.strip()


def run_target(
    target: str,
    start: int,
    stop: int,
    jobs: int = 1,
    timeout: float = 5.0,
    memory_mib: int = 1024,
    rss_mib: int = 256,
    grace: float = 5.0,
    progress: Any = None,
) -> list[dict]:
    """The outcome records of seeds ``start..stop-1`` of ``target``, by ``jobs`` workers; a
    worker silent for ``timeout + grace`` seconds in a trial is killed (a hang)."""
    records: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="fuzz-run-") as folder:
        n = stop - start
        cuts = [start + n * i // jobs for i in range(jobs + 1)]
        lanes = [_Lane(target, a, b, folder) for a, b in zip(cuts, cuts[1:]) if b > a]
        opts = [str(timeout), str(memory_mib), str(rss_mib)]
        try:
            _run_lanes(lanes, target, opts, records, timeout + grace, progress)
        finally:  # an error here (or ^C) leaves no worker behind
            for lane in lanes:
                if lane.proc is not None and lane.proc.poll() is None:
                    lane.proc.kill()
                    lane.proc.wait()
    return sorted(records, key=lambda r: r["seed"])


def _run_lanes(
    lanes: list[_Lane],
    target: str,
    opts: list[str],
    records: list[dict],
    patience: float,
    progress: Any,
) -> None:
    lanes = list(lanes)
    while lanes:
        for lane in list(lanes):
            if lane.proc is None:
                if lane.next >= lane.stop:
                    lanes.remove(lane)
                    continue
                cmd = [
                    sys.executable,
                    os.path.join(HERE, "fuzz.py"),
                    "worker",
                    target,
                    str(lane.next),
                    str(lane.stop),
                    lane.out,
                    *opts,
                ]
                with open(lane.err, "wb") as err:
                    lane.proc = subprocess.Popen(
                        cmd, stdout=subprocess.DEVNULL, stderr=err, env=_env()
                    )
                lane.last, lane.answered, lane.current = time.monotonic(), False, None
            _poll(lane, records, patience, progress)
        time.sleep(0.05)


def _poll(lane: _Lane, records: list[dict], patience: float, progress: Any) -> None:
    rc = lane.proc.poll()  # before reading: an exited worker's lines are all in the file
    with open(lane.out if os.path.exists(lane.out) else os.devnull, "rb") as f:
        f.seek(lane.offset)
        chunk = f.read()
    complete = chunk[: chunk.rfind(b"\n") + 1]  # a line being written is read next time
    lane.offset += len(complete)
    for line in complete.splitlines():
        item = json.loads(line)
        lane.last, lane.answered = time.monotonic(), True
        if "start" in item:
            lane.current = item["start"]
        elif "restart" in item:
            lane.proc.wait()
            lane.proc = None
            return
        else:
            records.append(item)
            lane.next, lane.current = item["seed"] + 1, None
            if progress:
                progress(item)
    allowance = patience if lane.answered else STARTUP_S + patience
    stalled = rc is None and time.monotonic() - lane.last > allowance
    if rc is None and not stalled:
        return
    if stalled:
        lane.proc.kill()
        rc = lane.proc.wait()
    if lane.next >= lane.stop:
        lane.proc = None
        return
    if lane.current is None:  # died or stuck outside a trial (in setup, or drawing a mutant)
        with open(lane.err, errors="replace") as f:
            raise RuntimeError(
                f"the fuzz worker of {lane.target} failed outside a trial (a harness error) "
                f"after seed {lane.next - 1}:\n{f.read()[-3000:]}"
            )
    record = dict(lane.current)
    with open(lane.err, errors="replace") as f:
        tail = f.read()[-600:]
    if stalled:
        record.update(outcome="hang", kind="hang", detail="killed: no answer, timer not honoured")
    else:
        memory = any(s in tail for s in ("memory allocation", "MemoryError", "Cannot allocate"))
        if memory:
            why = "out of memory"
        elif rc < 0:
            why = signal.Signals(-rc).name + (", e.g. the OOM killer" if rc == -9 else "")
        else:
            why = f"exit code {rc}"
        record.update(outcome="wrong", kind=f"worker died ({why})", detail=tail)
    records.append(record)
    if progress:
        progress(record)
    lane.next, lane.proc = record["seed"] + 1, None
