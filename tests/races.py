"""Thread races on one map, each judged by an invariant that the stdlib keeps.

The C module runs every method as one step: the GIL does that on default
builds, a critical section per method on free-threaded ones.  Each
scenario here makes several threads use one map at once and then checks
what "one step" promises: every byte written exactly once, every record
or line read exactly once, no position update lost, no read that sees a
half-done resize (zeros, or a map that looks closed), no write lost to a
mapping a resize retired.

A scenario is ``scenario(mod, kind, rng)``: ``mod`` is the module under
test (pymmap or the stdlib ``mmap``, which runs the same code to show the
invariant is real), ``kind`` the map to race on:

- ``"file"``: a file map (``ACCESS_WRITE``);
- ``"copy"``: a private copy of a file (``ACCESS_COPY``; never resized);
- ``"anon"``: anonymous memory (``MAP_PRIVATE`` where the scenario resizes:
  the stdlib refuses, or before 3.14 dies of SIGBUS, growing shared
  anonymous memory).

It raises ``AssertionError`` when the invariant breaks.  The file runs as
a program in a child process (a crash fails the test instead of killing
pytest)::

    python races.py MODULE SCENARIO KIND ROUNDS

with a thread switch interval of 1 µs, so that the threads of a default
build change hands between almost every two bytecodes.
"""

import collections
import ctypes
import os
import random
import struct
import sys
import tempfile
import threading
import time

THREADS = 8
WINDOWS = os.name == "nt"

#: pymmap's one known difference here, on CPython 3.8-3.11: C code borrows
#: a map's buffer there (``memoryview(m)``, ``struct.unpack_from(fmt, m)``)
#: through type slots that run no Python code, and so cannot wait for the
#: map's lock.  While another thread resizes the map, such a borrow raises
#: ``ValueError`` instead of waiting (the README's Threads section).  The
#: map's own ``buffer()`` and ``record()`` wait.  Set by ``main()``.
C_SLOTS_CANNOT_WAIT = False

#: False on PyPy, for pymmap and for PyPy's own mmap alike: PyPy never says
#: when a borrower is done with a buffer (it calls ``__buffer__`` but never
#: ``__release_buffer__``), so a map cannot count the memoryviews it lent,
#: and ``resize()`` and ``close()`` do not wait for them.  A view lent
#: before a resize may then show the bytes the resize left behind (pymmap:
#: zeros, never memory that is not mapped).  Records are counted on every
#: interpreter.
VIEWS_ARE_COUNTED = sys.implementation.name != "pypy"


# --- making maps ---------------------------------------------------------------------


class Maps:
    """The files behind one round's maps, removed at the end of the round."""

    def __init__(self, mod):
        self.mod = mod
        self.files = []

    def new(self, kind, data, resizable=False):
        """Return a ``kind`` map holding ``data`` (its length is the map's)."""
        mod = self.mod
        if kind == "anon":
            if resizable and not WINDOWS:
                m = mod.mmap(-1, len(data), flags=mod.MAP_PRIVATE)
            else:
                m = mod.mmap(-1, len(data))
            m[:] = data
            return m
        f = tempfile.TemporaryFile()
        f.write(data)
        f.flush()
        self.files.append(f)
        access = mod.ACCESS_COPY if kind == "copy" else mod.ACCESS_WRITE
        return mod.mmap(f.fileno(), len(data), access=access)

    def close(self):
        for f in self.files:
            f.close()


def run_threads(*targets):
    """Start one thread per target, all released together; re-raise the first failure."""
    barrier = threading.Barrier(len(targets))
    failures = []

    def wrap(target):
        barrier.wait()
        try:
            target()
        except BaseException as exc:  # the test wants every failure, not only AssertionError
            failures.append(exc)

    threads = [threading.Thread(target=wrap, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]


# --- the position: written, read and moved as one step -------------------------------


def write(mod, kind, rng, maps):
    """``write()`` from 8 threads: every tag lands whole, exactly once, and the position adds up."""
    count = 150
    m = maps.new(kind, bytes(THREADS * count * 4))

    def writer(n):
        tag = bytes([65 + n]) * 4
        return lambda: [m.write(tag) for _ in range(count)]

    run_threads(*[writer(n) for n in range(THREADS)])
    assert m.tell() == len(m), (m.tell(), len(m))
    data = m[:]
    slots = [data[i:i + 4] for i in range(0, len(data), 4)]
    torn = [s for s in slots if s != s[:1] * 4]
    assert not torn, f"{len(torn)} writes interleaved, e.g. {torn[0]!r}"
    counts = collections.Counter(slots)
    assert set(counts.values()) == {count}, counts


def write_byte(mod, kind, rng, maps):
    """``write_byte()`` from 8 threads: no byte lost or written twice."""
    count = 300
    m = maps.new(kind, bytes(THREADS * count))

    def writer(n):
        return lambda: [m.write_byte(65 + n) for _ in range(count)]

    run_threads(*[writer(n) for n in range(THREADS)])
    assert m.tell() == len(m), (m.tell(), len(m))
    counts = collections.Counter(m[:])
    assert set(counts.values()) == {count}, counts


def seek(mod, kind, rng, maps):
    """``seek(1, SEEK_CUR)`` from 8 threads: the position counts every one, and never goes back."""
    count = 500
    m = maps.new(kind, bytes(THREADS * count))

    def seeker():
        for _ in range(count):
            before = m.tell()
            m.seek(1, os.SEEK_CUR)
            assert m.tell() > before

    run_threads(*[seeker] * THREADS)
    assert m.tell() == THREADS * count, m.tell()


def read(mod, kind, rng, maps):
    """``read(4)`` from 8 threads: every record read exactly once."""
    records = [struct.pack(">I", i) for i in range(3000)]
    m = maps.new(kind, b"".join(records))
    seen = []

    def reader():
        for record in iter(lambda: m.read(4), b""):
            seen.append(record)

    run_threads(*[reader] * THREADS)
    assert m.tell() == len(m)
    assert sorted(seen) == records, collections.Counter(seen).most_common(3)


def read_byte(mod, kind, rng, maps):
    """``read_byte()`` from 8 threads: every byte read exactly once."""
    m = maps.new(kind, bytes(range(256)) * 12)
    seen = []

    def reader():
        while True:
            try:
                seen.append(m.read_byte())
            except ValueError:  # read byte out of range: the end
                return

    run_threads(*[reader] * THREADS)
    assert m.tell() == len(m)
    counts = collections.Counter(seen)
    assert set(counts.values()) == {12} and len(counts) == 256, counts.most_common(3)


def readline(mod, kind, rng, maps):
    """``readline()`` from 8 threads: every line read exactly once."""
    lines = [b"%d\n" % i for i in range(3000)]
    m = maps.new(kind, b"".join(lines))
    seen = []

    def reader():
        for line in iter(m.readline, b""):
            seen.append(line)

    run_threads(*[reader] * THREADS)
    assert sorted(seen, key=int) == lines, collections.Counter(seen).most_common(3)


# --- the memory: seen before or after a resize, never in between ----------------------

PATTERN = bytes(range(256)) * 16  # 4 KiB that never changes
NEEDLE = b"needle!"
NEEDLE_AT = 3000


def _pattern():
    data = bytearray(PATTERN)
    data[NEEDLE_AT:NEEDLE_AT + len(NEEDLE)] = NEEDLE
    return bytes(data)


def resize(mod, kind, rng, maps):
    """Items, slices, ``len``, ``find`` and writes while another thread resizes the map.

    The first 4 KiB never change.  Readers must always see them (never
    zeros, never "mmap closed"); a writer must always read back what it
    wrote (a write to a mapping the resize retired would be lost).
    """
    fixed = _pattern()
    sizes = (8192, 12288)
    m = maps.new(kind, fixed + bytes(sizes[0] - len(fixed)), resizable=True)
    done = threading.Event()

    def resizer():
        try:
            for n in range(60):
                m.resize(sizes[(n + 1) % 2])
        finally:
            done.set()

    def reader(seed):
        local = random.Random(seed)

        def run():
            while not done.is_set():
                i = local.randrange(len(fixed))
                j = local.randrange(i, len(fixed) + 1)
                assert m[i] == fixed[i], (i, m[i])
                assert m[i:j] == fixed[i:j], (i, j)
                assert len(m) in sizes, len(m)
                assert m.find(NEEDLE, 0) == NEEDLE_AT
                assert m.rfind(NEEDLE, 0, len(fixed)) == NEEDLE_AT
                # Needles near the start (found in a copy) and far (found in place).
                k = local.randrange(len(fixed) - 3)
                sub = fixed[k:k + 3]
                assert m.find(sub, i, len(fixed)) == fixed.find(sub, i), (sub, i)
                assert m.rfind(sub, 0, j) == fixed.rfind(sub, 0, j), (sub, j)
                assert (sub[:1] in m) is True
        return run

    def writer():
        value = 0
        while not done.is_set():
            value += 1
            data = struct.pack("<Q", value)
            m[len(fixed):len(fixed) + 8] = data
            assert m[len(fixed):len(fixed) + 8] == data, "a write was lost to a retired mapping"

    run_threads(resizer, writer, *[reader(n) for n in range(THREADS - 2)])


def move(mod, kind, rng, maps):
    """``move()`` against slice reads: a 4 KiB block is always copied whole."""
    blocks, size = 16, 4096
    m = maps.new(kind, b"".join(bytes([b]) * size for b in range(blocks)))
    done = threading.Event()

    def mover(seed):
        local = random.Random(seed)

        def run():
            for _ in range(1000):
                m.move(local.randrange(blocks) * size, local.randrange(blocks) * size, size)
        return run

    def reader(seed):
        local = random.Random(seed)

        def run():
            while not done.is_set():
                k = local.randrange(blocks)
                block = m[k * size:(k + 1) * size]
                assert block == block[:1] * size, f"a block read in the middle of a move: {sorted(set(block))}"
        return run

    def movers():
        try:
            run_threads(*[mover(n) for n in range(2)])
        finally:
            done.set()

    run_threads(movers, *[reader(n) for n in range(THREADS - 2)])


def flush(mod, kind, rng, maps):
    """``flush()`` against writes and a growing map: no error, and the file ends up right."""
    f = tempfile.TemporaryFile()
    maps.files.append(f)
    f.write(bytes(4096))
    f.flush()
    m = mod.mmap(f.fileno(), 4096)
    done = threading.Event()

    def writer(n):
        def run():
            for value in range(1, 301):
                m[n * 8:n * 8 + 8] = struct.pack("<Q", value)
        return run

    def flusher():
        while not done.is_set():
            m.flush()

    def grower():
        for size in range(4096 + 512, 4096 + 40 * 512, 512):
            m.resize(size)
            m.flush()

    def work():
        try:
            run_threads(grower, *[writer(n) for n in range(THREADS - 3)])
        finally:
            done.set()

    run_threads(work, flusher, flusher)
    m.flush()
    size = len(m)
    m.close()
    f.seek(0)
    data = f.read()
    assert len(data) == size, (len(data), size)
    for n in range(THREADS - 3):
        assert struct.unpack_from("<Q", data, n * 8)[0] == 300, n


def exports(mod, kind, rng, maps):
    """Buffers and records while another thread resizes, then closes the map.

    A buffer or record made from the map always shows its bytes (never
    zeros); ``resize()`` and ``close()`` refuse with ``BufferError`` while
    one is alive; a live map never refuses to lend: only once ``close()``
    has begun may a borrower get ``ValueError``.
    """
    fixed = _pattern()
    m = maps.new(kind, fixed + bytes(4096), resizable=True)
    closing = threading.Event()
    stop = threading.Event()
    expected = list(struct.unpack_from("<4I", fixed))
    counts = collections.Counter()
    try:
        struct.unpack_from("<I", m, 0)
        struct_borrows = True
    except TypeError:  # PyPy 3.11's struct takes no object whose buffer is __buffer__'s
        struct_borrows = False

    def borrower(seed):
        local = random.Random(seed)

        def run():
            while not stop.is_set():
                how = local.randrange(4)
                try:
                    if how == 0:
                        with memoryview(m) as view:
                            data = bytes(view[:64])
                        assert data == fixed[:64] or not VIEWS_ARE_COUNTED, ("memoryview", data)
                    elif how == 1 and struct_borrows:
                        values = list(struct.unpack_from("<4I", m, 0))
                        assert values == expected or not VIEWS_ARE_COUNTED, ("struct", values)
                    elif how == 2 and hasattr(m, "buffer"):
                        with m.buffer() as view:
                            data = bytes(view[:64])
                        assert data == fixed[:64] or not VIEWS_ARE_COUNTED, ("buffer()", data)
                    elif how == 3 and hasattr(m, "record"):
                        record = m.record(ctypes.c_uint32 * 4, 0)
                        assert list(record) == expected, ("record", list(record))
                        del record
                    counts["lent"] += 1
                    time.sleep(0)  # (a gap, in which a resize may find nothing lent)
                except ValueError:
                    if how < 2 and C_SLOTS_CANNOT_WAIT and not closing.is_set():
                        counts["refused while resizing"] += 1  # (see C_SLOTS_CANNOT_WAIT)
                        continue
                    assert closing.is_set(), f"a live map refused to lend ({how})"
                    counts["closed"] += 1
        return run

    def owner():
        try:
            for _ in range(10000):  # let the borrowers start
                if counts["lent"] >= 20:
                    break
                threading.Event().wait(0.0001)
            # Borrowers come and go: some resizes find none alive.
            for n in range(5000):
                try:
                    m.resize((8192, 12288)[n % 2])
                    counts["resized"] += 1
                except BufferError:
                    counts["busy"] += 1
                if counts["resized"] == 200:
                    break
            closing.set()
            while True:
                try:
                    m.close()
                    break
                except BufferError:
                    pass
        finally:
            stop.set()

    run_threads(owner, *[borrower(n) for n in range(THREADS // 2)])
    assert counts["lent"], counts


SCENARIOS = {
    f.__name__: f
    for f in (write, write_byte, seek, read, read_byte, readline, resize, move, flush, exports)
}

#: The maps each scenario races on: a private copy cannot be resized, and
#: only a file map has anything to flush.
KINDS = {name: ("file", "anon", "copy") for name in SCENARIOS}
KINDS.update(resize=("file", "anon"), exports=("file", "anon"), flush=("file",))


def main():
    module_name, scenario, kind, rounds = sys.argv[1:5]
    sys.setswitchinterval(float(sys.argv[5]) if len(sys.argv) > 5 else 1e-6)
    global C_SLOTS_CANNOT_WAIT
    if module_name == "pymmap":
        import pymmap as mod

        C_SLOTS_CANNOT_WAIT = sys.implementation.name == "cpython" and sys.version_info < (3, 12)
    else:
        import mmap as mod
    rng = random.Random(0)
    for n in range(int(rounds)):
        maps = Maps(mod)
        try:
            SCENARIOS[scenario](mod, kind, rng, maps)
        except AssertionError as exc:
            raise AssertionError(f"{module_name} {scenario} {kind}: round {n + 1} of {rounds}: {exc}") from exc
        finally:
            maps.close()
    print("ok", rounds)


if __name__ == "__main__":
    main()
