"""Shared memory by name: ``pymmap.shm_open`` and ``pymmap.sysv_attach``, and a C peer.

The C peer (``c_peer/shm_peer.c``, compiled at test time) creates a POSIX
object and a System V segment and writes a packed little-endian record
with a big-endian word and a fixed-length string; Python reads it through
``typed``, ``unpack_from`` and ``record``, writes new values back, and the
C program verifies them.  Every test uses its own names and removes them.
"""

import ctypes
import errno
import gc
import os
import struct
import sys

import cpeer
import pytest

import pymmap
from pymmap._platform import backend

if os.name != "posix":
    pytest.skip('POSIX shm_open and System V shmget/shmat: Windows has neither (its named maps are tagnames)', allow_module_level=True)

READONLY = "mmap can't modify a readonly memory map."

#: System V segments: 64-bit Linux only (pymmap's ``shmid_ds`` is the 64-bit
#: layout; elsewhere ``sysv_attach`` refuses, as test_platform_shm checks).
sysv = pytest.mark.skipif(not backend.HAS_SYSV_SHM, reason="System V shared memory is 64-bit Linux's only "
                          "(the shmid_ds layout: README)")


@pytest.fixture
def names():
    """A fresh POSIX name and System V key, removed after the test whatever happened."""
    name, key = cpeer.unique_names()
    yield name, key
    gc.collect()
    for remove, arg in ((pymmap.shm_unlink, name), (pymmap.sysv_remove, key)):
        if remove is pymmap.sysv_remove and not backend.HAS_SYSV_SHM:
            continue  # (refused there: nothing to remove)
        try:
            remove(arg)
        except FileNotFoundError:
            pass


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    """The compiled C peer."""
    if cpeer.compiler() is None:
        pytest.skip("no C compiler (cc, gcc or clang) to build tests/c_peer/shm_peer.c")
    return cpeer.build(tmp_path_factory.mktemp("c_peer"))


def _shmid(key):
    return backend.shm_get(key, 0, False)


def _attachments(key):
    return backend.shm_stat(_shmid(key)).shm_nattch


def test_the_functions_are_exported():
    for name in ("shm_open", "shm_unlink", "sysv_attach", "sysv_remove"):
        assert name in pymmap.__all__ and callable(getattr(pymmap, name))


# --- POSIX shared memory -----------------------------------------------------------------


def test_posix_object_is_shared_between_maps(names):
    name, _ = names
    first = pymmap.shm_open(name, 5000, create=True)
    assert len(first) == first.size() == 5000
    first.typed().u32[100] = 0xFEEDFACE
    second = pymmap.shm_open(name)  # size 0: all of it
    assert len(second) == 5000
    assert second.typed().u32[100] == 0xFEEDFACE
    second[0:2] = b"hi"
    assert first[0:2] == b"hi"
    first.close()
    second.close()


def test_posix_names_get_their_slash(names):
    name, _ = names
    m = pymmap.shm_open(name.lstrip("/").encode(), 10, create=True)
    m.close()
    pymmap.shm_open(name).close()  # the same object, by its full name
    with pytest.raises(ValueError, match="must not be empty"):
        pymmap.shm_open("/")
    with pytest.raises(ValueError, match="must not be empty"):
        pymmap.shm_unlink("")


def test_posix_errors(names):
    name, _ = names
    with pytest.raises(FileNotFoundError):
        pymmap.shm_open(name)
    with pytest.raises(ValueError, match="size greater than 0"):
        pymmap.shm_open(name, create=True)
    with pytest.raises(ValueError, match="negative"):
        pymmap.shm_open(name, -1)
    with pytest.raises(ValueError, match="invalid access"):
        pymmap.shm_open(name, 10, create=True, access=7)
    with pytest.raises(FileNotFoundError):  # the refused calls created nothing
        pymmap.shm_unlink(name)
    pymmap.shm_open(name, 10, create=True).close()
    with pytest.raises(FileExistsError):
        pymmap.shm_open(name, 10, create=True)
    with pytest.raises(ValueError, match="greater than file size"):
        pymmap.shm_open(name, 11)


def test_posix_access_modes(names):
    name, _ = names
    writer = pymmap.shm_open(name, 64, create=True, access=pymmap.ACCESS_DEFAULT)
    writer[0] = 1
    reader = pymmap.shm_open(name, access=pymmap.ACCESS_READ)
    assert reader[0] == 1
    with pytest.raises(TypeError, match=READONLY):
        reader.typed().u8[0] = 2
    private = pymmap.shm_open(name, access=pymmap.ACCESS_COPY)
    private[0] = 9
    assert writer[0] == 1 and private[0] == 9
    for m in (writer, reader, private):
        m.close()


def test_posix_create_read_only(names):
    name, _ = names
    m = pymmap.shm_open(name, 32, create=True, access=pymmap.ACCESS_READ)
    assert m[:] == bytes(32)
    with pytest.raises(TypeError):
        m[0] = 1
    m.close()


def test_posix_object_grows_with_resize(names):
    name, _ = names
    m = pymmap.shm_open(name, 100, create=True)
    m.resize(10000)
    m.typed().u64[9992] = 7
    other = pymmap.shm_open(name)
    assert len(other) == 10000 and other.typed().u64[9992] == 7
    m.close()
    other.close()


def test_posix_unlink(names):
    name, _ = names
    m = pymmap.shm_open(name, 10, create=True)
    pymmap.shm_unlink(name)
    m[0] = 5  # the map keeps the memory
    assert m[0] == 5
    m.close()
    with pytest.raises(FileNotFoundError):
        pymmap.shm_open(name)
    with pytest.raises(FileNotFoundError):
        pymmap.shm_unlink(name)


def test_posix_failed_create_removes_the_name(names, monkeypatch):
    name, _ = names

    def fail(fd, length):
        raise OSError(errno.ENOSPC, "no space")

    monkeypatch.setattr(backend, "truncate", fail)
    with pytest.raises(OSError, match="no space"):
        pymmap.shm_open(name, 10, create=True)
    monkeypatch.undo()
    with pytest.raises(FileNotFoundError):
        pymmap.shm_open(name)


def test_posix_trace(names):
    name, _ = names
    lines = []
    with pymmap.trace(lines.append):
        pymmap.shm_open(name, 4096, create=True).close()
        pymmap.shm_unlink(name)
    calls = [str(line) for line in lines]
    assert calls[0].startswith(f'shm_open("{name}", O_RDWR|O_CREAT|O_EXCL, 0600) = ')
    assert calls[1].startswith("ftruncate(")
    assert calls[-1] == f'shm_unlink("{name}") = 0'
    assert any(c.startswith("mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_SHARED,") for c in calls)


# --- System V shared memory -------------------------------------------------------------------


@sysv
def test_sysv_segment_is_shared_and_sized(names):
    _, key = names
    first = pymmap.sysv_attach(key, 5000, create=True)
    assert len(first) == first.size() == 5000
    assert _attachments(key) == 1
    second = pymmap.sysv_attach(key)
    assert len(second) == 5000 and _attachments(key) == 2
    first.typed("big").u16[4998] = 0xABCD
    assert second[4998:5000] == b"\xab\xcd"
    first.flush()
    second.close()
    assert _attachments(key) == 1
    assert second.closed and first[4998] == 0xAB
    first.close()
    assert _attachments(key) == 0


@sysv
def test_sysv_cannot_resize(names):
    _, key = names
    m = pymmap.sysv_attach(key, 4096, create=True)
    with pytest.raises(TypeError, match=r"shmat\(\); its size is fixed"):
        m.resize(8192)
    assert len(m) == 4096 and not m.closed
    m[0] = 1
    m.close()


@sysv
def test_sysv_access_modes(names):
    _, key = names
    writer = pymmap.sysv_attach(key, 64, create=True, access=pymmap.ACCESS_DEFAULT)
    writer[0:4] = b"\x01\x02\x03\x04"
    reader = pymmap.sysv_attach(key, access=pymmap.ACCESS_READ)
    assert reader.typed().u32[0] == 0x04030201
    with pytest.raises(TypeError, match=READONLY):
        reader[0] = 0
    with pytest.raises(TypeError, match=READONLY):
        reader.record(ctypes.c_uint8 * 4).__setitem__(0, 1)
    with pytest.raises(ValueError, match="copy-on-write"):
        pymmap.sysv_attach(key, access=pymmap.ACCESS_COPY)
    writer.close()
    reader.close()


@sysv
def test_sysv_keys(names):
    _, key = names
    with pytest.raises(ValueError, match="IPC_PRIVATE"):
        pymmap.sysv_attach(0, 10, create=True)
    with pytest.raises(OverflowError):
        pymmap.sysv_attach(2**32, 10, create=True)
    with pytest.raises(TypeError):
        pymmap.sysv_attach(1.5)
    # A key written in hex in C (unsigned here) names the same segment as its signed twin.
    unsigned = key | 0x80000000
    m = pymmap.sysv_attach(unsigned, 10, create=True)
    try:
        other = pymmap.sysv_attach(unsigned - 2**32)
        other.close()
    finally:
        m.close()
        pymmap.sysv_remove(unsigned)


@sysv
def test_sysv_errors(names):
    _, key = names
    with pytest.raises(FileNotFoundError) as missing:
        pymmap.sysv_attach(key)
    assert missing.value.filename == f"System V key {key:#010x}"  # (the message names the key)
    with pytest.raises(ValueError, match="size greater than 0"):
        pymmap.sysv_attach(key, create=True)
    pymmap.sysv_attach(key, 100, create=True).close()
    with pytest.raises(FileExistsError):
        pymmap.sysv_attach(key, 100, create=True)
    with pytest.raises(OSError) as info:
        pymmap.sysv_attach(key, 200)  # larger than the segment
    assert info.value.errno == errno.EINVAL


@sysv
def test_sysv_remove(names):
    _, key = names
    m = pymmap.sysv_attach(key, 100, create=True)
    pymmap.sysv_remove(key)
    with pytest.raises(FileNotFoundError):
        pymmap.sysv_attach(key)
    m[0] = 3  # still attached: the memory lives until the last detach
    assert m[0] == 3
    m.close()
    with pytest.raises(FileNotFoundError):
        pymmap.sysv_remove(key)


@sysv
def test_sysv_failed_attach_removes_a_new_segment(names, monkeypatch):
    _, key = names

    def fail(shmid, writable):
        raise OSError(errno.ENOMEM, "no room")

    monkeypatch.setattr(backend, "shm_attach", fail)
    with pytest.raises(OSError, match="no room"):
        pymmap.sysv_attach(key, 100, create=True)
    monkeypatch.undo()
    with pytest.raises(FileNotFoundError):
        pymmap.sysv_attach(key)


@sysv
def test_sysv_close_and_trace(names):
    _, key = names
    lines = []
    with pymmap.trace(lines.append):
        m = pymmap.sysv_attach(key, 4096, create=True)
        m.close()
        m.close()  # idempotent: one shmdt
        pymmap.sysv_remove(key)
    calls = [str(line) for line in lines]
    assert calls[0].startswith(f"shmget({key:#x}, 4096, IPC_CREAT|IPC_EXCL|0600) = ")
    assert calls[1].endswith(", IPC_STAT, {shm_segsz=4096, shm_nattch=0, ...}) = 0")
    assert calls[2].endswith(", NULL, 0) = " + hex(lines[2].result))
    if sys.implementation.name == "cpython":
        assert calls[3] == f"shmdt({hex(lines[2].result)}) = 0"
    else:
        # PyPy cannot tell whether anyone else still holds the memory, so
        # close() always swaps in a placeholder (which detaches the segment).
        assert calls[3].startswith(f"mmap({hex(lines[2].result)}, 4096, PROT_READ|PROT_WRITE, "
                                   "MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS")
    assert calls[4].startswith(f"shmget({key:#x}, 0, 0) = ")
    assert calls[5].endswith(", IPC_RMID, NULL) = 0")
    assert len(calls) == 6


@sysv
def test_sysv_close_while_memory_is_in_use_detaches_at_once(names):
    # Another holder of the memory (here a view of the region's own array)
    # makes close() swap in a placeholder; the segment is detached at once,
    # and the placeholder is later given back with munmap, not shmdt.
    _, key = names
    m = pymmap.sysv_attach(key, 4096, create=True)
    m[:4] = b"data"
    held = memoryview(m._region.array).cast("B")
    lines = []
    with pymmap.trace(lines.append):
        m.close()
        assert _attachments(key) == 0
        assert bytes(held[:4]) == bytes(4)  # zeros, not a crash
        held.release()
        del held
        gc.collect()
        gc.collect()
    names_called = [line.name for line in lines]
    assert "shmdt" not in names_called
    if sys.implementation.name == "cpython":
        assert names_called[-1] == "munmap"


@sysv
def test_sysv_record_blocks_close(names):
    _, key = names
    m = pymmap.sysv_attach(key, 64, create=True)
    rec = m.record(ctypes.c_uint32 * 2, 8)
    rec[1] = 99
    with pytest.raises(BufferError):
        m.close()
    del rec
    gc.collect()
    m.close()
    assert _attachments(key) == 0


# --- the C peer ------------------------------------------------------------------------------------


def _check_first(m):
    """Read everything shm_peer wrote, three ways."""
    at = cpeer.RECORD_AT
    t = m.typed("little")
    first = cpeer.FIRST
    for field in ("u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64"):
        offset = at + getattr(cpeer.Record, field).offset
        assert getattr(t, field)[offset] == first[field], field
    assert t.char[at + cpeer.Record.tag.offset] == first["tag"]
    assert t.string(at + cpeer.Record.name.offset, 12) == first["name"]
    assert m.typed("big").u32[at + cpeer.BE_WORD_AT] == first["be_word"]
    assert t.u8[at - 1] == t.u8[at + cpeer.RECORD_SIZE] == cpeer.GUARD

    values = m.unpack_from(cpeer.LITTLE_FORMAT, at)
    assert values[:10] == tuple(first[f] for f in ("u8", "i8", "u16", "i16", "u32", "i32",
                                                   "u64", "i64", "f32", "f64"))
    assert values[10] == first["tag"].encode() and values[11].rstrip(b"\0") == first["name"]
    assert m.unpack_from(">I", at + cpeer.BE_WORD_AT) == (first["be_word"],)

    rec = m.record(cpeer.Record, at)
    word = m.record(cpeer.BigWord, at + cpeer.BE_WORD_AT)
    assert (rec.u16, rec.i64, rec.f64, rec.tag, rec.name) == (
        first["u16"], first["i64"], first["f64"], first["tag"].encode(), first["name"])
    assert word.word == first["be_word"]
    del rec, word


def _write_second_with_typed(m):
    at = cpeer.RECORD_AT
    t = m.typed("little")
    second = cpeer.SECOND
    for field in ("u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64"):
        getattr(t, field)[at + getattr(cpeer.Record, field).offset] = second[field]
    t.char[at + cpeer.Record.tag.offset] = second["tag"]
    t.set_string(at + cpeer.Record.name.offset, 12, second["name"])
    m.typed("big").u32[at + cpeer.BE_WORD_AT] = second["be_word"]


def _write_second_with_record_and_pack_into(m):
    at = cpeer.RECORD_AT
    second = cpeer.SECOND
    rec = m.record(cpeer.Record, at)
    for field in ("u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64"):
        setattr(rec, field, second[field])
    # ctypes copies bytes into a c_char array field only up to their first
    # NUL (plus one NUL), leaving the rest as it was: clear the field first,
    # as C's strncpy would pad it.  (typed().set_string() pads by itself.)
    ctypes.memset(ctypes.addressof(rec) + cpeer.Record.name.offset, 0, 12)
    rec.name = second["name"]
    del rec
    m.pack_into("<c", at + cpeer.Record.tag.offset, second["tag"].encode())
    m.pack_into(">I", at + cpeer.BE_WORD_AT, second["be_word"])
    gc.collect()


@sysv
def test_c_writes_python_reads_and_writes_back_c_verifies(peer, names):
    name, key = names
    proc = cpeer.run(peer, "write", name, key)
    assert proc.returncode == 0, proc.stderr
    posix = pymmap.shm_open(name)
    sysv = pymmap.sysv_attach(key)
    assert len(posix) == len(sysv) == cpeer.SIZE
    _check_first(posix)
    _check_first(sysv)
    proc = cpeer.run(peer, "verify", name, key)  # nothing written back yet
    assert proc.returncode == 1 and "posix: u8 differs" in proc.stderr
    _write_second_with_typed(posix)
    _write_second_with_record_and_pack_into(sysv)
    proc = cpeer.run(peer, "verify", name, key)  # while Python still has them mapped
    assert (proc.returncode, proc.stderr) == (0, "")
    posix.close()
    sysv.close()
    proc = cpeer.run(peer, "verify", name, key)
    assert (proc.returncode, proc.stderr) == (0, "")


@sysv
def test_python_creates_and_c_verifies(peer, names):
    name, key = names
    maps = [pymmap.shm_open(name, cpeer.SIZE, create=True),
            pymmap.sysv_attach(key, cpeer.SIZE, create=True)]
    for m, write in zip(maps, (_write_second_with_record_and_pack_into, _write_second_with_typed)):
        write(m)
        m[cpeer.RECORD_AT - 1] = m[cpeer.RECORD_AT + cpeer.RECORD_SIZE] = cpeer.GUARD
        m.close()
    proc = cpeer.run(peer, "verify", name, key)
    assert (proc.returncode, proc.stderr) == (0, "")
    # The peer notices a wrong value (and the guards catch a write too far).
    with pymmap.sysv_attach(key) as m:
        m.typed().i16[cpeer.RECORD_AT + cpeer.Record.i16.offset] = 1
        m[cpeer.RECORD_AT + cpeer.RECORD_SIZE] = 0
    proc = cpeer.run(peer, "verify", name, key)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == ["sysv: i16 differs", "sysv: guard after differs"]


@sysv
def test_shmid_ds_matches_the_c_headers(peer):
    proc = cpeer.run(peer, "layout")
    assert proc.returncode == 0
    assert proc.stdout.split() == [str(ctypes.sizeof(backend.shmid_ds)),
                                   str(backend.shmid_ds.shm_segsz.offset),
                                   str(backend.shmid_ds.shm_nattch.offset)]


def test_record_layout_matches_the_struct_format():
    assert struct.calcsize(cpeer.LITTLE_FORMAT) == ctypes.sizeof(cpeer.Record) == cpeer.BE_WORD_AT
