"""Optuna, imported when a search starts (the ``[tune]`` extra): a ConfigError that names
the extra when it is missing, and Optuna's own log lines kept to errors (deltaprop prints
one line per trial itself)."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError

MIN_VERSION = (4, 0)


def optuna_module() -> Any:
    """The ``optuna`` module; ConfigError when it is not installed or older than 4.0."""
    try:
        import optuna
    except ImportError:
        raise ConfigError(
            "tune: hyperparameter search needs Optuna: pip install deltaprop[tune]"
        ) from None
    major_minor = tuple(int(p) for p in optuna.__version__.split(".")[:2] if p.isdigit())
    if major_minor < MIN_VERSION:
        raise ConfigError(
            f"tune: needs Optuna >= 4.0, found {optuna.__version__}: pip install -U deltaprop[tune]"
        )
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna
