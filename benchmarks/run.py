"""pymmap against the stdlib ``mmap``, side by side, in one process.

    python benchmarks/run.py                    # every table (a few minutes)
    python benchmarks/run.py --quick            # fewer repeats, smaller files
    python benchmarks/run.py --only small       # one section (repeatable): bulk, small,
                                                # worst, setup, workloads, scaling
    python benchmarks/run.py --json             # machine-readable results

Each operation runs on a pymmap map and on a stdlib map over the same data.
The two are timed in alternation (stdlib, pymmap, stdlib, pymmap, ...) and
the best of several runs is kept for each, so that both see the same machine
state.  One row, ``re.search``, alternates fresh processes instead (see
``_pair_apart``: on PyPy, one process would time the order of the two).
The ratio is pymmap's time divided by the stdlib's: 1.00 is parity, below
1 is faster.  The targets (issues 9 and 24) are 1.10 for bulk work and 3.0
for small operations and setup (2.0 on PyPy).

The sections: every public method of the stdlib's map at a small size
(``small``) and a large one (``bulk``), each on a file map and on an
anonymous one; pymmap's typed access against the ``struct`` calls a stdlib
user writes instead; the cost of making and closing maps (``setup``); whole
tasks users run, such as iterating the lines of a log or patching fields
across a file (``workloads``); and the scaling rows, which time the same
small and bulk operations on maps of 4 KiB, 16 MiB and a 1 GiB sparse file,
to show that small operations do not depend on the size of the map and
bulk ones grow with the bytes they touch.  ``floors.py`` times what no
pure-Python method can go below.
"""

import argparse
import ctypes
import hashlib
import json
import mmap as std_mmap
import os
import platform
import re
import struct
import subprocess
import sys
import tempfile
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import pymmap  # noqa: E402

MiB = 1 << 20
LINE = b"x" * 79 + b"\n"
EARLY = b"early-needle"
# Absent from the data, and made of its commonest bytes: glibc's memmem is
# slower than CPython's own search on such repetitive data.
REPETITIVE = b"xxxx\nxxxx\nxxxx"


def _pair(make_std, make_py, number, repeat):
    """Time the stdlib and pymmap versions of one operation, interleaved; best time per call of each.

    One ``timeit.Timer`` per side, reused for every run: each Timer compiles
    a loop of its own, and on PyPy a new loop means a new JIT compilation,
    whose cost would land in the run being timed.
    """
    std, py = timeit.Timer(make_std), timeit.Timer(make_py)
    best_std = best_py = float("inf")
    for _ in range(repeat):
        best_std = min(best_std, std.timeit(number) / number)
        best_py = min(best_py, py.timeit(number) / number)
    return best_std, best_py


# One side of the re.search row, alone in a fresh interpreter (see _pair_apart).
_RE_SEARCH_ALONE = """
import re, sys, timeit
sys.path.insert(0, {root!r})
if {side!r} == "stdlib":
    import mmap as module
else:
    import pymmap as module
f = open({path!r}, "r+b")
m = module.mmap(f.fileno(), 0)
pattern = re.compile(rb"late-needle")
timer = timeit.Timer(lambda: pattern.search(m))
print(min(timer.repeat({repeat}, {number})) / {number})
"""


def _pair_apart(path, number, repeat, rounds=3):
    """``re.search`` over the stdlib map and over pymmap's, each in an interpreter of its own.

    The two sides still alternate (stdlib, pymmap, stdlib, ...: a fresh
    process each time, ``rounds`` times) and the best of each is kept.  They
    do not share a process because PyPy's JIT compiles one search loop per
    compiled pattern and specializes it on the class of the first buffer
    it reads; whichever map is searched second then runs 4-5x slower.
    PyPy's own map pays exactly that when it goes second (see the README's
    PyPy notes), so one process measures the order, not the maps.  A
    program normally searches one kind of map: a process per side is what
    its user sees.  CPython's ``re`` has no such state; the row is timed the
    same way there, for one method.
    """
    root = os.path.dirname(HERE)
    best = {"stdlib": float("inf"), "pymmap": float("inf")}
    for _ in range(rounds):
        for side in best:
            code = _RE_SEARCH_ALONE.format(root=root, side=side, path=path, number=number, repeat=repeat)
            out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
            best[side] = min(best[side], float(out.stdout))
    return best["stdlib"], best["pymmap"]


class Fixture:
    """Twin maps (stdlib and pymmap) over the same file, plus anonymous ones."""

    def __init__(self, size, directory):
        self.path = os.path.join(directory, f"data-{size}.bin")
        with open(self.path, "wb") as f:
            data = (LINE * (size // len(LINE) + 1))[: size - 32] + b"late-needle-here" + b"y" * 16
            data = data[:100] + EARLY + data[100 + len(EARLY):]
            f.write(data)
        self.file = open(self.path, "r+b")
        self.std = std_mmap.mmap(self.file.fileno(), 0)
        self.py = pymmap.mmap(self.file.fileno(), 0)
        self.size = size

    def close(self):
        self.std.close()
        self.py.close()
        self.file.close()


def bulk_rows(s, p, quick, path=None):
    """Large operations on the stdlib map ``s`` and pymmap's ``p`` (16 MiB over the same bytes).

    ``path``: the file both map, for the ``re.search`` row (a process per side).
    """
    n, rep = (3, 5) if quick else (5, 9)
    chunk = b"z" * MiB
    size = len(s)
    half = size // 2
    rows = []

    def read_mib(m):
        def run():
            m.seek(0)
            for _ in range(size // MiB):
                m.read(MiB)
        return run

    def write_mib(m):
        def run():
            m.seek(0)
            m.write(chunk)
        return run

    def store_mib(m):
        def run():
            m[MiB:2 * MiB] = chunk
        return run

    rows.append(("read(1 MiB) x 16", *_pair(read_mib(s), read_mib(p), n, rep)))
    rows.append(("write(1 MiB)", *_pair(write_mib(s), write_mib(p), n * 4, rep)))
    rows.append(("m[:] of 16 MiB", *_pair(lambda: s[:], lambda: p[:], n, rep)))
    rows.append(("m[a:a+1 MiB]", *_pair(lambda: s[MiB:2 * MiB], lambda: p[MiB:2 * MiB], n * 4, rep)))
    rows.append(("m[a:a+1 MiB] = bytes", *_pair(store_mib(s), store_mib(p), n * 4, rep)))
    rows.append(("find (late needle, 16 MiB)",
                 *_pair(lambda: s.find(b"late-needle", 0), lambda: p.find(b"late-needle", 0), n, rep)))
    rows.append(("rfind (early needle, 16 MiB)",
                 *_pair(lambda: s.rfind(EARLY, 0), lambda: p.rfind(EARLY, 0), n, rep)))
    rows.append(("move(8 MiB)", *_pair(lambda: s.move(0, half, half), lambda: p.move(0, half, half), n, rep)))
    rows.append(("flush() of 16 MiB, clean", *_pair(s.flush, p.flush, n, rep)))
    if _hashes(p):
        rows.append(("hashlib.sha256(m) of 16 MiB (an export)",
                     *_pair(lambda: hashlib.sha256(s), lambda: hashlib.sha256(p), 1, rep)))
    if path is not None:
        rows.append(("re.search over the map (a process per side)", *_pair_apart(path, n, rep)))
    return rows


def _hashes(m):
    """True if ``hashlib`` takes the map itself (not PyPy's, which takes bytes-like objects it knows)."""
    try:
        hashlib.sha256(m)
    except TypeError:
        return False
    return True


def worst_case_rows(fx, quick):
    """Searches where pymmap's memchr/memmem strategy is known to lose."""
    n, rep = (1, 3) if quick else (2, 5)
    return [
        ("find (absent, repetitive data, 16 MiB)",
         *_pair(lambda: fx.std.find(REPETITIVE, 0), lambda: fx.py.find(REPETITIVE, 0), n, rep)),
        ("rfind (absent, repetitive data, 16 MiB)",
         *_pair(lambda: fx.std.rfind(REPETITIVE, 0), lambda: fx.py.rfind(REPETITIVE, 0), n, rep)),
    ]


U32 = struct.Struct("<I")
RECORD = struct.Struct("<IHH")


def lends_to_struct(m):
    """True if ``struct`` takes the map itself (PyPy 3.11's takes no object that lends through ``__buffer__``)."""
    try:
        U32.unpack_from(m, 1000)
    except TypeError:
        return False
    return True


def small_operations(m, to_struct=True, file_backed=True):
    """The small rows' operations on map ``m`` (stdlib or pymmap): ``(name, callable)`` pairs.

    Every public method of the stdlib's map, at a small size, at offsets
    near 1000 (the map must hold at least 8 KiB of 80-byte lines).
    ``to_struct`` False lends ``struct`` a memoryview of the map instead of
    the map (the form the row must take on both sides where pymmap's map
    cannot go to ``struct`` itself: PyPy 3.11).  ``file_backed`` False
    leaves out ``size()``, which has no file to ask about on an anonymous
    map (``OSError``, as in the C module).  Shared with compare.py.
    """
    eight = b"12345678"
    eight_array = bytearray(eight)
    eight_view = memoryview(eight)
    sixteen = b"0123456789abcdef"

    def setidx():
        m[1000] = 65

    def setsl(data=eight):
        m[1000:1008] = data

    def setsl_bytearray(data=eight_array):
        m[1000:1008] = data

    def setsl_view(data=eight_view):
        m[1000:1008] = data

    def seek_then(method, *args, at=1000):
        seek = m.seek

        def run():
            seek(at)
            method(*args)
        return run

    operations = [
        ("m[i]", lambda: m[1000]),
        ("m[-i]", lambda: m[-1000]),
        ("m[i] = v", setidx),
        ("m[i:i+64]", lambda: m[1000:1064]),
        ("m[i:i+64:2]", lambda: m[1000:1064:2]),
        ("m[i:i+8] = bytes", setsl),
        ("m[i:i+8] = bytearray", setsl_bytearray),
        ("m[i:i+8] = memoryview", setsl_view),
        ("len(m)", lambda: len(m)),
        ("m.closed", lambda: m.closed),
        ("seek(i)", lambda: m.seek(1000)),
        ("seek + tell", seek_then(m.tell, at=123)),
        ("seek + read_byte()", seek_then(m.read_byte)),
        ("seek + write_byte()", seek_then(m.write_byte, 65)),
        ("seek + read(16)", seek_then(m.read, 16)),
        ("seek + write(16 bytes)", seek_then(m.write, sixteen)),
        ("seek + readline() (80-byte lines)", seek_then(m.readline, at=800)),
        ("seek + find(b'\\n') (from the position)", seek_then(m.find, b"\n")),
        ("find(b'\\n', i, i+256)", lambda: m.find(b"\n", 1000, 1256)),
        ("rfind(b'\\n', i, i+256)", lambda: m.rfind(b"\n", 1000, 1256)),
        ("b'x' in m (found at the start)", lambda: b"x" in m),
        ("move(64 bytes)", lambda: m.move(1000, 2000, 64)),
        ("flush(one page)", lambda: m.flush(4096, 4096)),
        ("memoryview(m) + release()", lambda: memoryview(m).release()),
    ]
    if file_backed:
        operations.append(("m.size()", m.size))
    if hasattr(m, "madvise") and hasattr(std_mmap, "MADV_WILLNEED"):
        operations.append(("madvise(MADV_WILLNEED, one page)",
                           lambda: m.madvise(std_mmap.MADV_WILLNEED, 4096, 4096)))
    # One export per call: the cost of lending the map's memory to C code
    # (PEP 688's __buffer__/__release_buffer__ on 3.12+, the buffer slots on
    # 3.8-3.11: see pymmap/exports.py).
    if to_struct:
        operations.append(("struct.unpack_from('<I', m, off)", lambda: U32.unpack_from(m, 1000)))
        operations.append(("struct.pack_into('<I', m, off, v)", lambda: U32.pack_into(m, 1000, 7)))
    else:
        # PyPy 3.11's struct takes no object that lends through __buffer__
        # alone (README, Differences): a memoryview of the map, on both sides.
        operations.append(("memoryview(m) + struct.unpack_from", lambda: U32.unpack_from(memoryview(m), 1000)))
        operations.append(("memoryview(m) + struct.pack_into", lambda: U32.pack_into(memoryview(m), 1000, 7)))
    return operations


def beyond_stdlib_operations(s, p, to_struct=True):
    """pymmap's own typed access, against what a stdlib user writes instead: ``(name, std, pymmap)``."""
    lend = (lambda m: m) if to_struct else memoryview
    t = p.typed("little")

    def typed_store():
        t.u32[1000] = 7

    # An item of a large read-only record copies that item only, not the
    # array; and once a protected page has its protection back, items take
    # the raw path again (no per-item page check).
    # (The package ``p`` comes from: compare.py times another version beside this one.)
    package = sys.modules[type(p).__module__.partition(".")[0]]
    words = package.mmap(-1, 64000, access=package.ACCESS_READ).record(ctypes.c_uint32 * 16000, 0)
    undone = package.mmap(-1, 2 * package.PAGESIZE)
    if hasattr(undone, "protect") and hasattr(package, "PROT_READ"):
        undone.protect(package.PROT_READ, package.PAGESIZE)
        undone.protect(package.PROT_READ | package.PROT_WRITE, package.PAGESIZE)
    return [
        ("read-only record(c_uint32 * 16000)[i] (vs struct)", lambda: U32.unpack_from(lend(s), 1000),
         lambda: words[250]),
        ("m[i] after protect() and its undo (vs m[i])", lambda: s[1000], lambda: undone[1000]),
        ("typed().u32[off] (vs struct.unpack_from)", lambda: U32.unpack_from(lend(s), 1000), lambda: t.u32[1000]),
        ("typed().u32[off] = v (vs struct.pack_into)", lambda: U32.pack_into(lend(s), 1000, 7), typed_store),
        ("m.unpack_from('<I', off) (vs struct)", lambda: U32.unpack_from(lend(s), 1000),
         lambda: p.unpack_from(U32, 1000)),
        ("m.pack_into('<I', off, v) (vs struct)", lambda: U32.pack_into(lend(s), 1000, 7),
         lambda: p.pack_into(U32, 1000, 7)),
    ]


def runs(fn):
    """True if ``fn()`` raises nothing: some operations are refused by some stdlibs (PyPy 3.9's
    ``m[a:b] = bytearray``), and have no row there."""
    try:
        fn()
    except Exception:
        return False
    return True


def small_pairs(s, p, to_struct=True, file_backed=True):
    """``(name, stdlib callable, pymmap callable)`` for every small row the stdlib here can run."""
    pairs = [(name, std, py) for (name, std), (_, py) in zip(small_operations(s, to_struct, file_backed),
                                                             small_operations(p, to_struct, file_backed))]
    pairs += beyond_stdlib_operations(s, p, to_struct)
    return [pair for pair in pairs if runs(pair[1])]


def small_rows(s, p, quick, file_backed=True):
    """Every small operation on the stdlib map ``s`` and pymmap's ``p`` (over the same bytes)."""
    number, rep = (20000, 5) if quick else (100000, 7)
    return [(name, *_pair(std, py, number, rep))
            for name, std, py in small_pairs(s, p, lends_to_struct(p), file_backed)]


def anonymous_twins(data):
    """A stdlib and a pymmap anonymous map, each holding ``data``."""
    s = std_mmap.mmap(-1, len(data))
    p = pymmap.mmap(-1, len(data))
    s[:] = data
    p[:] = data
    return s, p


def setup_rows(directory, quick):
    number, rep = (2000, 5) if quick else (10000, 7)
    path = os.path.join(directory, "small.bin")
    with open(path, "wb") as f:
        f.write(b"s" * 4096)
    f = open(path, "r+b")
    fd = f.fileno()

    def open_close(mod):
        def run():
            mod.mmap(fd, 0).close()
        return run

    def anon(mod):
        def run():
            mod.mmap(-1, 4096).close()
        return run

    def with_block(mod):
        def run():
            with mod.mmap(fd, 0, access=mod.ACCESS_READ) as m:
                m[0]
        return run

    rows = [
        ("mmap(fd, 0) + close()", *_pair(open_close(std_mmap), open_close(pymmap), number, rep)),
        ("mmap(-1, 4096) + close()", *_pair(anon(std_mmap), anon(pymmap), number, rep)),
        ("with mmap(fd, 0, ACCESS_READ) as m: m[0]", *_pair(with_block(std_mmap), with_block(pymmap), number, rep)),
    ]
    f.close()

    # resize() of a file map: each side has a file of its own (resize changes its size).
    files, grow = [], []
    for mod in (std_mmap, pymmap):
        name = os.path.join(directory, f"resize-{mod.__name__}.bin")
        with open(name, "wb") as g:
            g.write(b"r" * 4096)
        files.append(open(name, "r+b"))
        m = mod.mmap(files[-1].fileno(), 0)

        def run(m=m):
            m.resize(8192)
            m.resize(4096)
        grow.append((m, run))
    rows.append(("resize(8192) + resize(4096) (file)", *_pair(grow[0][1], grow[1][1], number // 10, rep)))
    for (m, _), g in zip(grow, files):
        m.close()
        g.close()
    return rows


def workload_rows(directory, quick):
    """Whole tasks users run, each timed as a whole, on the stdlib map and on pymmap's."""
    rep = 3 if quick else 5
    rows = []
    log = os.path.join(directory, "log.txt")
    lines = 20000 if quick else 50000
    with open(log, "wb") as f:
        for k in range(lines):
            level = b"ERROR" if k % 7 == 0 else b"INFO"
            f.write(b"2026-12-07 06:%02d:%02d %s request %d took %d ms\n" % (k // 60 % 60, k % 60, level, k, k % 997))
    data = os.path.join(directory, "fields.bin")
    with open(data, "wb") as f:
        f.write(bytes(range(256)) * (4 * MiB // 256))
    with open(log, "r+b") as lf, open(data, "r+b") as df:
        logs = std_mmap.mmap(lf.fileno(), 0), pymmap.mmap(lf.fileno(), 0)
        datas = std_mmap.mmap(df.fileno(), 0), pymmap.mmap(df.fileno(), 0)
        size = len(datas[0])
        offsets = [(k * 7919) % (size - 8) for k in range(20000)]
        to_struct = lends_to_struct(datas[1])

        def both(name, make, number=1):
            rows.append((name, *_pair(make(0), make(1), number, rep)))

        def lines_of(k):
            m = logs[k]

            def run():
                m.seek(0)
                for _ in iter(m.readline, b""):
                    pass
            return run

        def lines_iterated(k):
            m = logs[k]

            def run():
                m.seek(0)
                readline = m.readline
                count = 0
                while readline():
                    count += 1
            return run

        def patch(k):
            m = datas[k]

            def run():
                for o in range(0, size - 4, 61):
                    m[o:o + 4] = b"PTCH"
            return run

        def records_struct(k):
            m = datas[k] if to_struct else memoryview(datas[k])
            unpack = RECORD.unpack_from

            def run():
                for off in offsets:
                    unpack(m, off)
            return run

        def records_typed(k):
            if k == 0:
                m = datas[0] if to_struct else memoryview(datas[0])
                unpack = U32.unpack_from

                def run():
                    for off in offsets:
                        unpack(m, off)
                return run
            u32 = datas[1].typed("little").u32

            def run():
                for off in offsets:
                    u32[off]
            return run

        def item_scan(k):
            m = datas[k]

            def run():
                total = 0
                for off in range(0, size, 97):
                    total += m[off]
            return run

        def chunks(k):
            m = datas[k]

            def run():
                for off in range(0, size, 64 * 1024):
                    m[off:off + 64 * 1024]
            return run

        def regex(k):
            # One compiled pattern per side (told apart by a group): PyPy's
            # re specializes a pattern's loop on the first buffer class it
            # reads (see _pair_apart).
            pattern = re.compile(rb"ERROR request (\d+)" if k == 0 else rb"ERROR request (\d+)()")
            m = logs[k]

            def run():
                for _ in pattern.finditer(m):
                    pass
            return run

        def writer(k):
            m = datas[k]
            line = b"2026-12-07 06:00:00 INFO request 1 took 1 ms\n"
            count = MiB // len(line)

            def run():
                m.seek(0)
                write = m.write
                for _ in range(count):
                    write(line)
            return run

        def churn(k):
            mod = (std_mmap, pymmap)[k]
            fd = df.fileno()

            def run():
                for _ in range(1000):
                    mod.mmap(fd, 4096).close()
            return run

        both(f"for line in iter(m.readline, b''): {lines:,} lines", lines_of)
        both(f"while m.readline(): {lines:,} lines", lines_iterated)
        both("m[o:o+4] = b'PTCH' every 61 bytes of 4 MiB", patch)
        both("20,000 struct.unpack_from('<IHH', m, off)" if to_struct
             else "20,000 struct.unpack_from('<IHH', memoryview(m), off)", records_struct)
        both("20,000 typed().u32[off] (vs struct.unpack_from('<I'))", records_typed)
        both("m[off] every 97 bytes of 4 MiB", item_scan)
        both("64 KiB chunk copies of 4 MiB", chunks)
        both("re.finditer over the log (one pattern per side)", regex)
        both("write() of 1 MiB in 46-byte lines", writer)
        both("1,000 x mmap(fd, 4096) + close()", churn)
        for m in logs + datas:
            m.close()
    return rows


def scaling_rows(directory, quick):
    """Small and bulk operations on maps of very different sizes."""
    rows = []
    sizes = [("4 KiB", 4096), ("16 MiB", 16 * MiB), ("1 GiB sparse", 1 << 30)]
    for label, size in sizes:
        path = os.path.join(directory, f"scale-{size}.bin")
        with open(path, "wb") as f:
            f.truncate(size)
        with open(path, "r+b") as f:
            s = std_mmap.mmap(f.fileno(), 0, access=std_mmap.ACCESS_READ)
            p = pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ)
            i = size // 2
            rows.append((f"m[i] on {label}", *_pair(lambda: s[i], lambda: p[i], 20000, 5)))
            n = min(size, MiB)
            # Enough calls for a small copy to be timed warm (PyPy's JIT
            # compiles a loop only after about a thousand iterations).
            copies = max(20 if quick else 50, 4 * MiB // n)
            rows.append((f"m[:1 MiB] on {label}", *_pair(lambda: s[:n], lambda: p[:n], copies, 5)))
            if size <= 16 * MiB or not quick:
                calls = max(1, 16 * MiB // size)  # enough calls to time a small map's search
                rows.append((f"find (absent) over {label}",
                             *_pair(lambda: s.find(b"\x01\x02", 0), lambda: p.find(b"\x01\x02", 0),
                                    calls, 3)))
            s.close()
            p.close()
        os.unlink(path)
    return rows


def memory_row(directory):
    """Python memory allocated while mapping a 1 GiB sparse file and reading one byte.

    None where the interpreter has no ``tracemalloc`` (PyPy).
    """
    try:
        import tracemalloc
    except ImportError:
        return None
    path = os.path.join(directory, "sparse.bin")
    with open(path, "wb") as f:
        f.truncate(1 << 30)
    with open(path, "rb") as f:
        tracemalloc.start()
        m = pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ)
        m[123456789]
        m.find(b"\x01", 0)
        m.rfind(b"\x01\x02", 0)
        b"\x01" in m
        for _ in zip(range(1000), m):  # iteration works in place too
            pass
        m.seek(1 << 29)
        m.read(4096)
        m.close()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    os.unlink(path)
    return peak


SECTIONS = ("bulk", "small", "worst", "setup", "workloads", "scaling")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, skip the 1 GiB find")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--only", action="append", choices=SECTIONS,
                        help="run only this section (repeatable); default: all")
    args = parser.parse_args(argv)
    only = set(args.only or SECTIONS)
    small_target = "2x" if sys.implementation.name == "pypy" else "3x"

    results = {
        "python": sys.version.split()[0],
        "implementation": sys.implementation.name,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "sections": {},
    }
    sections = results["sections"]
    with tempfile.TemporaryDirectory() as directory:
        fx = Fixture(16 * MiB, directory)
        anon = anonymous_twins(fx.std[:])
        if "bulk" in only:
            sections["bulk, file map (target <= 1.10x)"] = bulk_rows(fx.std, fx.py, args.quick, fx.path)
            sections["bulk, anonymous map (target <= 1.10x)"] = bulk_rows(*anon, args.quick)
        if "small" in only:
            sections[f"small, file map (target <= {small_target})"] = small_rows(fx.std, fx.py, args.quick)
            sections[f"small, anonymous map (target <= {small_target})"] = small_rows(*anon, args.quick, file_backed=False)
        if "worst" in only:
            sections["search worst case (informational)"] = worst_case_rows(fx, args.quick)
        for m in anon:
            m.close()
        fx.close()
        if "setup" in only:
            sections["setup (target <= 3x)"] = setup_rows(directory, args.quick)
        if "workloads" in only:
            sections["workloads (no worse than their worst operation)"] = workload_rows(directory, args.quick)
        if "scaling" in only:
            sections["scaling"] = scaling_rows(directory, args.quick)
            results["peak_python_memory_1gib_bytes"] = memory_row(directory)

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"pymmap vs stdlib mmap -- {results['implementation']} {results['python']} on {results['machine']}")
    width = max(len(name) for rows in sections.values() for name, _, _ in rows)
    for section, rows in sections.items():
        print(f"\n{section}")
        print(f"  {'operation':{width}s} {'stdlib':>11s} {'pymmap':>11s} {'ratio':>7s}")
        for name, std_t, py_t in rows:
            print(f"  {name:{width}s} {_fmt(std_t):>11s} {_fmt(py_t):>11s} {py_t / std_t:7.2f}")
    if "peak_python_memory_1gib_bytes" in results:
        peak = results["peak_python_memory_1gib_bytes"]
        if peak is None:
            print("\nPython memory allocated while using a 1 GiB sparse map: not measurable here (no tracemalloc)")
        else:
            print(f"\nPython memory allocated while using a 1 GiB sparse map: {peak / 1024:.0f} KiB")
    return 0


def _fmt(seconds):
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.2f} us"
    return f"{seconds * 1e9:.0f} ns"


if __name__ == "__main__":
    sys.exit(main())
