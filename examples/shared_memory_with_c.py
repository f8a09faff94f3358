"""Shared memory with a C program: typed values at byte offsets.

The scenario comes from a reader's comment under effbot's mmap page (2007):

    "I use shared memory in C for much of my work in Linux.  Most of my data
    is numeric values in Intel byte order (8-bit, 16-bit, 32-bit), signed and
    unsigned.  A few special cases are signed chars that would best be
    represented as a printable ASCII char.  A very few char strings are used;
    those require some knowledge of the field length.  Access to those data
    types using a byte offset from the start of the mapped area would be a
    fine general purpose addition.  Perhaps a flag indicating big endian or
    little endian would make it more general."

The C side is ``tests/c_peer/shm_peer.c``.  It creates a POSIX shared memory
object and a System V segment, and writes into each, from byte 16 on, one
packed record (``#pragma pack(1)``, little-endian, so nothing is aligned)::

    offset  C type       field       offset  C type       field
    16      uint8_t      u8          38      int64_t      i64
    17      int8_t       i8          46      float        f32
    18      uint16_t     u16         50      double       f64
    20      int16_t      i16         58      char         tag (printable ASCII)
    22      uint32_t     u32         59      char[12]     name (NUL-padded)
    26      int32_t      i32         71      uint32_t     word, big-endian
    30      uint64_t     u64

This program reads the record by byte offset (``m.typed("little")``, and
``m.typed("big")`` for the last word), all at once (``m.unpack_from``) and
as a ctypes structure living in the map (``m.record``); then it writes new
values back, and the C program checks every one of them.

If no C compiler is found, a few lines of Python play the C program's part
(with plain ``struct``, not pymmap's typed access), and the first line of
output says so.  Run it from the repository root:

    PYTHONPATH=. python examples/shared_memory_with_c.py
"""

# pymmap-only: typed access and shared memory have no stdlib equivalent.
# needs: cc (the output's first line differs when the C side is simulated).

import contextlib
import ctypes
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import _samples  # noqa: F401 - (from a fresh clone: puts the checkout's pymmap on the path)

import pymmap as mmap

PEER_SOURCE = Path(__file__).resolve().parent.parent / "tests" / "c_peer" / "shm_peer.c"
SIZE = 4096
AT = 16  # where the record starts
FIELDS = [  # (name, typed accessor, offset in the record)
    ("u8", "u8", 0), ("i8", "i8", 1), ("u16", "u16", 2), ("i16", "i16", 4),
    ("u32", "u32", 6), ("i32", "i32", 10), ("u64", "u64", 14), ("i64", "i64", 22),
    ("f32", "f32", 30), ("f64", "f64", 34),
]
TAG_AT, NAME_AT, NAME_LEN, WORD_AT = 42, 43, 12, 55


class Record(ctypes.LittleEndianStructure):
    """The C program's ``struct record``, up to its big-endian word."""

    _layout_ = "ms"  # which rules _pack_ follows (ctypes asks since 3.14)
    _pack_ = 1
    _fields_ = [("u8", ctypes.c_uint8), ("i8", ctypes.c_int8), ("u16", ctypes.c_uint16),
                ("i16", ctypes.c_int16), ("u32", ctypes.c_uint32), ("i32", ctypes.c_int32),
                ("u64", ctypes.c_uint64), ("i64", ctypes.c_int64), ("f32", ctypes.c_float),
                ("f64", ctypes.c_double), ("tag", ctypes.c_char), ("name", ctypes.c_char * 12)]


class Word(ctypes.BigEndianStructure):
    _fields_ = [("word", ctypes.c_uint32)]


# The values shm_peer.c expects back (its SECOND set).
NEW = dict(u8=7, i8=-7, u16=0xFFFF, i16=-32768, u32=4000000000, i32=-(2**31), u64=2**64 - 1,
           i64=-(2**63), f32=-0.5, f64=3.141592653589793, tag="z", name=b"python", word=0xCAFEBABE)


# --- the C side: the compiled peer, or a stand-in -----------------------------------------


def build_peer(directory):
    """Compile shm_peer.c into ``directory``; return its path, or None without a compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None or not PEER_SOURCE.exists():
        return None
    program = os.path.join(directory, "shm_peer")
    for extra in ([], ["-lrt"]):  # glibc before 2.34 keeps shm_open in librt
        command = [compiler, "-std=c99", "-O1", "-o", program, str(PEER_SOURCE), *extra]
        if subprocess.run(command, capture_output=True).returncode == 0:
            return program
    return None


FORMAT = struct.Struct("<BbHhIiQqfdc12s")  # the record up to the word, for the stand-in


def simulated_c(command, name, key):
    """Do what ``shm_peer write|verify`` does, with plain struct, for machines without cc."""
    if command == "write":
        record = FORMAT.pack(200, -100, 0xBEEF, -12345, 0xDEADBEEF, -123456789, 0x0123456789ABCDEF,
                             -1234567890123456789, 1.5, -2.25, b"A", b"sensor-7")
        record += struct.pack(">I", 0x11223344)
        for m in (mmap.shm_open(name, SIZE, create=True), mmap.sysv_attach(key, SIZE, create=True)):
            m[AT - 1:AT + len(record) + 1] = b"\xa5" + record + b"\xa5"
            m.close()
        return 0
    expected = FORMAT.pack(*(NEW[f] for f, _, _ in FIELDS), NEW["tag"].encode(), NEW["name"])
    expected = b"\xa5" + expected + struct.pack(">I", NEW["word"]) + b"\xa5"
    status = 0
    for m in (mmap.shm_open(name), mmap.sysv_attach(key)):
        if m[AT - 1:AT + len(expected) - 1] != expected:
            status = 1
        m.close()
    return status


def c_side(peer, command, name, key):
    """Run the C side's ``write`` or ``verify`` step; return its exit status."""
    if peer is None:
        return simulated_c(command, name, key)
    return subprocess.run([peer, command, name, str(key)]).returncode


# --- the Python side ------------------------------------------------------------------------


def show(m):
    """Read the record by byte offset, then whole, with typed() and unpack_from()."""
    t = m.typed("little")  # Intel byte order
    for field, accessor, offset in FIELDS:
        value = getattr(t, accessor)[AT + offset]
        hint = f" ({value:#x})" if field in ("u16", "u32") else ""
        print(f"  {field:4} @{AT + offset:<3} {value}{hint}")
    print(f"  char @{AT + TAG_AT:<3} {t.char[AT + TAG_AT]!r}")
    print(f"  name @{AT + NAME_AT:<3} {t.string(AT + NAME_AT, NAME_LEN)!r} ({NAME_LEN}-byte field)")
    print(f"  word @{AT + WORD_AT:<3} {m.typed('big').u32[AT + WORD_AT]:#x} (big-endian)")
    print(f"  unpack_from('<BbHhIiQqfdc12s', {AT}) = {m.unpack_from('<BbHhIiQqfdc12s', AT)[:4]} ...")


def main():
    name = f"/pymmap-example-{os.getpid()}-{random.getrandbits(24):06x}"
    key = random.randrange(0x50000000, 0x7FFFFFFF)
    build_dir = tempfile.mkdtemp(prefix="pymmap-example-")
    try:
        peer = build_peer(build_dir)
        if peer is not None:
            print("C side: tests/c_peer/shm_peer.c, compiled with the system's C compiler")
        else:
            print("C side: simulated in Python (no C compiler found)")
        print("C wrote its record, exit status", c_side(peer, "write", name, key))

        posix = mmap.shm_open(name)      # POSIX shared memory, by name
        sysv = mmap.sysv_attach(key)     # System V shared memory, by key
        print(f"\nPOSIX object {len(posix)} bytes, System V segment {sysv.size()} bytes")
        print("The record in the POSIX object, by byte offset:")
        show(posix)

        rec = sysv.record(Record, AT)    # a ctypes structure living in the segment
        word = sysv.record(Word, AT + WORD_AT)
        print("The record in the System V segment, as a ctypes structure:")
        print(f"  rec.u16 = {rec.u16:#x}, rec.i64 = {rec.i64}, rec.tag = {rec.tag!r}, "
              f"rec.name = {rec.name!r}, word = {word.word:#x}")

        t = posix.typed("little")
        for bad in (lambda: t.u8.__setitem__(AT, 300), lambda: t.u32[SIZE - 2]):
            try:
                bad()
            except (OverflowError, IndexError) as exc:
                print(f"  {type(exc).__name__}: {exc}")

        print("\nPython writes new values: typed() into the POSIX object, the record into the segment")
        for field, accessor, offset in FIELDS:
            getattr(t, accessor)[AT + offset] = NEW[field]
        t.char[AT + TAG_AT] = NEW["tag"]
        t.set_string(AT + NAME_AT, NAME_LEN, NEW["name"])  # pads the field with NULs
        posix.typed("big").u32[AT + WORD_AT] = NEW["word"]
        for field, _, _ in FIELDS:
            setattr(rec, field, NEW[field])
        rec.tag = NEW["tag"].encode()
        # ctypes copies bytes into a c_char[] field only up to their first
        # NUL, leaving the old text behind; set_string() pads the field.
        sysv.typed().set_string(AT + NAME_AT, NAME_LEN, NEW["name"])
        word.word = NEW["word"]
        del rec, word                    # a live record keeps close() from pulling the memory away
        posix.close()
        sysv.close()                     # shmdt(2)
        print("C checked every value, exit status", c_side(peer, "verify", name, key))
    finally:
        for remove, what in ((mmap.shm_unlink, name), (mmap.sysv_remove, key)):
            with contextlib.suppress(FileNotFoundError):  # named memory outlives us: remove it
                remove(what)
        shutil.rmtree(build_dir)
    print("Removed the POSIX object and the System V segment.")


if __name__ == "__main__":
    sys.exit(main())
