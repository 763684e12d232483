"""server/storage/disk.py: the Disk contract, held by FileDisk and MemoryDisk alike, and
what MemoryDisk's crash and fault hooks do.

The crash model is POSIX's durability contract (what fsync(2), fdatasync(2) and
rename(2) promise), not an observation of ZooKeeper: bytes survive once the file
was synced after they were written, a new, renamed or removed name once its
directory was synced after the change.
"""
from __future__ import annotations

import errno
import random

import pytest

from zkwire.server.storage.disk import FileDisk, MemoryDisk


@pytest.fixture(params=["file", "memory"])
def disk_at(request, tmp_path):
    """(disk, a base directory on it that does not exist yet)."""
    if request.param == "file":
        return FileDisk(), str(tmp_path / "base")
    return MemoryDisk(), "/base"


def test_files_ranges_and_sparse_growth(disk_at):
    disk, base = disk_at
    assert disk.listdir(base) == [] and not disk.exists(base)
    disk.makedirs(base + "/a/b")
    disk.makedirs(base + "/a/b")  # exists already: fine
    assert sorted(disk.listdir(base + "/a")) == ["b"]
    path = base + "/a/b/f"
    f = disk.open_file(path)
    f.write_at(0, b"hello")
    f.write_at(3, b"LO world")
    assert f.size() == 11 and disk.size(path) == 11
    f.set_size(1 << 20)  # grows with zeros (sparse on both)
    assert disk.size(path) == 1 << 20
    assert disk.read(path) == b"helLO world" + bytes((1 << 20) - 11)
    assert disk.read(path, 3, 5) == b"LO wo"
    assert disk.read(path, (1 << 20) - 2, 10) == b"\0\0"
    assert disk.read(path, 5 << 20, 10) == b""
    assert disk.all_zero(path, 11) and disk.all_zero(path, 11, 100)
    assert not disk.all_zero(path, 10) and disk.all_zero(path, 11, 11)
    with disk.open_read(path) as r:
        assert r.read(5) == b"helLO"
        r.seek(-3, 2)
        assert r.read() == b"\0\0\0"
    g = f.dup()
    f.close()
    g.write_at(0, b"H")
    g.sync()
    g.close()
    assert disk.read(path, 0, 2) == b"He"
    h = disk.open_file(path, truncate=True)
    assert h.size() == 0 and disk.read(path) == b""
    h.close()
    disk.remove(path)
    assert not disk.exists(path) and disk.listdir(base + "/a/b") == []
    with pytest.raises(FileNotFoundError):
        disk.read(path)
    with pytest.raises(FileNotFoundError):
        disk.size(path)
    with pytest.raises(FileNotFoundError):
        disk.remove(path)
    with pytest.raises(FileNotFoundError):
        disk.open_file(base + "/missing/f")


def test_atomic_replace_commits_or_leaves_nothing(disk_at):
    disk, base = disk_at
    disk.makedirs(base)
    path = base + "/x"
    disk.write_atomic(path, b"one")
    assert disk.read(path) == b"one" and disk.listdir(base) == ["x"]
    with disk.create_atomic(path, base + "/.x.tmp") as w:
        w.write(b"tw")
        w.write(b"o")
        assert disk.read(path) == b"one"   # not yet
    assert disk.read(path) == b"two" and disk.listdir(base) == ["x"]
    with pytest.raises(RuntimeError):
        with disk.create_atomic(path) as w:
            w.write(b"three")
            raise RuntimeError("abandon")
    assert disk.read(path) == b"two" and disk.listdir(base) == ["x"]
    with disk.temp_file(base) as t:   # scratch space, never listed
        t.write(b"spool")
        t.seek(0)
        assert t.read() == b"spool"
    assert disk.listdir(base) == ["x"]


# --- MemoryDisk: crashes -----------------------------------------------------------------
def test_unsynced_bytes_and_names_are_lost_in_a_crash():
    d = MemoryDisk()
    d.makedirs("/d")
    f = d.open_file("/d/f")
    f.write_at(0, b"durable")
    f.sync()
    f.write_at(7, b" and not")
    assert d.read("/d/f") == b"durable and not" and d.unsynced_bytes() == 8
    d.crash()
    # The file's name was never synced into /d: the file is gone altogether.
    assert d.listdir("/d") == []
    with pytest.raises(OSError) as e:
        f.write_at(0, b"x")               # the handle died with the "process"
    assert e.value.errno == errno.EBADF

    f = d.open_file("/d/f")
    f.write_at(0, b"durable")
    f.sync()
    d.sync_dir("/d")
    f.write_at(7, b" and not")
    f.set_size(100)
    d.crash()
    assert d.read("/d/f") == b"durable"

    d.remove("/d/f")                      # a removal is a directory change too
    d.crash()
    assert d.read("/d/f") == b"durable"
    d.remove("/d/f")
    d.sync_dir("/d")
    d.crash()
    assert not d.exists("/d/f")

    d.write_atomic("/d/g", b"new")        # synced, renamed, directory synced
    d.crash()
    assert d.read("/d/g") == b"new"
    d.write_atomic("/d/g", b"newer", fsync=False)
    d.crash()
    assert d.read("/d/g") == b"new" and d.listdir("/d") == ["g"]


def test_crash_with_rng_keeps_a_prefix_of_the_unsynced_writes():
    seen = set()
    for seed in range(200):
        d = MemoryDisk()
        d.makedirs("/d")
        f = d.open_file("/d/f")
        f.write_at(0, b"base")
        f.sync()
        d.sync_dir("/d")
        pos = 4
        for chunk in (b"-one", b"-two", b"-three"):
            f.write_at(pos, chunk)
            pos += len(chunk)
        d.crash(random.Random(seed))
        got = d.read("/d/f")
        assert b"base-one-two-three".startswith(got) and got.startswith(b"base"), got
        seen.add(len(got))
        # What survived is now on the platter: a second crash keeps it.
        d.crash()
        assert d.read("/d/f") == got
    assert len(seen) > 8   # whole writes and torn ones (cut mid-write) both happen


# --- MemoryDisk: faults ------------------------------------------------------------------
def test_injected_faults_fire_once_on_the_matching_call():
    d = MemoryDisk()
    d.makedirs("/d")
    f = d.open_file("/d/log")
    d.fail("write", errno.ENOSPC)
    with pytest.raises(OSError) as e:
        f.write_at(0, b"x")
    assert e.value.errno == errno.ENOSPC and d.read("/d/log") == b""
    f.write_at(0, b"x")                   # once only
    d.fail("fsync", path="other")
    f.sync()                              # another path: not this one
    d.fail("fsync", count=2)
    for _ in range(2):
        with pytest.raises(OSError) as e:
            f.sync()
        assert e.value.errno == errno.EIO
    f.sync()
    d.fail("rename")
    with pytest.raises(OSError):
        d.write_atomic("/d/e", b"1")
    assert d.listdir("/d") == ["log"]     # the temporary file went away


def test_flip_byte_corrupts_synced_and_unsynced_bytes_alike():
    d = MemoryDisk()
    d.makedirs("/d")
    f = d.open_file("/d/f")
    f.write_at(0, b"\x10\x20")
    f.sync()
    d.sync_dir("/d")
    d.flip_byte("/d/f", 1, 0xFF)
    assert d.read("/d/f") == b"\x10\xdf"
    d.crash()
    assert d.read("/d/f") == b"\x10\xdf"
    with pytest.raises(ValueError):
        d.flip_byte("/d/f", 2)
