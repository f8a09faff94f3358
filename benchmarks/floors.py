"""What pure Python cannot go below: the cost of the steps every pymmap method is made of.

    python benchmarks/floors.py            # on the running interpreter
    python benchmarks/floors.py --quick

The C module's small methods take 35-170 ns on CPython.  A method written
in Python pays, before any work of its own, for being called (the
interpreter sets up a frame), and a method that changes the position or
stores pays for the map's lock as well (README, *Threads*).  This script
times those steps alone, with bare stand-ins that do nothing else, next to
the stdlib's whole operation, so that a row of ``run.py`` above its target
can be compared with the least that any pure-Python design would pay for
it.  ``benchmarks/README.md`` quotes the results.

Each floor is a bare class or function doing only the named steps, on a
ctypes array and a memoryview over it, as pymmap's region has them.
"""

import argparse
import ctypes
import mmap as std_mmap
import os
import struct
import sys
import tempfile
import threading
import timeit
from pickle import PickleBuffer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from run import _fmt  # noqa: E402

SIZE = 65536
U32 = struct.Struct("<I")


class Bare:
    """Stand-ins for a map's methods: each does only what its name says."""

    def __init__(self):
        self.array = (ctypes.c_char * SIZE).from_buffer(bytearray(b"x" * 79 + b"\n") * (SIZE // 80 + 1))
        self.view = memoryview(self.array).cast("B")
        self.mutex = threading.RLock()
        self.pos = 0
        self.borrow = PickleBuffer(self.view)

    def nothing(self):
        return None

    def locked_nothing(self):
        mutex = self.mutex
        try:
            mutex.acquire()
            return None
        finally:
            mutex.release()

    def __getitem__(self, i):
        return self.view[i]

    def __setitem__(self, i, v):
        mutex = self.mutex
        try:
            mutex.acquire()
            self.view[i] = v
        finally:
            mutex.release()

    def seek(self, pos):
        mutex = self.mutex
        try:
            mutex.acquire()
            self.pos = pos
            return pos
        finally:
            mutex.release()

    def readline(self):
        # The least a line costs: the lock, a copy of the bytes ahead,
        # bytes.find, the line cut from the copy, the position moved.
        mutex = self.mutex
        try:
            mutex.acquire()
            pos = self.pos
            head = self.array[pos:pos + 256]
            eol = head.find(b"\n")
            self.pos = pos + eol + 1
            return head[:eol + 1]
        finally:
            mutex.release()

    def __buffer__(self, flags):
        return memoryview(self.borrow)

    def __release_buffer__(self, view):
        pass


def rows(quick):
    number, rounds = (20000, 3) if quick else (100000, 7)
    bare = Bare()
    with tempfile.TemporaryFile() as f:
        f.truncate(SIZE)
        std = std_mmap.mmap(f.fileno(), 0)
        std[:] = bytes(bare.array)
        fd = f.fileno()
        libc = ctypes.CDLL(None, use_errno=True)
        labs = libc.labs
        labs.argtypes = [ctypes.c_long]
        labs.restype = ctypes.c_long
        mutex = threading.RLock()

        def lock_pair():
            mutex.acquire()
            mutex.release()

        def with_lock():
            with mutex:
                pass

        def store_std():
            std[1000] = 65

        def store_bare():
            bare[1000] = 65

        def seek_readline_std():
            std.seek(800)
            std.readline()

        def seek_readline_bare():
            bare.seek(800)
            bare.readline()

        items = [
            ("a Python method call (o.f())", None, bare.nothing),
            ("RLock acquire() + release()", None, lock_pair),
            ("RLock in a with statement", None, with_lock),
            ("a locked Python method (call + lock)", None, bare.locked_nothing),
            ("o[i] through a Python __getitem__", lambda: std[1000], lambda: bare[1000]),
            ("o[i] = v through a Python __setitem__ + lock", store_std, store_bare),
            ("seek + readline, the least a line costs", seek_readline_std, seek_readline_bare),
            ("a ctypes foreign call (labs)", None, lambda: labs(-5)),
            ("os.fstat(fd).st_size (what size() needs)", std.size, lambda: os.fstat(fd).st_size),
        ]
        if sys.version_info >= (3, 12) and sys.implementation.name == "cpython":
            items.append(("struct.unpack_from through a Python __buffer__ (PEP 688)",
                          lambda: U32.unpack_from(std, 1000), lambda: U32.unpack_from(bare, 1000)))
        results = []
        for name, std_fn, floor_fn in items:
            timers = [timeit.Timer(floor_fn)] + ([timeit.Timer(std_fn)] if std_fn else [])
            best = [float("inf")] * len(timers)
            for _ in range(rounds):
                for k, timer in enumerate(timers):
                    best[k] = min(best[k], timer.timeit(number) / number)
            results.append((name, best[0], best[1] if std_fn else None))
        std.close()
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    print(f"floors -- {sys.implementation.name} {sys.version.split()[0]}")
    print(f"  {'step':58s} {'floor':>8s} {'stdlib':>8s} {'ratio':>6s}")
    for name, floor, std in rows(args.quick):
        ratio = f"{floor / std:6.2f}" if std else ""
        print(f"  {name:58s} {_fmt(floor):>8s} {_fmt(std) if std else '':>8s} {ratio:>6s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
