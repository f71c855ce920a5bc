"""Where a study lives, and what happens to the trials of a worker that stopped mid-trial.

- Default: Optuna's journal file (``study.journal`` in the output folder; workers on one
  machine share it through file locks).
- ``storage="sqlite:///study.db"``: a SQLite file (one machine);
  ``"postgresql://user@host/db"``: a PostgreSQL server, for workers on several machines.
  Relational storages keep a heartbeat: a trial whose worker has not been heard from for
  ``grace`` seconds is failed by the next worker to start a trial (Optuna's
  ``fail_stale_trials``).
- Every trial records its worker (host, process id, start time). A RUNNING trial whose
  worker on this machine is gone (SIGKILL, power cut on resume) is failed at once by
  :func:`reap`, on any storage.
- A trial failed that way, or interrupted with Ctrl-C, is queued again once with the same
  parameters (Optuna's retry callback), so no grid point and no budget is lost; the failed
  one stays in the record with its reason.
"""

from __future__ import annotations

import os
import socket
import warnings
from typing import Any

from ..errors import ConfigError
from .optuna_import import optuna_module

JOURNAL = "study.journal"
#: Relational storages: seconds between heartbeats, and silence after which a trial is stale.
HEARTBEAT, GRACE = 10, 30
INTERRUPTED = "interrupted"


def open_storage(url: str | None, out: str, heartbeat: int = HEARTBEAT, grace: int = GRACE) -> Any:
    """The study's storage: the journal file in ``out`` (None) or a database URL.

    Raises:
        ConfigError: a URL that is not a database URL, a driver that is not installed, or a
            server/file that cannot be reached (the message names ``--storage`` and hides
            any password).
    """
    optuna = optuna_module()
    if url is None:
        path = os.path.join(out, JOURNAL)
        backend = optuna.storages.journal.JournalFileBackend(path)
        return optuna.storages.JournalStorage(backend)
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(
            f"storage: expected a database URL such as sqlite:///study.db or "
            f"postgresql://user@host/dbname, got {url!r}"
        )
    url = _with_driver(url)
    callback = retry_callback()
    params = _callback_keyword(optuna)
    with warnings.catch_warnings():  # heartbeats and the retry callback are "experimental"
        warnings.simplefilter("ignore")
        try:
            return optuna.storages.RDBStorage(
                url, heartbeat_interval=heartbeat, grace_period=grace, **{params: callback}
            )
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"storage: the database driver {exc.name!r} is not installed (PostgreSQL: "
                "pip install psycopg2-binary, or deltaprop[tune])"
            ) from None
        except Exception as exc:  # SQLAlchemy's errors: a bad URL, a server that is not there
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"storage: cannot open {hide_password(url)}: {first}") from None


def _with_driver(url: str) -> str:
    """``postgresql://`` names no driver, and SQLAlchemy 2.1 takes psycopg 3 for it; with only
    psycopg2 installed (the driver the [tune] extra brings), name that one."""
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2"):
        return "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


def hide_password(url: str) -> str:
    """``postgresql://me:secret@host/db`` -> ``postgresql://me:***@host/db``."""
    scheme, _, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if at and ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}://{creds}{at}{host}"


def _callback_keyword(optuna: Any) -> str:
    import inspect

    names = inspect.signature(optuna.storages.RDBStorage).parameters
    return (
        "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in names
        else "failed_trial_callback"
    )  # fmt: skip


def retry_callback(max_retry: int | None = 1) -> Any:
    """Optuna's callback that queues a failed trial again with its parameters (at most
    ``max_retry`` times in a row; None: always)."""
    optuna = optuna_module()
    cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if cls is None:  # Optuna 4: the older name
            cls = optuna.storages.RetryFailedTrialCallback
        return cls(max_retry=max_retry)


def retried(trials: list[Any]) -> dict[int, int]:
    """Failed trial number -> the number of the trial that retried it."""
    out = {}
    for t in trials:
        history = t.system_attrs.get("retry_history", [])
        if history:
            out[history[-1]] = t.number
    return out


def budget_used(trials: list[Any]) -> int:
    """Trials that count against ``--trials``: all but the failed ones queued again (their
    retry counts instead) and those still waiting in the queue."""
    state = optuna_module().trial.TrialState
    again = retried(trials)
    return sum(
        1 for t in trials
        if t.state != state.WAITING and not (t.state == state.FAIL and t.number in again)
    )  # fmt: skip


# --- workers ---------------------------------------------------------------------------------
def worker_tag() -> dict[str, Any]:
    """This process, as a trial records it: host, process id and the process's start time
    (so that a new process that reused the id is not taken for the old one)."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": _start_time(pid)}


def _start_time(pid: int) -> str | None:
    try:  # Linux: field 22 of /proc/PID/stat, after the parenthesized command name
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(tag: dict[str, Any]) -> bool:
    pid = tag.get("pid")
    if not isinstance(pid, int):
        return True  # not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a process of another user holds the id: it is running
    start = _start_time(pid)
    return start is None or tag.get("start") is None or start == tag.get("start")


def reap(study: Any) -> list[int]:
    """Fail the RUNNING trials whose worker on this machine has gone, and those whose
    heartbeat has stopped (relational storages), queueing each again once. Returns the
    numbers failed. (A trial interrupted with Ctrl-C queues itself again, in the objective.)"""
    optuna = optuna_module()
    state = optuna.trial.TrialState
    host = socket.gethostname()
    failed = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optuna.storages.fail_stale_trials(study)  # a no-op on the journal file
        for t in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
            tag = t.user_attrs.get("worker") or {}
            if tag.get("host") != host or _alive(tag):
                continue
            try:
                study.tell(t.number, state=state.FAIL)
            except Exception:  # another process failed it first
                continue
            failed.append(t.number)
            retry_callback()(study, t)
    return failed
