"""Fuzz targets for data files: CSV and NPZ, read by the library loader and by the CLI's.

``csv`` / ``npz``          ``dp.data.load_dataset(path)``. A changed data file may load as
                           changed data, so besides "identical" (the pristine file's Dataset) a
                           load is "accepted" when it is faithful to the file: every feature
                           value equals the file's number rounded to float32 (finite: a value
                           beyond float32's range must be refused, issue 9 item 6), labels form
                           the file's classes (one class per distinct label, none invented) or
                           equal the file's targets. The file is read independently (Python's
                           csv and float(); NumPy's np.load) to know what it says.
``csv-cli`` / ``npz-cli``  the loader ``deltaprop train --dataset`` uses
                           (``deltaprop.recipe.build.load_data``: split, preprocessing). Accepted
                           when every array is finite, the rows add up, the class count is at
                           least 2 and at most the rows, and no feature (or regression target)
                           value beyond float32's range got through.

Each trial draws one of three pristine files (text labels, integer labels, a regression
target for CSV; plain, compressed with names, images for NPZ) and one mutation.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from typing import Any

import mutate_csv
import mutate_npz
import numpy as np
from fuzzcore import Mutant, Target, Wrong

import deltaprop as dp
from deltaprop.recipe.build import load_data


def _csv_variants() -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    out = {}
    for kind in ("text", "int", "regression"):
        lines = ["f1,f2,f3,f4,label"]
        for i in range(40):
            x = rng.normal(size=4)
            label = {"text": "abc"[i % 3], "int": str(i % 3), "regression": f"{x[0] * 50:.3f}"}
            lines.append(",".join(f"{v:.4f}" for v in x) + "," + label[kind])
        out[kind] = ("\n".join(lines) + "\n").encode()
    return out


def _npz_variants() -> dict[str, bytes]:
    rng = np.random.default_rng(2)
    y = np.arange(40) % 3
    X = rng.normal(size=(40, 4)).astype(np.float32)
    out = {}
    for kind in ("plain", "compressed", "images"):
        buf = io.BytesIO()
        if kind == "plain":
            np.savez(buf, X=X, y=y.astype(np.int64))
        elif kind == "compressed":
            np.savez_compressed(
                buf,
                X=X,
                y=y.astype(np.int64),
                feature_names=np.array(["a", "b", "c", "d"]),
                target_names=np.array(["x", "y", "z"]),
            )
        else:
            np.savez(buf, X=X.reshape(40, 2, 2).astype(np.float64), y=y.astype(np.int32))
        out[kind] = buf.getvalue()
    return out


def _arrays(*arrays: Any) -> tuple:
    return tuple((a.dtype.str, a.shape, a.tobytes()) for a in map(np.ascontiguousarray, arrays))


def dataset_summary(ds: Any) -> tuple:
    return (*_arrays(ds.X, ds.y), ds.task, ds.n_classes, ds.feature_names, ds.target_names)


def run_data_summary(rd: Any) -> tuple:
    return (*_arrays(rd.X_train, rd.X_test, rd.y_train, rd.y_test), rd.task, rd.n_out)


def overflows32(values: np.ndarray) -> np.ndarray:
    """Where finite float64 ``values`` become infinite as float32 (beyond its range)."""
    with np.errstate(over="ignore"):
        return np.isfinite(values) & ~np.isfinite(values.astype(np.float32))


def _float32(values: np.ndarray, what: str) -> np.ndarray:
    """``values`` (float64) as float32; Wrong when a value is not finite in either type."""
    if not np.all(np.isfinite(values)):
        raise Wrong(f"non-finite {what} loaded")
    if np.any(overflows32(values)):
        raise Wrong(f"{what} beyond float32's range loaded", f"{values[overflows32(values)][:1]}")
    return values.astype(np.float32)


def check_labels(ds: Any, labels: list) -> None:
    """The Dataset's classes are the distinct ``labels`` (one each), or its targets equal them."""
    if ds.task == "classification":
        distinct = sorted(set(labels), key=repr)
        if ds.n_classes != len(distinct):
            raise Wrong("class count differs from the labels", f"{ds.n_classes} vs {len(distinct)}")
        pairs = set(zip(labels, ds.y.tolist()))
        if len(pairs) != len(distinct) or len({y for _, y in pairs}) != len(distinct):
            raise Wrong("labels mapped to the wrong classes")
        return
    try:
        target = np.array([float(v) for v in labels], dtype=np.float64)
    except (TypeError, ValueError):
        raise Wrong("text labels loaded as regression targets") from None
    if not np.array_equal(ds.y.reshape(-1), _float32(target, "regression target")):
        raise Wrong("regression targets differ from the file")


def _label_keys(raw: list[str]) -> list:
    try:
        keys = [float(v) for v in raw]
    except ValueError:
        return list(raw)
    return [repr(k) if k != k else k for k in keys]  # NaN: one key, as text


def read_csv(data: bytes | None) -> tuple[list[str], list[list[str]]]:
    """What the file says: header and stripped cells, by Python's csv module."""
    if data is None:
        raise Wrong("loaded a special file (FIFO, folder, /dev/zero...) as data")
    try:
        text = data.decode("utf-8-sig")
        rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=",") if r]
    except (UnicodeDecodeError, csv.Error) as e:
        raise Wrong("loaded a file that is not readable CSV", str(e)) from None
    return [h.strip() for h in rows[0]], [[c.strip() for c in r] for r in rows[1:]]


class DataTarget(Target):
    """Shared: a pristine file per variant; the trial draws the variant, then the mutation."""

    variants: dict[str, bytes] = {}

    def mutate_file(self, rng: np.random.Generator) -> Mutant:
        kind = sorted(self.variants)[rng.integers(len(self.variants))]
        family, data, what = self.mutator(self.variants[kind], rng)
        return Mutant(family, f"[{kind}] {what}", data, payload=kind)

    def setup(self, workdir: str) -> None:
        self.reference = {}
        for kind, data in self.variants.items():
            path = os.path.join(workdir, f"pristine-{kind}{self.suffix}")
            with open(path, "wb") as f:
                f.write(data)
            self.reference[kind] = self.summary(self.call(path, Mutant("", "", data)))

    def judge(self, result: Any, mutant: Mutant) -> tuple[str, str]:
        if mutant.payload is not None and self.summary(result) == self.reference[mutant.payload]:
            return "identical", ""
        self.faithful(result, mutant)
        return "accepted", ""


class CsvTarget(DataTarget):
    name = stream = "csv"
    suffix = ".csv"
    variants = _csv_variants()
    mutator = staticmethod(mutate_csv.csv_file)
    summary = staticmethod(dataset_summary)

    def call(self, path: str, mutant: Mutant) -> Any:
        return dp.data.load_dataset(path)

    def faithful(self, ds: Any, mutant: Mutant) -> None:
        header, cells = read_csv(mutant.data)
        if ds.feature_names != header[:-1]:
            raise Wrong("feature names differ from the header")
        if any(len(row) != len(header) for row in cells):
            raise Wrong("rows of other lengths than the header loaded")
        try:
            values = np.array([[float(c) for c in row[:-1]] for row in cells], dtype=np.float64)
        except ValueError:
            raise Wrong("a text cell loaded as a number") from None
        if ds.X.shape != values.shape or not np.array_equal(ds.X, _float32(values, "feature")):
            raise Wrong("feature values differ from the file")
        check_labels(ds, _label_keys([row[-1] for row in cells]))


def check_run_data(rd: Any, n_rows: int) -> None:
    """The invariants of a RunData built from a file of ``n_rows`` rows."""
    for name in ("X_train", "X_test", "y_train", "y_test"):
        a = np.asarray(getattr(rd, name))
        if a.dtype.kind not in "biuf" or not np.all(np.isfinite(a)):
            raise Wrong(f"non-finite or non-numeric {name}")
    if len(rd.X_train) + len(rd.X_test) != n_rows or len(rd.y_train) != len(rd.X_train):
        raise Wrong("rows lost or invented", f"{len(rd.X_train)}+{len(rd.X_test)} of {n_rows}")
    if rd.classification and not 2 <= rd.n_out <= n_rows:
        raise Wrong("class count beyond the rows", f"{rd.n_out} classes, {n_rows} rows")


def _beyond_float32(values: list[str]) -> bool:
    try:
        v = np.array([float(c) for c in values], dtype=np.float64)
    except ValueError:
        return False  # a text column: its cells are categories, not numbers
    return bool(np.any(overflows32(v)))


class CsvCliTarget(CsvTarget):
    name = "csv-cli"
    summary = staticmethod(run_data_summary)

    def call(self, path: str, mutant: Mutant) -> Any:
        return load_data(dp.Recipe(dataset=path))

    def faithful(self, rd: Any, mutant: Mutant) -> None:
        header, cells = read_csv(mutant.data)
        check_run_data(rd, len(cells))
        columns = list(zip(*cells)) if cells else []
        feature_columns = columns[:-1]
        if not rd.classification:
            feature_columns = columns
        if any(_beyond_float32(list(col)) for col in feature_columns):
            raise Wrong("a value beyond float32's range accepted")


def _members(data: bytes, key: str) -> list[np.ndarray]:
    """The arrays of the members named ``key`` or ``key.npy``: an archive may hold both, and
    readers differ on which wins (NumPy reads ``key``, deltaprop ``key.npy``)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = [i for i in z.infolist() if i.filename in (key, key + ".npy")]
        if len(names) < 2:
            return []
        out = []
        for info in names:
            with z.open(info) as f:
                out.append(np.lib.format.read_array(f, allow_pickle=False))
        return out


def read_npz(data: bytes | None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """What the file says: ``(X, y, target_names or None)`` as NumPy reads it, and the other
    readings of an archive whose members' names collide."""
    if data is None:
        raise Wrong("loaded a special file (FIFO, folder, /dev/zero...) as data")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            names = z["target_names"] if "target_names" in z.files else None
            X, y = z["X"], z["y"]
        xs, ys = _members(data, "X") or [X], _members(data, "y") or [y]
    except Exception as e:
        raise Wrong("loaded an archive NumPy cannot read", f"{type(e).__name__}: {e}") from None
    return [(x, y, names) for x in xs for y in ys]


def any_reading(readings: list, check: Any) -> None:
    """``check(X, y, names)`` passes for one of the readings, else its first Wrong."""
    first = None
    for reading in readings:
        try:
            return check(*reading)
        except Wrong as w:
            first = first or w
    raise first


def _as_float64(a: np.ndarray, what: str) -> np.ndarray:
    if a.dtype.kind == "c":
        if np.any(a.imag != 0):
            raise Wrong(f"complex {what} loaded (imaginary part dropped)")
        a = a.real
    if a.dtype.kind not in "biuf":
        raise Wrong(f"{what} of dtype {a.dtype} loaded as numbers")
    return a.astype(np.float64)


class NpzTarget(DataTarget):
    name = stream = "npz"
    suffix = ".npz"
    variants = _npz_variants()
    mutator = staticmethod(mutate_npz.npz_file)
    summary = staticmethod(dataset_summary)

    def call(self, path: str, mutant: Mutant) -> Any:
        return dp.data.load_dataset(path)

    def faithful(self, ds: Any, mutant: Mutant) -> None:
        any_reading(read_npz(mutant.data), lambda X, y, names: self._faithful(ds, X, y, names))

    def _faithful(self, ds: Any, X: np.ndarray, y: np.ndarray, names: Any) -> None:
        if X.ndim == 0:
            raise Wrong("a 0-d X loaded")
        values = _as_float64(X, "X").reshape(len(X), -1)
        if ds.X.shape != values.shape or not np.array_equal(ds.X, _float32(values, "feature")):
            raise Wrong("feature values differ from the file")
        named = names is not None and names.ndim == 1 and y.dtype.kind in "biuf"
        if named and ds.task == "classification":
            # target_names name the classes: y indexes them, and a class may have no rows
            if ds.n_classes != len(names) or not np.array_equal(ds.y, y.reshape(-1)):
                raise Wrong("classes differ from the file's target_names and y")
        elif y.dtype.kind in "USO":
            check_labels(ds, [str(v) for v in y.reshape(-1)])
        else:
            keys = _as_float64(y, "y").reshape(-1).tolist()
            check_labels(ds, [repr(k) if k != k else k for k in keys])


class NpzCliTarget(NpzTarget):
    name = "npz-cli"
    summary = staticmethod(run_data_summary)

    def call(self, path: str, mutant: Mutant) -> Any:
        return load_data(dp.Recipe(dataset=path))

    def faithful(self, rd: Any, mutant: Mutant) -> None:
        any_reading(read_npz(mutant.data), lambda X, y, _: self._invariants(rd, X, y))

    def _invariants(self, rd: Any, X: np.ndarray, y: np.ndarray) -> None:
        check_run_data(rd, len(X) if X.ndim else 1)
        values = [_as_float64(X, "X")] + ([] if rd.classification else [_as_float64(y, "y")])
        for v in values:
            if np.any(overflows32(v)):
                raise Wrong("a value beyond float32's range accepted")
