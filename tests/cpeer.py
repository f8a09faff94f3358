"""The C peer of the shared-memory tests (``c_peer/shm_peer.c``), seen from Python.

:func:`build` compiles it with the system's C compiler; :data:`FIRST` and
:data:`SECOND` are the values it writes and the values it expects back;
:class:`Record` and :class:`BigWord` are its ``struct record`` as ctypes.
:func:`unique_names` gives each test its own POSIX name and System V key.
"""

import ctypes
import os
import random
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "c_peer" / "shm_peer.c"
SIZE = 4096
RECORD_AT = 16
GUARD = 0xA5


def compiler():
    """The C compiler to use, or None."""
    return shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def build(directory):
    """Compile the peer into ``directory``; return the program's path.

    glibc before 2.34 keeps ``shm_open`` in librt, so a failed link is
    retried with ``-lrt``.
    """
    program = str(Path(directory) / "shm_peer")
    command = [compiler(), "-std=c99", "-Wall", "-O1", "-o", program, str(SOURCE)]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        proc = subprocess.run([*command, "-lrt"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"cannot build the C peer:\n{proc.stderr}")
    return program


def run(program, *args):
    """Run the peer; return the finished process (output as text)."""
    return subprocess.run([program, *map(str, args)], capture_output=True, text=True, timeout=60)


def unique_names():
    """A POSIX name and a System V key no other test (or test run) uses."""
    name = f"/pymmap-test-{os.getpid()}-{random.getrandbits(32):08x}"
    key = random.randrange(0x50000000, 0x7FFFFFFF)
    return name, key


class Record(ctypes.LittleEndianStructure):
    """``struct record`` of shm_peer.c, but for its last, big-endian field."""

    _layout_ = "ms"  # which rules _pack_ follows (ctypes asks since 3.14)
    _pack_ = 1
    _fields_ = [
        ("u8", ctypes.c_uint8),
        ("i8", ctypes.c_int8),
        ("u16", ctypes.c_uint16),
        ("i16", ctypes.c_int16),
        ("u32", ctypes.c_uint32),
        ("i32", ctypes.c_int32),
        ("u64", ctypes.c_uint64),
        ("i64", ctypes.c_int64),
        ("f32", ctypes.c_float),
        ("f64", ctypes.c_double),
        ("tag", ctypes.c_char),
        ("name", ctypes.c_char * 12),
    ]


class BigWord(ctypes.BigEndianStructure):
    """The record's last field, at offset 55: a big-endian 32-bit word."""

    _fields_ = [("word", ctypes.c_uint32)]


BE_WORD_AT = ctypes.sizeof(Record)  # 55
RECORD_SIZE = BE_WORD_AT + 4  # 59
#: The whole record as one struct format: the little-endian fields, then the word.
LITTLE_FORMAT = "<BbHhIiQqfdc12s"

#: What ``shm_peer write`` stores.
FIRST = dict(u8=200, i8=-100, u16=0xBEEF, i16=-12345, u32=0xDEADBEEF, i32=-123456789,
             u64=0x0123456789ABCDEF, i64=-1234567890123456789, f32=1.5, f64=-2.25,
             tag="A", name=b"sensor-7", be_word=0x11223344)
#: What ``shm_peer verify`` expects.
SECOND = dict(u8=7, i8=-7, u16=0xFFFF, i16=-32768, u32=4000000000, i32=-(2**31),
              u64=2**64 - 1, i64=-(2**63), f32=-0.5, f64=3.141592653589793,
              tag="z", name=b"python", be_word=0xCAFEBABE)
