"""The disk under a dataDir: one small file-level interface, two implementations.

Theory of operation
-------------------
Everything zkwire keeps on disk (txn logs, snapshots, the epoch files) is read
and written through a :class:`Disk`, never through ``os`` directly, so that a
test or a simulator can put a disk under the server that loses what was not
synced, tears the last write, or fails with EIO.

The interface is the handful of calls the storage modules need, at the level
of whole files and byte ranges (paths are plain strings):

* reading: ``listdir`` (a missing directory lists as empty), ``exists``,
  ``size``, ``read(path, offset, length)``, ``open_read`` (a binary file
  object, for streaming a snapshot or a log), ``all_zero`` (is a byte range
  all zeros; preallocated log files are sparse, so this may skip holes);
* a file open for writing, :meth:`Disk.open_file` -> a handle with
  ``write_at(offset, data)``, ``set_size(n)`` (grow with zeros or cut),
  ``size()``, ``sync()`` (fdatasync: the file's bytes are durable once it
  returns), ``dup()`` (a second handle on the same file, so a worker thread
  can sync it while the first one goes on writing) and ``close()``;
* whole-file replacement, :meth:`Disk.create_atomic` -> a writer that goes to
  a temporary name and on ``commit()`` is synced, renamed over the target and
  its directory synced: readers see the old file or the new one, never half;
* ``remove``, ``makedirs`` (durably: each directory it creates is synced into
  its parent), ``sync_dir`` (a new or removed name becomes durable) and
  ``temp_file`` (an unnamed scratch file, for a snapshot being taken).

The durability contract is POSIX's, and :class:`MemoryDisk` holds the server
to it: a file's bytes survive a crash only once ``sync()`` returned after they
were written, and a created, renamed or removed name only once the directory
was synced after the change.

:class:`FileDisk` is the real thing; it is the only code in the server that
touches the dataDir with ``os.*``.  :data:`FILE_DISK` is the instance every
storage function uses unless it is given another disk.

:class:`MemoryDisk` is a dict of files, each holding the bytes that reached
the "platter" at its last sync and the writes made since, in order.
``crash()`` drops every unsynced write and every unsynced directory change;
``crash(rng)`` keeps a random prefix of them instead, the last write kept
possibly only in part -- a torn write.  Fault hooks make the next matching
call fail (``fail("write", errno.ENOSPC)``, ``fail("fsync")`` for EIO) or flip
a byte in a file as media corruption would (``flip_byte``).  Files are sparse:
a 64 MB preallocated log costs only the bytes written into it.
"""
from __future__ import annotations

import errno
import io
import os
import posixpath
import tempfile
import threading
from typing import List, Optional


class Disk:
    """The interface (see the module docstring).  Subclasses implement every
    method; :meth:`all_zero` and :meth:`write_atomic` have generic versions."""

    def abspath(self, path: str) -> str:
        raise NotImplementedError

    def listdir(self, path: str) -> List[str]:
        raise NotImplementedError

    def exists(self, path: str) -> bool:
        raise NotImplementedError

    def size(self, path: str) -> int:
        raise NotImplementedError

    def read(self, path: str, offset: int = 0, length: Optional[int] = None) -> bytes:
        raise NotImplementedError

    def open_read(self, path: str):
        raise NotImplementedError

    def open_file(self, path: str, truncate: bool = False):
        raise NotImplementedError

    def create_atomic(self, path: str, tmp_path: Optional[str] = None, fsync: bool = True):
        raise NotImplementedError

    def remove(self, path: str) -> None:
        raise NotImplementedError

    def makedirs(self, path: str) -> None:
        raise NotImplementedError

    def sync_dir(self, path: str) -> None:
        raise NotImplementedError

    def temp_file(self, directory: str):
        raise NotImplementedError

    def write_atomic(self, path: str, data: bytes, tmp_path: Optional[str] = None,
                     fsync: bool = True) -> None:
        """Replace ``path`` by ``data`` atomically (see :meth:`create_atomic`)."""
        with self.create_atomic(path, tmp_path, fsync) as w:
            w.write(data)

    def all_zero(self, path: str, start: int, end: Optional[int] = None) -> bool:
        """True if bytes [start, end) of the file are all zero (``end`` past
        the end of the file: up to the end)."""
        size = self.size(path)
        end = size if end is None else min(end, size)
        pos = start
        while pos < end:
            chunk = self.read(path, pos, min(end - pos, 1 << 20))
            if not chunk:
                return True
            if chunk.count(0) != len(chunk):
                return False
            pos += len(chunk)
        return True


class _AtomicWriter:
    """What :meth:`Disk.create_atomic` returns: ``write`` then ``commit`` (or
    ``abort``); as a context manager it commits unless the block raised."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()


# --- the real disk ---------------------------------------------------------------------
def _pwrite_all(fd: int, data, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


_fdatasync = getattr(os, "fdatasync", os.fsync)


class _OsFile:
    """A :class:`FileDisk` handle: one file descriptor."""

    __slots__ = ("path", "fd")

    def __init__(self, path, fd):
        self.path = path
        self.fd = fd

    def write_at(self, offset: int, data) -> None:
        _pwrite_all(self.fd, data, offset)

    def set_size(self, size: int) -> None:
        os.ftruncate(self.fd, size)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def sync(self) -> None:
        _fdatasync(self.fd)

    def dup(self) -> "_OsFile":
        return _OsFile(self.path, os.dup(self.fd))

    def close(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)


class _OsAtomic(_AtomicWriter):
    def __init__(self, disk, path, tmp_path, fsync):
        self.disk = disk
        self.path = path
        self.tmp = tmp_path
        self.fsync = fsync
        self.f = open(tmp_path, "wb")

    def write(self, data) -> None:
        self.f.write(data)

    def commit(self) -> None:
        try:
            self.f.flush()
            if self.fsync:
                os.fsync(self.f.fileno())
            self.f.close()
            os.replace(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        if self.fsync:
            self.disk.sync_dir(os.path.dirname(self.path) or ".")

    def abort(self) -> None:
        self.f.close()
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


class FileDisk(Disk):
    """The operating system's file system: the one place that calls ``os.*``
    on a dataDir."""

    def abspath(self, path):
        return os.path.abspath(path)

    def listdir(self, path):
        try:
            return os.listdir(path)
        except FileNotFoundError:
            return []

    def exists(self, path):
        return os.path.exists(path)

    def size(self, path):
        return os.path.getsize(path)

    def read(self, path, offset=0, length=None):
        with open(path, "rb") as f:
            if offset:
                f.seek(offset)
            return f.read() if length is None else f.read(length)

    def open_read(self, path):
        return open(path, "rb", buffering=1 << 16)

    def open_file(self, path, truncate=False):
        flags = os.O_RDWR | os.O_CREAT | (os.O_TRUNC if truncate else 0)
        return _OsFile(path, os.open(path, flags, 0o644))

    def create_atomic(self, path, tmp_path=None, fsync=True):
        path = os.fspath(path)
        if tmp_path is None:
            tmp_path = path + ".tmp"
        return _OsAtomic(self, path, tmp_path, fsync)

    def remove(self, path):
        os.unlink(path)

    def makedirs(self, path):
        # Like os.makedirs(exist_ok=True), and each directory made is synced
        # into its parent, so files synced inside it cannot vanish with it.
        missing = []
        p = os.path.abspath(path)
        while not os.path.isdir(p):
            missing.append(p)
            parent = os.path.dirname(p)
            if parent == p:
                break
            p = parent
        for d in reversed(missing):
            try:
                os.mkdir(d)
            except FileExistsError:
                if not os.path.isdir(d):
                    raise
            self.sync_dir(os.path.dirname(d))

    def sync_dir(self, path):
        # Best effort, as before: some file systems refuse to fsync a directory.
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def temp_file(self, directory):
        self.makedirs(directory)
        return tempfile.TemporaryFile(dir=directory)

    def all_zero(self, path, start, end=None):
        # Holes of a sparse, preallocated file are skipped without reading them.
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            end = size if end is None else min(end, size)
            pos = start
            seek_data = getattr(os, "SEEK_DATA", None)
            while pos < end:
                stop = end
                if seek_data is not None:
                    try:
                        pos = os.lseek(fd, pos, seek_data)
                        stop = min(end, os.lseek(fd, pos, os.SEEK_HOLE))
                    except OSError:
                        return True  # ENXIO: only a hole remains
                    if pos >= end:
                        return True
                while pos < stop:
                    chunk = os.pread(fd, min(stop - pos, 1 << 20), pos)
                    if not chunk:
                        return True
                    if chunk.count(0) != len(chunk):
                        return False
                    pos += len(chunk)
            return True
        finally:
            os.close(fd)


#: The disk every storage function uses unless it is handed another.
FILE_DISK = FileDisk()


# --- the memory disk -------------------------------------------------------------------
def _apply(buf: bytearray, size: int, op) -> int:
    """Apply one write (``("w", offset, bytes)``) or size change (``("t", n)``)
    to a sparse file held as ``buf`` (bytes beyond it up to ``size`` are zero);
    -> the new size."""
    if op[0] == "w":
        _, offset, data = op
        if offset > len(buf):
            buf.extend(bytes(offset - len(buf)))
        buf[offset:offset + len(data)] = data
        return max(size, offset + len(data))
    n = op[1]
    if n < len(buf):
        del buf[n:]
    return n


class _Inode:
    """One file: ``data``/``size`` are what readers see now; ``synced``/
    ``synced_size`` what a crash would leave; ``pending`` the writes between."""

    __slots__ = ("data", "size", "synced", "synced_size", "pending")

    def __init__(self):
        self.data = bytearray()
        self.size = 0
        self.synced = bytearray()
        self.synced_size = 0
        self.pending = []

    def apply(self, op) -> None:
        self.size = _apply(self.data, self.size, op)
        self.pending.append(op)

    def sync(self) -> None:
        for op in self.pending:
            self.synced_size = _apply(self.synced, self.synced_size, op)
        self.pending = []

    def contents(self) -> bytes:
        return bytes(self.data) + bytes(self.size - len(self.data))


class _Dir:
    __slots__ = ("live", "durable")

    def __init__(self):
        self.live = {}      # name -> _Inode
        self.durable = {}   # the names as of the last sync_dir


class _MemReader(io.RawIOBase):
    """A read-only view of a file's contents at the time it was opened."""

    def __init__(self, data: bytes, size: int):
        self._data = data
        self._size = size
        self._pos = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            offset += self._size
        self._pos = max(0, offset)
        return self._pos

    def readinto(self, b):
        n = max(0, min(len(b), self._size - self._pos))
        if n == 0:
            return 0
        chunk = self._data[self._pos:self._pos + n]
        b[:len(chunk)] = chunk
        if len(chunk) < n:
            b[len(chunk):n] = bytes(n - len(chunk))
        self._pos += n
        return n


class _MemFile:
    """A :class:`MemoryDisk` handle; unusable after the disk crashed."""

    __slots__ = ("disk", "path", "inode", "generation", "closed")

    def __init__(self, disk, path, inode):
        self.disk = disk
        self.path = path
        self.inode = inode
        self.generation = disk.generation
        self.closed = False

    def _live(self):
        if self.closed or self.generation != self.disk.generation:
            raise OSError(errno.EBADF, "stale file handle (closed, or the disk crashed)", self.path)

    def write_at(self, offset, data):
        with self.disk._lock:
            self._live()
            self.disk._fault("write", self.path)
            self.inode.apply(("w", offset, bytes(data)))
            self.disk.writes += 1

    def set_size(self, size):
        with self.disk._lock:
            self._live()
            self.disk._fault("truncate", self.path)
            self.inode.apply(("t", size))

    def size(self):
        with self.disk._lock:
            self._live()
            return self.inode.size

    def sync(self):
        with self.disk._lock:
            self._live()
            self.disk._fault("fsync", self.path)
            self.inode.sync()
            self.disk.fsyncs += 1

    def dup(self):
        with self.disk._lock:
            self._live()
            return _MemFile(self.disk, self.path, self.inode)

    def close(self):
        self.closed = True


class _MemAtomic(_AtomicWriter):
    def __init__(self, disk, path, tmp_path, fsync):
        self.disk = disk
        self.path = path
        self.tmp = tmp_path
        self.fsync = fsync
        self.f = disk.open_file(tmp_path, truncate=True)
        self.pos = 0

    def write(self, data):
        self.f.write_at(self.pos, data)
        self.pos += len(data)

    def commit(self):
        try:
            if self.fsync:
                self.f.sync()
            self.f.close()
            self.disk._rename(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        if self.fsync:
            self.disk.sync_dir(posixpath.dirname(self.disk.abspath(self.path)))

    def abort(self):
        self.f.close()
        try:
            self.disk.remove(self.tmp)
        except OSError:
            pass


class MemoryDisk(Disk):
    """A disk in memory that keeps only what was synced (see the module
    docstring).  Thread-safe: a worker thread may sync while another writes.

    ``crash(rng=None)``: what a power cut leaves.  Open handles go stale.
    ``fail(op, err=errno.EIO, path=None, count=1)``: the next ``count`` calls
    of ``op`` ("open", "read", "write", "truncate", "fsync", "rename",
    "remove") on a path containing ``path`` raise ``OSError(err)``.
    ``flip_byte(path, offset, mask=1)``: corrupt a byte, synced or not.
    ``writes`` and ``fsyncs`` count the calls that succeeded.
    """

    def __init__(self):
        self._lock = threading.RLock()
        self._dirs = {"/": _Dir()}
        self._faults = []
        self.generation = 0
        self.writes = 0
        self.fsyncs = 0
        self.crashes = 0

    # --- paths ---------------------------------------------------------------------
    def abspath(self, path):
        return posixpath.normpath(posixpath.join("/", os.fspath(path)))

    def _split(self, path):
        path = self.abspath(path)
        return posixpath.dirname(path), posixpath.basename(path)

    def _inode(self, path) -> _Inode:
        parent, name = self._split(path)
        d = self._dirs.get(parent)
        inode = d.live.get(name) if d is not None else None
        if inode is None:
            if self.abspath(path) in self._dirs:
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        return inode

    def _parent(self, path) -> _Dir:
        parent, _ = self._split(path)
        d = self._dirs.get(parent)
        if d is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), parent)
        return d

    # --- faults --------------------------------------------------------------------
    def fail(self, op: str, err: int = errno.EIO, path: Optional[str] = None,
             count: int = 1) -> None:
        with self._lock:
            self._faults.append([op, err, path, count])

    def _fault(self, op, path):
        for fault in self._faults:
            if fault[0] == op and (fault[2] is None or fault[2] in path):
                fault[3] -= 1
                if fault[3] <= 0:
                    self._faults.remove(fault)
                raise OSError(fault[1], "%s (injected)" % os.strerror(fault[1]), path)

    def flip_byte(self, path: str, offset: int, mask: int = 0x01) -> None:
        with self._lock:
            inode = self._inode(path)
            if not 0 <= offset < inode.size:
                raise ValueError("offset %d is outside %s (%d bytes)" % (offset, path, inode.size))
            for buf in (inode.data, inode.synced):
                if offset >= len(buf):
                    buf.extend(bytes(offset + 1 - len(buf)))
                buf[offset] ^= mask
            inode.synced_size = max(inode.synced_size, offset + 1)

    def crash(self, rng=None) -> None:
        """Lose what was not synced.  With ``rng`` (a random.Random), keep a
        random prefix of each file's unsynced writes instead, the last one
        possibly cut short, and each directory's unsynced changes or not."""
        with self._lock:
            inodes = {}
            for d in self._dirs.values():
                if rng is not None and rng.random() < 0.5:
                    d.durable = dict(d.live)
                d.live = dict(d.durable)
                for inode in d.live.values():
                    inodes[id(inode)] = inode
            for inode in inodes.values():
                ops = inode.pending
                inode.pending = []
                data = bytearray(inode.synced)
                size = inode.synced_size
                if rng is not None and ops:
                    keep = rng.randint(0, len(ops))
                    for op in ops[:keep]:
                        size = _apply(data, size, op)
                    if keep < len(ops) and ops[keep][0] == "w":
                        _, offset, raw = ops[keep]
                        size = _apply(data, size, ("w", offset, raw[:rng.randint(0, len(raw))]))
                inode.data = data
                inode.size = size
                inode.synced = bytearray(data)
                inode.synced_size = size
            self._faults = []
            self.generation += 1
            self.crashes += 1

    def unsynced_bytes(self) -> int:
        """Bytes written but not synced yet, over all files (for tests)."""
        with self._lock:
            return sum(len(op[2]) for d in self._dirs.values() for i in d.live.values()
                       for op in i.pending if op[0] == "w")

    # --- the interface -------------------------------------------------------------
    def listdir(self, path):
        with self._lock:
            path = self.abspath(path)
            d = self._dirs.get(path)
            if d is None:
                return []
            subdirs = [posixpath.basename(p) for p in self._dirs
                       if p != path and posixpath.dirname(p) == path]
            return list(d.live) + subdirs

    def exists(self, path):
        with self._lock:
            if self.abspath(path) in self._dirs:
                return True
            parent, name = self._split(path)
            d = self._dirs.get(parent)
            return d is not None and name in d.live

    def size(self, path):
        with self._lock:
            return self._inode(path).size

    def read(self, path, offset=0, length=None):
        with self._lock:
            self._fault("read", path)
            inode = self._inode(path)
            end = inode.size if length is None else min(inode.size, offset + length)
            if offset >= end:
                return b""
            chunk = bytes(inode.data[offset:end])
            return chunk + bytes(end - offset - len(chunk))

    def open_read(self, path):
        with self._lock:
            self._fault("read", path)
            inode = self._inode(path)
            return io.BufferedReader(_MemReader(bytes(inode.data), inode.size), 1 << 16)

    def open_file(self, path, truncate=False):
        with self._lock:
            self._fault("open", path)
            d = self._parent(path)
            _, name = self._split(path)
            inode = d.live.get(name)
            if inode is None:
                if self.abspath(path) in self._dirs:
                    raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
                inode = d.live[name] = _Inode()
            elif truncate:
                inode.apply(("t", 0))
            return _MemFile(self, path, inode)

    def create_atomic(self, path, tmp_path=None, fsync=True):
        path = os.fspath(path)
        return _MemAtomic(self, path, path + ".tmp" if tmp_path is None else tmp_path, fsync)

    def _rename(self, src, dst):
        with self._lock:
            self._fault("rename", dst)
            inode = self._inode(src)
            d_dst = self._parent(dst)
            del self._parent(src).live[self._split(src)[1]]
            d_dst.live[self._split(dst)[1]] = inode

    def remove(self, path):
        with self._lock:
            self._fault("remove", path)
            self._inode(path)
            del self._parent(path).live[self._split(path)[1]]

    def makedirs(self, path):
        # Directories are durable at once: FileDisk.makedirs syncs them into
        # their parents.
        with self._lock:
            path = self.abspath(path)
            chain = []
            while path not in self._dirs:
                parent, name = posixpath.dirname(path), posixpath.basename(path)
                d = self._dirs.get(parent)
                if d is not None and name in d.live:
                    raise FileExistsError(errno.EEXIST, "a file is in the way", path)
                chain.append(path)
                path = parent
            for p in chain:
                self._dirs[p] = _Dir()

    def sync_dir(self, path):
        with self._lock:
            d = self._dirs.get(self.abspath(path))
            if d is not None:
                d.durable = dict(d.live)

    def temp_file(self, directory):
        self.makedirs(directory)
        return io.BytesIO()

    def all_zero(self, path, start, end=None):
        with self._lock:
            inode = self._inode(path)
            end = inode.size if end is None else min(end, inode.size)
            chunk = inode.data[start:end]
            return chunk.count(0) == len(chunk)
