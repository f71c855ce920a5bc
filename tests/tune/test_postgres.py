"""Two workers against a real PostgreSQL server: no trial lost, none duplicated.

The fixture starts Debian's PostgreSQL (``initdb``/``postgres`` on PATH or under
/usr/lib/postgresql/*/bin; ``.ci/run`` installs the package) in a temporary directory,
listening only on a unix socket there (``listen_addresses = ''``). The server refuses to run
as root, so as root it runs as the ``postgres`` system user the package creates. It is
stopped (the server this fixture started, by its process id) and removed at teardown. The
test skips, with the reason, where no server binary or no such user exists.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

optuna = pytest.importorskip("optuna")
pytest.importorskip("psycopg2", reason="the PostgreSQL driver (psycopg2-binary) is not installed")


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _as_user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as: None when not root (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user to run the server as")
    return entry.pw_uid, entry.pw_gid


def _demote(ids):
    if ids is None:
        return None

    def run():
        os.setgid(ids[1])
        os.setuid(ids[0])

    return run


@pytest.fixture
def postgres_url():
    initdb, postgres = _binary("initdb"), _binary("postgres")
    if not initdb or not postgres:
        pytest.skip("no PostgreSQL server binary (initdb, postgres): apt-get install postgresql")
    ids = _as_user()
    root = tempfile.mkdtemp(prefix="deltaprop-pg-")
    data, sock = os.path.join(root, "data"), os.path.join(root, "sock")
    os.mkdir(sock)
    if ids is not None:
        for path in (root, sock):
            os.chown(path, *ids)
    os.chmod(root, 0o700)
    server = None
    try:
        subprocess.run([initdb, "-D", data, "-U", "tune", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True, timeout=120,
                       preexec_fn=_demote(ids))  # fmt: skip
        server = subprocess.Popen(
            [postgres, "-D", data, "-k", sock, "-c", "listen_addresses=", "-c", "fsync=off",
             "-p", "5432"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_demote(ids),
        )  # fmt: skip
        url = f"postgresql://tune@/postgres?host={sock}"
        deadline = time.monotonic() + 60
        while not os.path.exists(os.path.join(sock, ".s.PGSQL.5432")):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"PostgreSQL did not start: {server.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
        time.sleep(0.3)  # the socket file comes just before the server accepts
        yield url
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGINT)  # "fast" shutdown
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_two_workers_on_postgresql_lose_and_duplicate_nothing(tmp_path, postgres_url):
    space = tmp_path / "space.toml"
    space.write_text('[space]\nlr = { low = 0.005, high = 0.1, log = true }\n'
                     'units = { low = 8, high = 32 }\n')  # fmt: skip
    # two workers: two commands on the study, as on two machines (each one process)
    target = 8
    argv = [sys.executable, "-m", "deltaprop", "tune", "--dataset", "iris", "--epochs", "40",
            "--strategy", "random", "--trials", str(target), "--pruner", "none",
            "--storage", postgres_url, "--space", str(space), "--no-retrain"]  # fmt: skip
    url = postgres_url.replace("postgresql://", "postgresql+psycopg2://")

    def start(i):
        return subprocess.Popen([*argv, "--out", str(tmp_path / f"out{i}")], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip

    # the tables and the study made first, then both commands at once (both up in time)
    optuna.create_study(storage=url, study_name="deltaprop", direction="maximize")
    procs = [start(0), start(1)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    # (the commands were given postgresql://, and name psycopg2 for SQLAlchemy themselves)
    study = optuna.load_study(study_name="deltaprop", storage=url)
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials)))  # none lost, none twice
    assert all(t.state.name == "COMPLETE" for t in trials)
    # the study's budget, give or take the last trials the two workers started together
    assert target <= len(trials) <= target + 1  # (two may start the last together)
    points = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(points)) == len(points)  # no configuration run twice
    pids = {t.user_attrs["worker"]["pid"] for t in trials}
    assert len(pids) == 2  # both workers took part
    for out, _ in outputs:  # each command's trials.csv holds the whole study
        assert (tmp_path / "out0" / "trials.csv").is_file() and "trial " in out
    assert not (tmp_path / "out0" / "study.journal").exists()
