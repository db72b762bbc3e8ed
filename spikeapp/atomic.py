"""Writing files and folders so that a crash, a full disk or a kill never leaves a half-written
file in place of a good one: everything is written beside the target, synced, then renamed over
it. Sessions, autosaves and every export go through here."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from spikeapp.errors import SpikeappError

STALE_S = 60.0  # a temporary this old belongs to no save still running


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_folder(path: Path) -> Path:
    """The folder ``path`` goes in, which must exist and be writable."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise SpikeappError(f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise SpikeappError(f"{path}: cannot write in {folder} ({_unwritable(folder)}); the "
                            "previous file, if any, is untouched: choose another place")
    return folder


def _unwritable(folder: Path) -> str:
    """Why a folder cannot be written: a read-only disk (a write-protected card, a read-only
    mount) or permissions."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "the disk is read-only"
    except (OSError, AttributeError):
        pass
    return "permission denied"


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without an error, the file
    is synced and renamed over ``path``; otherwise it is removed and ``path`` is untouched."""
    path = Path(path)
    folder = check_folder(path)
    # The suffix stays last (writers such as pynwb check it).
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.",
                                             suffix=f".tmp{path.suffix}", dir=folder)
    except OSError as error:
        raise SpikeappError(f"{path}: cannot write there: {error.strerror}") from error
    os.close(handle)
    os.unlink(temporary)  # writers that refuse an existing file get a fresh name
    temporary = Path(temporary)
    try:
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # as any new file, not private like a temp file
        os.replace(temporary, path)
        _sync_folder(folder)
        _remove_stale_temporaries(folder, path.name)
    except OSError as error:
        raise SpikeappError(f"{path}: cannot write: {error.strerror or error}"
                            f"{_why(error)}") from error
    finally:
        temporary.unlink(missing_ok=True)


def _why(error: OSError) -> str:
    """What a user can do about a failed write, where the error says."""
    import errno

    if error.errno in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", -1)):
        return (" (the disk is full or the file too large for it: free some space or choose "
                "another place; the previous file is untouched)")
    if error.errno == errno.EROFS:
        return " (the disk is read-only: choose another place; the previous file is untouched)"
    return ""


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Like atomic_file for a folder: filled beside ``path``, then swapped in; an existing
    folder is replaced only once the new one is complete."""
    path = Path(path)
    folder = check_folder(path)
    if path.exists() and not path.is_dir():
        raise SpikeappError(f"{path}: exists and is not a folder")
    temporary = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder))
    old = None
    try:
        yield temporary
        os.chmod(temporary, 0o777 & ~_umask())
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(temporary, path)
    except OSError as error:
        if old is not None and not path.exists():
            os.replace(old, path)  # put the previous export back
            old = None
        raise SpikeappError(f"{path}: cannot write: {error.strerror or error}") from error
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_file(path) as temporary:
        temporary.write_bytes(data)


def sync_folder(folder: Path) -> None:
    """Make a folder's entries durable (a file created or renamed in it; POSIX; a no-op where
    folders cannot be opened): a file synced to disk is lost in a power cut all the same while
    its name is not."""
    _sync_folder(folder)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        directory = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(directory)
    except OSError:
        pass
    finally:
        os.close(directory)


def _remove_stale_temporaries(folder: Path, name: str) -> None:
    """Temporaries left by a save that was killed (a crash, a power cut): removed once they are
    old enough not to belong to a save still running."""
    for leftover in folder.glob(f".{name}.*.tmp*"):
        try:
            if leftover.is_file() and time.time() - leftover.stat().st_mtime > STALE_S:
                leftover.unlink()
        except OSError:
            pass
