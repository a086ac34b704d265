"""An in-memory file system behind ``broker.log.files.Files``, with TigerBeetle's fault model.

Every file (an inode) holds the bytes the process sees (``data``) and the bytes that would
survive a power loss (``durable``: ``data`` as of its last ``fsync``).  Two kinds of crash:

- **process crash** (kill -9): the page cache survives, so every written byte does;
- **power loss**: each file goes back to its durable bytes.  When the unsynced change was
  a pure append, a *torn* write may keep some of its sectors, any of which may have stayed
  zeros (written back out of order): the log's CRC recovery must cut there.  No bit rot: a
  flipped byte in a batch's base offset or leader epoch (outside the CRC, as in Kafka) would
  go unnoticed by design.

Directory operations (create, rename, remove, mkdir) are durable at once, in order, as on a
journaling file system (we do not model lost directory entries).  File modification times come
from the owning node's wall clock, which the simulation may jump (F13).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TORN_WRITE_PROBABILITY = 0.3
ZEROED_SECTOR_PROBABILITY = 0.3
SECTOR_BYTES = 512


@dataclass(slots=True)
class Inode:
    data: bytearray = field(default_factory=bytearray)
    durable: bytes = b""
    mtime_ms: int = 0

    @property
    def unsynced(self) -> bool:
        return bytes(self.data) != self.durable


class StaleHandleError(AssertionError):
    """A handle of a process that crashed was used: a bug in the simulation."""


class SimHandle:
    """An open file of one process incarnation (``generation``)."""

    __slots__ = ("_disk", "_generation", "_inode", "path")

    def __init__(self, disk: SimDisk, path: Path, inode: Inode) -> None:
        self._disk = disk
        self._generation = disk.generation
        self._inode = inode
        self.path = path

    def _live(self) -> Inode:
        if self._generation != self._disk.generation:
            raise StaleHandleError(f"{self.path}: handle of a crashed process")
        return self._inode

    def pread(self, size: int, offset: int) -> bytes:
        assert size >= 0 and offset >= 0
        return bytes(self._live().data[offset : offset + size])

    def pwrite(self, data: bytes | bytearray | memoryview, offset: int) -> None:
        inode = self._live()
        chunk = bytes(data)
        if offset > len(inode.data):
            inode.data.extend(bytes(offset - len(inode.data)))
        inode.data[offset : offset + len(chunk)] = chunk
        inode.mtime_ms = self._disk.wall_ms()

    def size(self) -> int:
        return len(self._live().data)

    def truncate(self, size: int) -> None:
        inode = self._live()
        if size < len(inode.data):
            del inode.data[size:]
        else:
            inode.data.extend(bytes(size - len(inode.data)))
        inode.mtime_ms = self._disk.wall_ms()

    def fsync(self) -> None:
        inode = self._live()
        inode.durable = bytes(inode.data)
        self._disk.fsyncs += 1

    def close(self) -> None:
        self._live()


class SimDisk:
    """One broker's disk.  ``wall_ms`` is the owning node's wall clock."""

    def __init__(self, wall_ms: Callable[[], int]) -> None:
        self.wall_ms = wall_ms
        self.files: dict[str, Inode] = {}
        self.dirs: set[str] = {"/"}
        self.generation = 0
        self.fsyncs = 0

    # -- Files ----------------------------------------------------------------------------

    def open(self, path: Path, *, create: bool = True) -> SimHandle:
        key = str(path)
        inode = self.files.get(key)
        if inode is None:
            if not create:
                raise FileNotFoundError(key)
            assert str(path.parent) in self.dirs, f"no directory {path.parent}"
            assert key not in self.dirs, f"{key} is a directory"
            inode = Inode(mtime_ms=self.wall_ms())
            self.files[key] = inode
        return SimHandle(self, path, inode)

    def exists(self, path: Path) -> bool:
        key = str(path)
        return key in self.files or key in self.dirs

    def is_dir(self, path: Path) -> bool:
        return str(path) in self.dirs

    def listdir(self, path: Path) -> list[str]:
        key = str(path)
        if key not in self.dirs:
            raise FileNotFoundError(key)
        names = {
            Path(name).name
            for name in (*self.files, *self.dirs)
            if name != key and _parent(name) == key
        }
        return sorted(names)

    def mkdir(self, path: Path) -> None:
        for directory in (*reversed(path.parents), path):
            self.dirs.add(str(directory))

    def remove(self, path: Path) -> None:
        self.files.pop(str(path), None)

    def rename(self, source: Path, target: Path) -> None:
        old, new = str(source), str(target)
        if old in self.files:
            self.files[new] = self.files.pop(old)
            return
        assert old in self.dirs, f"rename of missing {old}"
        prefix = old + "/"
        for name in [n for n in self.files if n.startswith(prefix)]:
            self.files[new + name[len(old) :]] = self.files.pop(name)
        for name in [d for d in self.dirs if d == old or d.startswith(prefix)]:
            self.dirs.discard(name)
            self.dirs.add(new + name[len(old) :])

    def remove_tree(self, path: Path) -> None:
        key = str(path)
        prefix = key + "/"
        for name in [n for n in self.files if n.startswith(prefix)]:
            del self.files[name]
        self.dirs = {d for d in self.dirs if d != key and not d.startswith(prefix)}

    def fsync_dir(self, path: Path) -> None:
        assert str(path) in self.dirs, f"fsync of missing directory {path}"

    def mtime_ms(self, path: Path) -> int:
        inode = self.files.get(str(path))
        if inode is None:
            raise FileNotFoundError(str(path))
        return inode.mtime_ms

    # -- faults ---------------------------------------------------------------------------

    def crash(self, rng: random.Random, *, power_loss: bool, torn_writes: bool) -> list[str]:
        """The process died: its handles go stale.  With ``power_loss`` every file goes back
        to its durable bytes (maybe keeping a torn part of an unsynced append).  Returns a
        description of each file that lost bytes."""
        self.generation += 1
        if not power_loss:
            return []
        lost = []
        for name in sorted(self.files):
            inode = self.files[name]
            if not inode.unsynced:
                continue
            before = len(inode.data)
            inode.data = bytearray(self._surviving(inode, rng, torn_writes))
            inode.durable = bytes(inode.data)
            lost.append(f"{name}: {before} -> {len(inode.data)} bytes")
        return lost

    def _surviving(self, inode: Inode, rng: random.Random, torn_writes: bool) -> bytes:
        """The durable bytes, and with a torn write some whole sectors of an unsynced append,
        each of which may have stayed zeros (written back out of order)."""
        durable = inode.durable
        appended = bytes(inode.data[: len(durable)]) == durable
        if not (torn_writes and appended and rng.random() < TORN_WRITE_PROBABILITY):
            return durable
        first = len(durable) // SECTOR_BYTES
        last = -(-len(inode.data) // SECTOR_BYTES)
        end = min(rng.randint(first, last) * SECTOR_BYTES, len(inode.data))
        kept = bytearray(inode.data[:end])
        kept[: len(durable)] = durable
        for sector in range(first, last):
            start = max(sector * SECTOR_BYTES, len(durable))
            stop = min((sector + 1) * SECTOR_BYTES, end)
            if start < stop and rng.random() < ZEROED_SECTOR_PROBABILITY:
                kept[start:stop] = bytes(stop - start)
        return bytes(kept)


def _parent(name: str) -> str:
    return str(Path(name).parent)
