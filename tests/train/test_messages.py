"""The one channel for warnings and callback lines (deltaprop.report): ``quiet`` silences it,
``cross_validate(..., verbose=False)`` prints nothing, the CLI shows warnings as one line."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import report
from deltaprop.data.split import train_test_split


def early_stopping_trainer(seed=0):
    dp.seed(seed)
    model = dp.nn.mlp(2, [8], 2)
    # patience 1 on a tiny set: it stops (and restores) within a few epochs
    return dp.Trainer(model, "cross_entropy", dp.optim.SGD(model.parameters(), lr=0.5),
                      callbacks=[dp.callbacks.EarlyStopping(patience=1)])  # fmt: skip


def blobs(n=40):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2)).astype(np.float32)
    # labels unrelated to X: the validation loss soon rises and EarlyStopping stops
    return X, rng.integers(0, 2, size=n)


def test_split_warning_is_a_deltaprop_warning_and_quiet_silences_it():
    X, y = np.zeros((4, 1)), np.array([0, 1, 1, 0])
    with pytest.warns(report.DeltapropWarning, match="cannot stratify"):
        train_test_split(X, y, test_size=0.2, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with report.quiet():
            train_test_split(X, y, test_size=0.2, seed=0)


def test_note_is_printed_unless_quiet(capsys):
    report.note("said")
    with report.quiet():
        report.note("hidden")
        with report.quiet():
            pass
        report.note("still hidden")  # nested blocks: the outer one is still open
    with report.quiet(False):
        report.note("shown")
    assert capsys.readouterr().out == "said\nshown\n"


def test_quiet_all_warnings_silences_other_warnings_too():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with report.quiet(all_warnings=True):
            warnings.warn("scikit-learn says", UserWarning, stacklevel=1)
        with pytest.raises(UserWarning), report.quiet():
            warnings.warn("scikit-learn says", UserWarning, stacklevel=1)


def test_terminal_warnings_are_one_line_without_source():
    stream = io.StringIO()
    with report.terminal_warnings(stream):
        report.warn("the target looks like a class label")
        warnings.warn("from somebody else", UserWarning, stacklevel=1)
    assert stream.getvalue() == (
        "deltaprop: warning: the target looks like a class label\n"
        "deltaprop: warning: from somebody else\n"
    )


def test_early_stopping_lines_go_through_the_channel(capsys):
    X, y = blobs()
    trainer = early_stopping_trainer()
    with report.quiet():
        trainer.fit(X, y, epochs=50, validation_split=0.25, verbose=False)
    assert capsys.readouterr().out == ""
    early_stopping_trainer().fit(X, y, epochs=50, validation_split=0.25, verbose=False)
    assert "EarlyStopping" in capsys.readouterr().out


def test_cross_validate_verbose_false_prints_nothing(capsys):
    X, y = blobs()
    fit = {"epochs": 50, "validation_split": 0.25}
    dp.cross_validate(early_stopping_trainer, X, y, k=2, seed=0, fit_kwargs=fit, verbose=False)
    assert capsys.readouterr().out == ""
    # verbose=False in fit_kwargs (what the recipe passes) is quiet too
    dp.cross_validate(early_stopping_trainer, X, y, k=2, seed=0,
                      fit_kwargs={**fit, "verbose": False})  # fmt: skip
    assert capsys.readouterr().out == ""
    dp.cross_validate(early_stopping_trainer, X, y, k=2, seed=0, fit_kwargs=fit)
    assert "EarlyStopping" in capsys.readouterr().out


def test_cross_validate_verbose_is_checked():
    X, y = blobs()
    with pytest.raises(dp.ConfigError, match="verbose: expected"):
        dp.cross_validate(early_stopping_trainer, X, y, k=2, verbose="no")


def test_gpu_message_names_something_installable(monkeypatch):
    from deltaprop import backend

    monkeypatch.setattr(backend, "_cp", None)
    with pytest.raises(dp.ConfigError, match="cupy-cuda12x") as exc:
        backend.to_device(np.zeros(2), "gpu")
    # the message sends users to the [gpu] extra, which pyproject must then have
    assert "deltaprop[gpu]" in str(exc.value)
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '\ngpu = ["cupy-cuda12x"]' in pyproject
