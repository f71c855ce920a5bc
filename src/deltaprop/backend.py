"""The one NumPy/CuPy seam.

Only this module knows CuPy exists. Everything else asks ``xp_of(array)`` for the array module of
its inputs, so the same op code runs on both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .checks import check_int
from .errors import ConfigError

try:  # CuPy is optional (installed by the user, per CUDA version); absent on CPU-only machines.
    import cupy as _cp  # type: ignore[import-not-found]
except Exception:  # pragma: no cover - depends on the machine
    _cp = None

_DEFAULT_DTYPE = np.float32
_FLOAT_DTYPES = {"float32": np.float32, "float64": np.float64}


def xp_of(array: Any):
    """Return the array module (numpy or cupy) that owns ``array``."""
    if _cp is not None and isinstance(array, _cp.ndarray):
        return _cp
    return np


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one device."""
    if _cp is None:
        return False
    try:
        return _cp.cuda.runtime.getDeviceCount() > 0
    except Exception:  # pragma: no cover - depends on the machine
        return False


def to_device(array: Any, device: str):
    """Move an array to ``"cpu"`` or ``"gpu"``; a no-op when it is already there."""
    if device == "cpu":
        return to_numpy(array)
    if device in ("gpu", "cuda"):
        if _cp is None:
            # No deltaprop extra installs CuPy: its wheel depends on the CUDA version.
            raise ConfigError(
                "device='gpu' needs CuPy, which is not installed: install the CuPy build for "
                "your CUDA version (pip install cupy-cuda12x for CUDA 12, cupy-cuda11x for "
                "CUDA 11)"
            )
        return _cp.asarray(array)
    raise ConfigError(f"device: expected 'cpu' or 'gpu', got {device!r}")


def to_numpy(array: Any) -> np.ndarray:
    """Return a NumPy array, copying from the GPU when needed."""
    if _cp is not None and isinstance(array, _cp.ndarray):
        return _cp.asnumpy(array)
    return np.asarray(array)


def device_of(array: Any) -> str:
    return "gpu" if xp_of(array) is not np else "cpu"


def default_dtype():
    """The floating dtype new tensors get when none is asked for (float32 unless changed)."""
    return _DEFAULT_DTYPE


def set_default_dtype(dtype) -> None:
    """Set the default floating dtype: ``"float32"`` or ``"float64"``."""
    global _DEFAULT_DTYPE
    key = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if key not in _FLOAT_DTYPES:
        raise ConfigError(f"dtype: expected one of {sorted(_FLOAT_DTYPES)}, got {dtype!r}")
    _DEFAULT_DTYPE = _FLOAT_DTYPES[key]


# --- random numbers -----------------------------------------------------------------------------
# One library-wide generator, reseeded by dp.seed(n). Library code draws from it (or from a
# generator passed in); it never touches numpy's global state.
_RNG = np.random.default_rng()
_SEED: int | None = None


def seed(n: int) -> None:
    """Make a whole run reproducible: reseed deltaprop's generator (and CuPy's, if present)."""
    global _RNG, _SEED
    _SEED = check_int(n, "seed", minimum=0)
    _RNG = np.random.default_rng(_SEED)
    if _cp is not None:  # pragma: no cover - GPU only
        try:
            _cp.random.seed(_SEED)
        except Exception:
            pass


def rng() -> np.random.Generator:
    """deltaprop's generator (reseeded by :func:`seed`)."""
    return _RNG


def set_rng(generator: np.random.Generator) -> None:
    """Make ``generator`` deltaprop's generator (a resumed training state puts its own back)."""
    global _RNG
    if not isinstance(generator, np.random.Generator):
        raise ConfigError(f"generator: expected a numpy Generator, got {type(generator).__name__}")
    _RNG = generator


def spawn_rng(seed_value: int | None = None) -> np.random.Generator:
    """A fresh generator: seeded from ``seed_value`` if given, else drawn from :func:`rng`."""
    if seed_value is not None:
        return np.random.default_rng(seed_value)
    return np.random.default_rng(_RNG.integers(0, 2**63 - 1))


def erf(array):
    """The error function on either array library (SciPy's / CuPy's special functions)."""
    # Imported on first use: scipy.special alone costs ~0.4 s, more than all of deltaprop, and
    # only gelu needs it (cupyx is the optional GPU extra).
    if _cp is not None and isinstance(array, _cp.ndarray):  # pragma: no cover - GPU only
        from cupyx.scipy.special import erf as _erf

        return _erf(array)
    from scipy.special import erf as _erf

    return _erf(array)


def uniform_like(array, generator: np.random.Generator | None = None):
    """Uniform [0, 1) numbers of ``array``'s shape, dtype and device, from deltaprop's generator
    (or ``generator``), so dropout masks follow ``dp.seed``."""
    gen = generator if generator is not None else _RNG
    values = gen.random(array.shape, dtype=np.float64 if array.dtype == np.float64 else np.float32)
    if _cp is not None and isinstance(array, _cp.ndarray):  # pragma: no cover - GPU only
        return _cp.asarray(values)
    return values
