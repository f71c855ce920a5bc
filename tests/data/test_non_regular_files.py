"""A FIFO, a folder or a device given as a data file is refused before it is opened (issue 9,
item 3): reading a FIFO blocks until a writer comes, so ``deltaprop train --dataset fifo.csv``
used to hang forever. Every call runs in a thread with a time limit, and a writer is attached
to release a reader that blocked anyway, so a regression fails the test instead of hanging."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from deltaprop.cli import main
from deltaprop.data import Preprocessor, load_idx
from deltaprop.data.files import read_table
from deltaprop.data.npz import read_npz
from deltaprop.errors import DataError
from deltaprop.recipe import Recipe, load_data
from deltaprop.recipe.predict import read_columns

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")


def outcome(fn, fifo: str | None = None, limit: float = 10.0):
    """What ``fn()`` raised or returned, or a failure if it was still blocked after ``limit``
    seconds (then a writer opens and closes ``fifo`` so the blocked reader sees EOF)."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 (handed to the test)
            box["value"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(limit)
    if t.is_alive() and fifo is not None:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # releases the reader
        t.join(limit)
    assert not t.is_alive() and "value" in box, f"blocked on {fifo}"
    return box["value"]


@pytest.fixture
def fifo(tmp_path):
    def make(name: str) -> str:
        path = str(tmp_path / name)
        os.mkfifo(path)
        return path

    return make


@pytest.mark.parametrize(
    "name, read",
    [
        ("d.csv", read_table),
        ("d.npz", lambda p: read_npz(p, ["X", "y"])),
        ("images-idx3-ubyte", load_idx),
        ("labels.idx1-ubyte.gz", load_idx),
    ],
)
def test_every_loader_refuses_a_fifo(fifo, name, read):
    path = fifo(name)
    got = outcome(lambda: read(path), path)
    assert isinstance(got, DataError), got
    assert str(got) == f"{path}: is a FIFO (named pipe); expected a regular data file"


def test_folders_and_devices_are_refused(tmp_path):
    # /dev/null, a character device like /dev/zero (which never ends), but harmless if read
    for path, why in [(str(tmp_path), "is a folder"), ("/dev/null", "not a regular file")]:
        if not os.path.exists(path):
            continue
        for read in (read_table, load_idx, lambda p: read_npz(p, ["X"])):
            got = outcome(lambda read=read, path=path: read(path))
            assert isinstance(got, DataError) and why in str(got), got


def test_train_dataset_fifo_is_an_error_not_a_hang(fifo, capsys):
    path = fifo("data.csv")
    got = outcome(lambda: load_data(Recipe(dataset=path)), path)
    assert isinstance(got, DataError) and "is a FIFO (named pipe)" in str(got), got
    assert outcome(lambda: main(["train", "--dataset", path]), path) == 2
    assert f"--dataset: {path}: is a FIFO" in capsys.readouterr().err


def test_predict_input_fifo_is_an_error_not_a_hang(fifo):
    path = fifo("new.csv")
    prep = Preprocessor("classification").fit(np.zeros((4, 1)), ["a", "b", "a", "b"], ["x"])
    got = outcome(lambda: read_columns(prep, {}, path), path)
    assert isinstance(got, DataError) and "is a FIFO (named pipe)" in str(got), got
