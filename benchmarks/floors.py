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
ctypes array and a memoryview over it, as pymmap's region has them; the
table gives the stdlib's time for the same operation, and pymmap's.  On
PyPy only the rows without memory are timed (the stand-ins' ctypes arrays
are slow there; pymmap's own memory goes through cffi).
"""

import argparse
import ctypes
import fcntl
import mmap as std_mmap
import os
import struct
import sys
import tempfile
import threading
import timeit
import weakref
from pickle import PickleBuffer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from run import _fmt  # noqa: E402

import pymmap  # noqa: E402
from pymmap import _constructor  # noqa: E402

SIZE = 65520  # 819 lines of 80 bytes, the last ending the map
#: The workload rows take microseconds to milliseconds: this many times fewer runs.
SLOW = 200
PYPY = sys.implementation.name == "pypy"
U32 = struct.Struct("<I")


class Bare:
    """Stand-ins for a map's methods: each does only what its name says.

    A locked stand-in takes a re-entrant lock, as pymmap's methods do
    (README, *Threads*); none checks its arguments, the map's state or
    its bounds, which pymmap's methods must do and the C module does too.
    """

    def __init__(self):
        self.array = (ctypes.c_char * SIZE).from_buffer(bytearray(b"x" * 79 + b"\n") * (SIZE // 80))
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

    def __getitem__(self, item):
        # An item: the view's; a slice: a copy from the array.
        if item.__class__ is int:
            return self.view[item]
        return self.array[item]

    def __setitem__(self, item, value):
        mutex = self.mutex
        try:
            mutex.acquire()
            self.view[item] = value
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

    def read_byte(self):
        mutex = self.mutex
        try:
            mutex.acquire()
            pos = self.pos
            self.pos = pos + 1
            return self.view[pos]
        finally:
            mutex.release()

    def read(self, n):
        mutex = self.mutex
        try:
            mutex.acquire()
            pos = self.pos
            self.pos = pos + n
            return self.array[pos:pos + n]
        finally:
            mutex.release()

    def write(self, data):
        mutex = self.mutex
        try:
            mutex.acquire()
            pos = self.pos
            n = len(data)
            self.view[pos:pos + n] = data
            self.pos = pos + n
            return n
        finally:
            mutex.release()

    def readline(self):
        # The least a line costs: the lock, a copy of the bytes ahead,
        # bytes.find, the line cut from the copy, the position moved.
        # (The stand-in's data ends with a newline, and no line is longer
        # than the copy: at the end the copy is empty, and so is the line.)
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

    def pack_into(self, offset, value):
        # A number packed, then stored under the lock: what a typed store
        # and m.pack_into() need.
        data = U32.pack(value)
        mutex = self.mutex
        try:
            mutex.acquire()
            self.view[offset:offset + 4] = data
        finally:
            mutex.release()

    def unpack_item(self, offset):
        # A number read from the view: what a typed read needs.
        return U32.unpack_from(self.view, offset)[0]

    def __contains__(self, value):
        # A copy of the first bytes, searched (what find() from 0 needs).
        return self.array[:256].find(value) >= 0

    def find(self, sub, start, end):
        # A copy of the range, searched: what a short find needs.
        return start + self.array[start:end].find(sub)

    def move(self, dest, src, count):
        mutex = self.mutex
        try:
            mutex.acquire()
            view = self.view
            view[dest:dest + count] = view[src:src + count]
        finally:
            mutex.release()

    def __buffer__(self, flags):
        return memoryview(self.borrow)

    def __release_buffer__(self, view):
        pass


def _bare_mapping(fd):
    """Two stand-ins for ``mmap(fd, 0)`` + ``close()``: its system calls, without and with a safe map's objects.

    The calls are those the constructor and ``close()`` make (``strace``
    shows the same ones for the C module): ``fstat``, ``fcntl(F_DUPFD_CLOEXEC)``
    (the map's own descriptor), ``mmap``, ``close`` and ``munmap``, through
    ctypes where ``os`` has no such call.  The objects are the least that
    keeps a map safe by construction (README, *Safety*): a lock, a ctypes
    array over the mapping whose death unmaps it (a weak reference's
    callback), and the memoryview the methods use.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    c_mmap, c_munmap = libc.mmap, libc.munmap
    c_mmap.restype = ctypes.c_void_p
    c_mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int64]
    c_munmap.restype = ctypes.c_int
    c_munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    shared, rw = std_mmap.MAP_SHARED, std_mmap.PROT_READ | std_mmap.PROT_WRITE

    def calls():
        size = os.stat(fd).st_size
        own = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 0)
        address = c_mmap(None, size, rw, shared, fd, 0)
        os.close(own)
        c_munmap(address, size)

    class Map:
        pass

    def objects(read=None):
        size = os.stat(fd).st_size if read is None else read((fd, 0), {})[1]
        m = Map()
        m.fd = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 0)
        address = c_mmap(None, size, rw, shared, fd, 0)
        m.mutex = threading.RLock()
        array = (ctypes.c_char * size).from_address(address)
        m.death = weakref.ref(array, lambda ref: c_munmap(address, size))
        m.view = memoryview(array).cast("B")
        m.array = array
        del array
        # close()
        with m.mutex:
            m.view.release()
            m.view = m.array = None  # the array dies: munmap
            os.close(m.fd)

    def drop_in():
        # The arguments read as the C module reads them (pymmap's own
        # reader: its checks, its audit event, and the fstat that length 0 needs).
        objects(_constructor.read)

    return calls, objects, drop_in


def _lines(m, bare=False):
    """Every line of the map, from the start, through ``iter(readline, b"")``: the loop of the workload."""
    def run():
        if bare:
            m.pos = 0
        else:
            m.seek(0)
        for _ in iter(m.readline, b""):
            pass
    return run


def rows(quick):
    number, rounds = (20000, 3) if quick else (100000, 7)
    bare = Bare()
    with tempfile.TemporaryFile() as f:
        f.truncate(SIZE)
        std = std_mmap.mmap(f.fileno(), 0)
        std[:] = bytes(bare.array)
        py = pymmap.mmap(f.fileno(), 0)
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

        maps = (std, bare, py)

        def pair(stmt):
            """The same statement on the stdlib map, the stand-in and pymmap's map: three functions."""
            return tuple(eval(f"lambda: {stmt}", {"m": m, "U32": U32}) for m in maps)

        def pair_of(statements):
            """Two statements, run in turn, on each map (a seek, then a read)."""
            made = [pair(stmt) for stmt in statements]

            def side(k):
                def run():
                    for fns in made:
                        fns[k]()
                return run
            return tuple(side(k) for k in range(3))

        def store(m):
            def run():
                m[1000] = 65
            return run

        typed = py.typed()

        def typed_store():
            typed.u32[1000] = 7

        def store_slice(m):
            def run():
                m[1000:1008] = b"12345678"
            return run

        items = [
            ("a Python method call (o.f())", None, bare.nothing, None),
            ("RLock acquire() + release()", None, lock_pair, None),
            ("RLock in a with statement", None, with_lock, None),
            ("a locked Python method (call + lock)", None, bare.locked_nothing, None),
            ("a ctypes foreign call (labs)", None, lambda: labs(-5), None),
            ("m[i]: a Python __getitem__", *pair("m[1000]")),
            ("m[i:i+64]: a Python __getitem__ + a copy", *pair("m[1000:1064]")),
            ("m[i] = v: a Python __setitem__ + lock", *map(store, maps)),
            ("m[i:i+8] = bytes: __setitem__ + lock + a store", *map(store_slice, maps)),
            ("seek(i): call + lock", *pair("m.seek(1000)")),
            ("seek + read_byte()", *pair_of(["m.seek(1000)", "m.read_byte()"])),
            ("seek + read(16)", *pair_of(["m.seek(1000)", "m.read(16)"])),
            ("seek + write(16 bytes)", *pair_of(["m.seek(1000)", "m.write(b'0123456789abcdef')"])),
            ("seek + readline(): lock, copy ahead, find, cut", *pair_of(["m.seek(800)", "m.readline()"])),
            ("find(b'\\n', i, i+256): call + a copy + bytes.find", *pair("m.find(b'\\n', 1000, 1256)")),
            ("move(64 bytes): call + lock + a view store", *pair("m.move(1000, 2000, 64)")),
            ("b'x' in m (at the start): a copy + bytes.find", *pair("b'x' in m")),
            ("typed().u32[off] (vs struct): call + unpack_from", lambda: U32.unpack_from(std, 1000)[0],
             lambda: bare.unpack_item(1000), lambda: typed.u32[1000]),
            ("typed().u32[off] = v (vs struct): call + pack + lock", lambda: U32.pack_into(std, 1000, 7),
             lambda: bare.pack_into(1000, 7), typed_store),
            ("m.pack_into('<I', off, v): the same", lambda: U32.pack_into(std, 1000, 7),
             lambda: bare.pack_into(1000, 7), lambda: py.pack_into(U32, 1000, 7)),
            ("fstat(2) through os.stat(fd) (what size() needs)", std.size, lambda: os.stat(fd).st_size, py.size),
        ]
        if PYPY:
            # The stand-ins reach memory through ctypes, which PyPy's JIT
            # cannot see through (pymmap uses cffi there: README, PyPy):
            # only the steps without memory mean anything.
            items = items[:5] + items[-1:]
        else:
            # Whole workloads, per run (the loops of run.py's workloads):
            # 819 lines of 80 bytes; a map made and closed.
            calls, objects, drop_in = _bare_mapping(fd)
            whole = [
                ("iter(m.readline, b''): 819 lines, readline's floor",
                 _lines(std), _lines(bare, bare=True), _lines(py)),
                ("mmap(fd, 0) + close(): its system calls alone",
                 lambda: std_mmap.mmap(fd, 0).close(), calls, lambda: pymmap.mmap(fd, 0).close()),
                ("mmap + close: the calls, a lock, an array, a view",
                 lambda: std_mmap.mmap(fd, 0).close(), objects, lambda: pymmap.mmap(fd, 0).close()),
                ("... and the arguments read as the C module does",
                 lambda: std_mmap.mmap(fd, 0).close(), drop_in, lambda: pymmap.mmap(fd, 0).close()),
            ]
            items += [(name, *fns, SLOW) for name, *fns in whole]
        if sys.version_info >= (3, 12) and not PYPY:
            items.append(("struct.unpack_from through a Python __buffer__ (PEP 688)",
                          *pair("U32.unpack_from(m, 1000)")))
        results = []
        for name, std_fn, floor_fn, py_fn, *slow in items:
            fns = [floor_fn, std_fn, py_fn]
            count = number // slow[0] if slow else number
            timers = [timeit.Timer(fn) if fn else None for fn in fns]
            best = [float("inf") if fn else None for fn in fns]
            for _ in range(rounds):
                for k, timer in enumerate(timers):
                    if timer is not None:
                        best[k] = min(best[k], timer.timeit(count) / count)
            results.append((name, *best))
        std.close()
        py.close()
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    print(f"floors -- {sys.implementation.name} {sys.version.split()[0]}: "
          "the stdlib's operation, the least pure Python pays for it, and pymmap's")
    print(f"  {'operation, and what its floor is made of':52s} {'stdlib':>8s} {'floor':>8s} {'ratio':>6s}"
          f" {'pymmap':>8s} {'ratio':>6s}")
    for name, floor, std, py in rows(args.quick):
        def cell(t):
            return _fmt(t) if t is not None else ""

        def ratio(t):
            return f"{t / std:6.2f}" if t is not None and std else ""
        print(f"  {name:52s} {cell(std):>8s} {cell(floor):>8s} {ratio(floor):>6s} {cell(py):>8s} {ratio(py):>6s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
