"""Figures and pages are rendered in memory and written atomically: a render that fails
part-way leaves an existing file as it was and no temporary behind."""

from __future__ import annotations

import os

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.diagnostics import memo
from deltaprop.errors import ConfigError
from deltaprop.viz import plot_history
from deltaprop.viz.output import write_output

pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402


def _half_writing_savefig(self, target, *args, **kwargs):
    """What a crash or a full disk does to a direct savefig: some bytes, then an error."""
    if isinstance(target, (str, os.PathLike)):
        with open(target, "wb") as fh:
            fh.write(b"\x89PNG half")
    else:
        target.write(b"\x89PNG half")
    raise OSError(28, "No space left on device")


def _only(folder):
    return sorted(os.listdir(folder))


def test_failed_plot_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "curves.png"
    path.write_bytes(b"old")
    monkeypatch.setattr(Figure, "savefig", _half_writing_savefig)
    with pytest.raises(OSError):
        plot_history({"loss": [1.0, 0.5]}, path=str(path))
    assert path.read_bytes() == b"old"
    assert _only(tmp_path) == ["curves.png"]


def test_failed_memo_plot_leaves_no_file(tmp_path, monkeypatch):
    path = tmp_path / "memo.png"
    monkeypatch.setattr(Figure, "savefig", _half_writing_savefig)
    with pytest.raises(OSError):
        memo.memo_table(max_depth=2, widths=(2,), plot=str(path), naive_limit=100)
    assert _only(tmp_path) == []


def test_plot_writes_a_whole_png(tmp_path):
    path = tmp_path / "curves.png"
    plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}, path=str(path))
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert _only(tmp_path) == ["curves.png"]


def test_write_output_names_the_path_and_keeps_folders(tmp_path):
    with pytest.raises(ConfigError, match="folder does not exist"):
        write_output(tmp_path / "missing" / "a.png", lambda: b"x")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        write_output(tmp_path / "dir.png", lambda: b"x")


def test_backprop_page_is_written_whole(tmp_path):
    dp.seed(0)
    path = tmp_path / "page.html"
    model = dp.nn.Sequential(dp.nn.Linear(2, 3), dp.nn.Tanh(), dp.nn.Linear(3, 2))
    dp.viz.backprop_page(model, np.array([0.5, -0.5]), 1, str(path))
    text = path.read_text(encoding="utf-8")
    assert text.lstrip().lower().startswith("<!doctype html>")
    assert text.rstrip().endswith("</html>")
    assert _only(tmp_path) == ["page.html"]
