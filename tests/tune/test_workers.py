"""Workers as real processes: a worker killed with SIGKILL mid-trial, Ctrl-C (SIGINT) on the
command, a killed command resumed; and the reaping of a dead worker's trial on its own. Every
run is bounded (few trials, timeouts)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import pytest

optuna = pytest.importorskip("optuna")

from deltaprop.tune.storage import budget_used, reap, worker_tag  # noqa: E402

SPACE = '[space]\nlr = { low = 0.01, high = 0.1, log = true }\nhidden = ["32", "48"]\n'
# digits, 25 epochs: a trial takes about a second, long enough to be caught running
ARGS = ["--dataset", "digits", "--epochs", "25", "--strategy", "random", "--pruner", "none",
        "--no-retrain", "--optimizer", "adam"]  # fmt: skip
TIMEOUT = 240


def command(tmp_path, *extra):
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    return [sys.executable, "-m", "deltaprop", "tune", *ARGS, "--space", str(space),
            "--out", str(tmp_path / "out"), *extra]  # fmt: skip


def load(tmp_path):
    path = str(tmp_path / "out" / "study.journal")
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    return optuna.load_study(study_name="deltaprop", storage=storage)


def wait_for(tmp_path, proc, test, deadline=90.0):
    """Poll the study until ``test(trials)`` gives something; fail if the command ended."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the command ended first ({proc.returncode}): {out}\n{err}")
        if (tmp_path / "out" / "study.journal").exists():
            try:
                found = test(load(tmp_path).get_trials(deepcopy=False))
            except (KeyError, ValueError):  # the study is not created yet
                found = None
            if found:
                return found
        time.sleep(0.1)
    proc.kill()
    pytest.fail("timed out waiting for the study")


def running_in(pid_other_than):
    def test(trials):
        for t in trials:
            pid = (t.user_attrs.get("worker") or {}).get("pid")
            # params too: killed before its point is drawn, a trial has nothing to run again
            if t.state.name == "RUNNING" and pid and pid != pid_other_than and t.params:
                return t.number, pid
        return None

    return test


def states(tmp_path):
    return [t.state.name for t in load(tmp_path).get_trials(deepcopy=False)]


def csv_rows(tmp_path):
    with open(tmp_path / "out" / "trials.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_sigkill_of_a_worker_mid_trial_loses_no_trial(tmp_path):
    # Two commands share the study (as on two machines, or two terminals); the second is
    # killed with SIGKILL in the middle of a trial. The first fails that trial and runs it
    # again, and nothing is left RUNNING.
    # Started together, so that both are up before the trials run out.
    argv = command(tmp_path, "--trials", "6")
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    number, pid = wait_for(tmp_path, first, running_in(first.pid))
    assert pid == second.pid
    os.kill(pid, signal.SIGKILL)
    second.communicate(timeout=TIMEOUT)
    out, err = first.communicate(timeout=TIMEOUT)
    assert first.returncode == 0, err
    trials = load(tmp_path).get_trials(deepcopy=False)
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    killed = trials[number]
    assert killed.state.name == "FAIL"
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == number]
    assert len(retry) == 1 and retry[0].state.name == "COMPLETE"
    assert retry[0].params == killed.params  # the same point, run again
    assert budget_used(trials) >= 6 and sum(t.state.name == "COMPLETE" for t in trials) >= 6
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    row = csv_rows(tmp_path)[number]
    assert "worker stopped mid-trial" in row["reason"]
    assert f"trial {retry[0].number}" in row["reason"]


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_study_resumes(tmp_path):
    proc = subprocess.Popen(command(tmp_path, "--trials", "5", "--workers", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_for(tmp_path, proc, lambda ts: any(t.state.name == "COMPLETE" for t in ts)
             and any(t.state.name == "RUNNING" for t in ts))  # fmt: skip
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "wrote trials.csv" in out
    rows = csv_rows(tmp_path)
    assert any(r["state"] == "COMPLETE" for r in rows)
    assert "RUNNING" not in states(tmp_path)
    interrupted = [r for r in rows if r["state"] == "FAIL"]
    assert interrupted and all(r["reason"].startswith("interrupted") for r in interrupted)
    assert interrupted and all("queued again" in r["reason"] for r in interrupted)
    # the same command again: the queued trials first, then the rest
    done = subprocess.run(command(tmp_path, "--trials", "5", "--workers", "2"),
                          capture_output=True, text=True, timeout=TIMEOUT)  # fmt: skip
    assert done.returncode == 0, done.stderr
    trials = load(tmp_path).get_trials(deepcopy=False)
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    assert budget_used(trials) >= 5
    assert (tmp_path / "out" / "best.toml").is_file()


@pytest.mark.slow
def test_a_killed_single_process_study_resumes(tmp_path):
    proc = subprocess.Popen(command(tmp_path, "--trials", "3"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    number, _ = wait_for(tmp_path, proc, running_in(None))
    proc.kill()
    proc.communicate(timeout=TIMEOUT)
    assert load(tmp_path).get_trials(deepcopy=False)[number].state.name == "RUNNING"
    done = subprocess.run(command(tmp_path, "--trials", "3"), capture_output=True, text=True,
                          timeout=TIMEOUT)  # fmt: skip
    assert done.returncode == 0, done.stderr
    trials = load(tmp_path).get_trials(deepcopy=False)
    assert trials[number].state.name == "FAIL"
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    assert sum(t.state.name == "COMPLETE" for t in trials) == 3


def test_reap_fails_and_requeues_the_trial_of_a_dead_worker(tmp_path):
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "j.journal"))
    )
    study = optuna.create_study(storage=storage, study_name="x")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = study.ask({"lr": optuna.distributions.FloatDistribution(0.01, 0.1)})
    dead.set_user_attr("worker", {**worker_tag(), "pid": gone.pid, "start": "1"})
    alive = study.ask({"lr": optuna.distributions.FloatDistribution(0.01, 0.1)})
    alive.set_user_attr("worker", worker_tag())
    elsewhere = study.ask()
    elsewhere.set_user_attr("worker", {"host": "another-machine", "pid": 1, "start": "1"})
    assert reap(study) == [dead.number]
    trials = study.get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["FAIL", "RUNNING", "RUNNING", "WAITING"]
    assert trials[3].params == trials[0].params
    assert budget_used(trials) == 2  # the failed one is replaced by its retry, still queued
    assert reap(study) == []  # once only
