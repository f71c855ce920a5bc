"""The one NumPy/CuPy seam.

Only this module knows CuPy exists. Everything else asks ``xp_of(array)`` for the array module of
its inputs, so the same op code runs on both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import strict_backend as _strict
from .checks import check_int
from .errors import ConfigError

try:  # CuPy is optional (installed by the user, per CUDA version); absent on CPU-only machines.
    import cupy as _cp  # type: ignore[import-not-found]
except Exception:  # pragma: no cover - depends on the machine
    _cp = None

_DEFAULT_DTYPE = np.float32
# True once arrays other than NumPy's can exist: CuPy imported, or the strict device used
# (StrictArrays are made through to_device / place, which set it).
_OTHER_ARRAYS = _cp is not None
_FLOAT_DTYPES = {"float32": np.float32, "float64": np.float64}


def xp_of(array: Any):
    """Return the array module (numpy or cupy, or the strict test backend's) of ``array``."""
    # The hot path (every op asks): one global test while only NumPy arrays can exist.
    if _OTHER_ARRAYS:
        if _cp is not None and isinstance(array, _cp.ndarray):
            return _cp
        if type(array) is _strict.StrictArray:
            return _strict.xp
    return np


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one device."""
    if _cp is None:
        return False
    try:
        return _cp.cuda.runtime.getDeviceCount() > 0
    except Exception:  # pragma: no cover - depends on the machine
        return False


# --- devices -------------------------------------------------------------------------------
#: Device names: "gpu" is another name of "cuda"; "strict" is the strict host backend
#: (:mod:`deltaprop.strict_backend`), CuPy's behaviour on NumPy, for tests without a GPU.
DEVICES = ("cpu", "cuda", "gpu", "strict")
_GPU_EXTRA = (
    "pip install deltaprop[gpu] (cupy-cuda12x, CuPy for CUDA 12; for CUDA 11 install "
    "cupy-cuda11x instead)"
)


class Device:
    """A checked device: ``dp.device("cuda")``. ``str(d)`` is its name ("cpu", "cuda",
    "strict"); ``d.xp`` its array module. Pass it (or the name) to ``model.to(...)``,
    ``Trainer(device=...)``, :func:`to_device`."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def xp(self):
        return {"cpu": np, "cuda": _cp, "strict": _strict.xp}[self.name]

    def __eq__(self, other: object) -> bool:
        other = other.name if isinstance(other, Device) else other
        return other == self.name or (self.name == "cuda" and other == "gpu")

    def __hash__(self) -> int:
        return hash(self.name)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"device({self.name!r})"


def device(name: Any = "cpu", option: str = "device") -> Device:
    """The device ``name`` ("cpu", "cuda" or "gpu", "strict"), checked: "cuda" needs CuPy and
    a CUDA device, else a ConfigError naming ``option`` and what to install."""
    if isinstance(name, Device):
        return name
    if not isinstance(name, str) or name.lower() not in DEVICES:
        raise ConfigError(f"{option}: expected one of {list(DEVICES)}, got {name!r}")
    name = "cuda" if name.lower() == "gpu" else name.lower()
    if name == "cuda":
        if _cp is None:
            raise ConfigError(f"{option}: 'cuda' needs CuPy, which is not installed: {_GPU_EXTRA}")
        if not gpu_available():
            raise ConfigError(
                f"{option}: 'cuda' needs a CUDA GPU, and CuPy sees none on this machine "
                "(check the driver and CUDA_VISIBLE_DEVICES), or use 'cpu'"
            )
    return Device(name)


def to_device(array: Any, device_: Any):
    """Move an array to a device (a :class:`Device` or its name); a no-op when it is there."""
    target = device(device_).name
    if target == "cpu":
        return to_numpy(array)
    if target == "strict":
        global _OTHER_ARRAYS
        _OTHER_ARRAYS = True
        return array if isinstance(array, _strict.StrictArray) else _strict.asarray(to_numpy(array))
    return _cp.asarray(to_numpy(array) if isinstance(array, _strict.StrictArray) else array)


def to_numpy(array: Any) -> np.ndarray:
    """Return a NumPy array, copying from the GPU (or the strict device) when needed."""
    if _cp is not None and isinstance(array, _cp.ndarray):
        return _cp.asnumpy(array)
    if isinstance(array, _strict.StrictArray):
        return array.get()
    return np.asarray(array)


def device_of(array: Any) -> str:
    """ "cpu", "cuda" or "strict"."""
    if isinstance(array, _strict.StrictArray):
        return "strict"
    return "cuda" if xp_of(array) is not np else "cpu"


_DEFAULT_DEVICE: Device | None = None  # None: new tensors stay where their data is (host)


def set_default_device(device_: Any) -> None:
    """New tensors (``dp.tensor``, parameters) are made on this device; None or "cpu" for the
    host (the default). The strict tests use it to run existing tests on the strict device."""
    global _DEFAULT_DEVICE
    d = None if device_ is None else device(device_)
    _DEFAULT_DEVICE = None if d is None or d.name == "cpu" else d


def get_default_device() -> Device:
    return _DEFAULT_DEVICE if _DEFAULT_DEVICE is not None else Device("cpu")


def place(array: Any):
    """``array`` on the default device (only host arrays move; the default is the host)."""
    if _DEFAULT_DEVICE is None or not isinstance(array, np.ndarray):
        return array
    return to_device(array, _DEFAULT_DEVICE)


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
    if isinstance(array, _strict.StrictArray):
        return _strict.asarray(values)
    return values
