"""The storage layer's only door to the disk.

Everything in ``broker/log`` reads and writes through a ``Files`` object, so the simulator
can substitute one that loses unsynced bytes or tears writes (TigerBeetle's testing/storage).
``OsFiles`` is the real thing: positional reads and writes on raw descriptors, no buffering,
so what ``fsync`` covers is exactly what was written.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Protocol


class FileHandle(Protocol):
    """One open file; offsets are explicit, there is no cursor."""

    def pread(self, size: int, offset: int) -> bytes:
        """Up to ``size`` bytes from ``offset`` (fewer at end of file)."""
        ...

    def pwrite(self, data: bytes | bytearray | memoryview, offset: int) -> None:
        """Write all of ``data`` at ``offset``."""
        ...

    def size(self) -> int: ...

    def truncate(self, size: int) -> None: ...

    def fsync(self) -> None: ...

    def close(self) -> None: ...


class Files(Protocol):
    """Directory-level operations plus opening files."""

    def open(self, path: Path, *, create: bool = True) -> FileHandle: ...

    def exists(self, path: Path) -> bool: ...

    def is_dir(self, path: Path) -> bool: ...

    def listdir(self, path: Path) -> list[str]: ...

    def mkdir(self, path: Path) -> None: ...

    def remove(self, path: Path) -> None: ...

    def rename(self, source: Path, target: Path) -> None: ...

    def remove_tree(self, path: Path) -> None: ...

    def fsync_dir(self, path: Path) -> None: ...

    def mtime_ms(self, path: Path) -> int: ...


class OsFileHandle:
    """A file descriptor opened O_RDWR."""

    __slots__ = ("_fd", "path")

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    def pread(self, size: int, offset: int) -> bytes:
        assert size >= 0 and offset >= 0
        return os.pread(self._fd, size, offset)

    def pwrite(self, data: bytes | bytearray | memoryview, offset: int) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(self._fd, view, offset)
            assert written > 0
            view = view[written:]
            offset += written

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def truncate(self, size: int) -> None:
        os.ftruncate(self._fd, size)

    def fsync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class OsFiles:
    """``Files`` over the operating system."""

    def open(self, path: Path, *, create: bool = True) -> OsFileHandle:
        flags = os.O_RDWR | (os.O_CREAT if create else 0)
        return OsFileHandle(path, os.open(path, flags, 0o644))

    def exists(self, path: Path) -> bool:
        return path.exists()

    def is_dir(self, path: Path) -> bool:
        return path.is_dir()

    def listdir(self, path: Path) -> list[str]:
        return sorted(os.listdir(path))

    def mkdir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def rename(self, source: Path, target: Path) -> None:
        os.replace(source, target)

    def remove_tree(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=False)

    def fsync_dir(self, path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def mtime_ms(self, path: Path) -> int:
        return os.stat(path).st_mtime_ns // 1_000_000


OS_FILES = OsFiles()
