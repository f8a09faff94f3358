"""A program that uses pymmap as typed code would: it must pass ``mypy --strict``.

Drop-in use (``import pymmap as mmap``), the README's examples, typed
access and records.  tests/test_typing.py checks it; nothing runs it.
"""

import ctypes
import os
import re
from typing import List, Optional, Tuple

import pymmap
import pymmap as mmap


def first_line(path: str) -> bytes:
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        line: bytes = m.readline()
        head: bytes = m[0:10]
        byte: int = m[0]
        where: int = m.find(b"\n", 0)
        m.rfind(bytearray(b"x"))
        return line + head + bytes([byte]) + str(where).encode()


def patch(path: str) -> int:
    with open(path, "r+b") as f:
        m = mmap.mmap(f.fileno(), 0)
        m[0] = 65
        m[1:3] = b"BC"
        m[3:5] = bytearray(b"DE")
        m[5:6] = memoryview(b"F")
        m.move(0, 6, 2)
        m.flush()
        m.seek(0, os.SEEK_SET)
        written: int = m.write(b"xyz")
        m.close()
        return written


def anonymous() -> Tuple[int, int]:
    m = mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    m.madvise(mmap.MADV_DONTNEED)
    m.protect(mmap.PROT_READ, 0, mmap.PAGESIZE)
    m.protect(mmap.PROT_READ | mmap.PROT_WRITE)
    found = re.search(rb"\x00+", m)
    return len(m), 0 if found is None else found.end()


def checked_and_pages() -> List[Optional[bool]]:
    m = pymmap.mmap(-1, 4 * pymmap.PAGESIZE, checked=True)
    m[0] = 1
    states = m.pages()
    print(states)
    return [state.mapped for state in states]


class Sample(ctypes.LittleEndianStructure):
    _pack_ = 1
    _fields_ = [("count", ctypes.c_uint16), ("total", ctypes.c_int32)]


def shared_with_c(name: str) -> Tuple[int, float, bytes]:
    m = pymmap.shm_open(name, 4096, create=True)
    t = m.typed("little")
    t.i32[6] = -5
    values: List[float] = t.f64.array(16, 4)
    text: bytes = t.string(43, 12)
    t.set_string(43, 12, b"probe")
    word: int = m.typed("big").u32[55]
    fields: Tuple[int, ...] = m.unpack_from("<HhI", 2)
    m.pack_into("<H", 2, 513)
    rec = m.record(Sample, 2)
    rec.count += 1
    count: int = rec.count
    del rec
    m.close()
    pymmap.shm_unlink(name)
    return count + word + sum(fields), values[0], text


def traced() -> None:
    with pymmap.trace():
        m = pymmap.mmap(-1, 4096)
        m.close()
