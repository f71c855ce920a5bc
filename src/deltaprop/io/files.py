"""Paths and durable writes: one atomic write (temporary file, fsync, rename) for every file
deltaprop writes, the cleanup of the temporaries a killed process leaves, and path checks.

A write goes to ``.<name>.<pid>-<12 hex>.tmp`` in the target's folder, is flushed and fsynced,
then renamed over the target with ``os.replace`` (atomic on POSIX and Windows), and the folder
is fsynced so the rename itself survives a power cut. A reader therefore sees the old file or
the new one, never half of one; a process killed mid-write leaves only the temporary behind,
which the next write of the same path deletes (:func:`remove_stale_temporaries`: the writer's
process id in the name tells a dead writer's leftover from a live writer's file in progress).

Reading: :func:`check_regular_file` refuses what is not a plain file (a FIFO would block the
reader forever, a device could be endless) before anything is opened.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from typing import Any

from ..errors import ConfigError, ModelFileError

PathLike = str | os.PathLike

_TEMPORARY = ".{name}.{pid}-{token}.tmp"  # token: 12 hex digits


def _temporary_pattern(path: str) -> re.Pattern[str]:
    # 0.1.0 named its temporaries without the process id: ``.<name>.<12 hex>.tmp``.
    name = re.escape(os.path.basename(path))
    return re.compile(r"\." + name + r"\.(?:(?P<pid>[0-9]{1,10})-)?[0-9a-f]{12}\.tmp\Z")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (a live writer's temporary is kept)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid > 0  # exists, owned by another user (or a pid no system has)
    except OSError:
        return False
    return True


def atomic_write(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` all at once or not at all: a temporary file in the same
    folder, flushed and fsynced, then renamed over ``path`` (``os.replace`` is atomic).

    Raises ModelFileError naming ``path`` when the folder is missing, ``path`` is a folder or
    another non-regular file (a device, a FIFO: the rename would replace it) or the write
    fails; an existing file at ``path`` is then left as it was.
    """
    p = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(p))
    if os.path.isdir(p):
        raise ModelFileError(f"{p}: is a folder, not a file")
    if os.path.exists(p) and not os.path.isfile(p):
        raise ModelFileError(f"{p}: is not a regular file (a device, FIFO or socket); not replaced")
    if not os.path.isdir(folder):
        raise ModelFileError(f"{p}: cannot write, the folder {folder} does not exist")
    remove_stale_temporaries(p)
    name = _TEMPORARY.format(name=os.path.basename(p), pid=os.getpid(), token=secrets.token_hex(6))
    tmp = os.path.join(folder, name)
    try:
        # O_EXCL: never clobber another file; mode 0o666 lets the umask decide, as open() does.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise ModelFileError(f"{p}: could not write the file: {e}") from e
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    # Makes the rename itself durable (POSIX); not possible everywhere (Windows), so best effort.
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def remove_stale_temporaries(path: PathLike) -> None:
    """Delete the temporary files that :func:`atomic_write` leaves behind for ``path`` when its
    process is killed mid-write (``.<name>.<pid>-<12 hex>.tmp`` whose process is gone, or
    0.1.0's ``.<name>.<12 hex>.tmp``); other files, and a live writer's, are left alone."""
    p = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(p))
    pattern = _temporary_pattern(p)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for entry in names:
        found = pattern.match(entry)
        if found and not (found["pid"] and _alive(int(found["pid"]))):
            try:
                os.unlink(os.path.join(folder, entry))
            except OSError:
                pass


def check_regular_file(path: PathLike, what: str = "file", error: type = ModelFileError) -> str:
    """``path`` as a str when it names an existing plain file; otherwise ``error`` naming the
    path: missing, a folder, or not a regular file (a FIFO, a device, a socket), which is
    refused before it is opened because reading one can block forever or never end.

    ``what`` names the file in the message (``"model file"``, ``"data file"``).
    """
    p = os.fspath(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise error(f"{p}: no such file") from None
    except OSError as e:
        raise error(f"{p}: cannot read the {what}: {e}") from e
    if stat.S_ISDIR(mode):
        raise error(f"{p}: is a folder, not a {what}")
    if not stat.S_ISREG(mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "not a regular file"
        raise error(f"{p}: is {kind}; expected a regular {what}")
    return p


def check_path(path: Any, name: str, writable: bool = False) -> str:
    """``path`` as a str, checked before any work starts: ConfigError naming ``name`` when it is
    not a path, is a folder, or its folder is missing. With ``writable``, also when ``path`` is
    something other than a plain file (a device, a FIFO: an atomic write would replace it) or
    :func:`atomic_write` could not create its temporary next to it (tried: see
    :func:`_check_can_create`)."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ConfigError(f"{name}: expected a file path, got {path!r}")
    p = os.fspath(path)
    if isinstance(p, bytes):
        raise ConfigError(f"{name}: expected a str path, got bytes {p!r}")
    if os.path.isdir(p):
        raise ConfigError(f"{name}: {p} is a folder; expected a file path")
    folder = os.path.dirname(os.path.abspath(p))
    if not os.path.isdir(folder):
        raise ConfigError(f"{name}: folder does not exist: {folder} (for {p})")
    if writable:
        _check_can_create(p, folder, name)
    return p


def _check_can_create(p: str, folder: str, name: str) -> None:
    # os.access is not enough: it says yes to root everywhere (/proc, a read-only mount), and
    # the temporary's longer name can pass the file system's limit when the target's does not.
    # So create and delete the very temporary an atomic write of ``p`` starts with (our naming:
    # if we are killed in between, the next write of ``p`` removes it).
    try:
        mode: int | None = os.stat(p).st_mode
    except OSError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        raise ConfigError(f"{name}: {p} is not a regular file (a device, FIFO or socket); "
                          "expected a file path")  # fmt: skip
    tmp = os.path.join(
        folder,
        _TEMPORARY.format(name=os.path.basename(p), pid=os.getpid(), token=secrets.token_hex(6)),
    )
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise ConfigError(f"{name}: folder is not writable: {folder} (for {p})") from None
        hint = ""
        if e.errno == errno.ENAMETOOLONG:
            hint = " (a shorter name is needed: the write goes through .<name>.<pid>-<id>.tmp)"
        raise ConfigError(
            f"{name}: cannot create a file in {folder} (for {p}): {e.strerror}{hint}"
        ) from None
    os.close(fd)
    try:
        os.unlink(tmp)
    except OSError:
        pass


def same_path(a: PathLike | None, b: PathLike | None) -> bool:
    """True when both are given and name the same file (after making them absolute)."""
    return (
        a is not None
        and b is not None
        and os.path.abspath(os.fspath(a)) == os.path.abspath(os.fspath(b))
    )


#: Bytes per read of :func:`read_bounded`.
READ_CHUNK = 1 << 20


def read_bounded(f: Any, size: int) -> tuple[bytearray, int, bool]:
    """Up to ``size`` bytes of the binary stream ``f``, read :data:`READ_CHUNK` bytes at a
    time into one new bytearray (writable, so NumPy can use it without a copy): ``(buffer,
    bytes read, whether more bytes follow)``. Reading in chunks, a header that claims more
    than the file holds costs no more memory than the file itself (the caller bounds
    ``size`` by it); the caller raises when fewer than ``size`` came, or more followed."""
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        chunk = f.read(min(READ_CHUNK, size - got))
        if not chunk:
            break
        view[got : got + len(chunk)] = chunk
        got += len(chunk)
    # read(1) only after a full read: at the end of a zip member it makes zipfile check the CRC
    more = got == size and bool(f.read(1))
    return buf, got, more
