"""What a checked map costs: the stdlib, pymmap, and pymmap with ``checked=True``, side by side.

    python benchmarks/checked.py            # small operations and bulk copies
    python benchmarks/checked.py --quick    # fewer repeats

A checked map (``pymmap.mmap(..., checked=True)``, see ``pymmap/checked.py``)
reaches its memory through copies made by the kernel, so that a page past
the end of a truncated file raises ``OSError`` instead of killing the
process.  Each access is then one system call.  This prints, for the same
operations on the same 16 MiB file, the stdlib's time, the ordinary pymmap
map's, and the checked map's through each kernel copy this system allows:
``process_vm_readv``/``writev`` (what a checked map uses first) and
``/proc/self/mem`` (its fallback).  The ratios are the checked map's time
over the stdlib's and over the ordinary map's.  All sides are timed in
alternation, best of several runs.
"""

import argparse
import mmap as std_mmap
import os
import struct
import sys
import tempfile
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from run import _fmt  # noqa: E402 - (run.py, beside this file: the same units)

import pymmap  # noqa: E402
from pymmap._platform import backend  # noqa: E402

MiB = 1 << 20
U32 = struct.Struct("<I")


def _checked_maps(fd):
    """One checked map per kernel copy this system allows: ``{name: map}``."""
    maps = {}
    for copies in (getattr(backend, "_VM_CALLS", None), getattr(backend, "_PROC_MEM", None)):
        if copies is None:
            continue
        try:
            backend._works(copies)
        except OSError:
            continue
        backend._kernel_copies = copies  # (a region takes the copies chosen when it is made)
        maps[copies.name] = pymmap.mmap(fd, 0, checked=True)
    backend._kernel_copies = None
    if not maps:
        maps[backend.kernel_copies().name] = pymmap.mmap(fd, 0, checked=True)  # (Windows)
    return maps


def small_operations(m):
    eight = b"12345678"
    t = m.typed() if hasattr(m, "typed") else None

    def setidx():
        m[1000] = 65

    def setsl():
        m[1000:1008] = eight

    def seek_read():
        m.seek(1000)
        m.read(16)

    def seek_readline():
        m.seek(800)
        m.readline()

    def typed_store():
        t.u32[1000] = 7

    rows = [
        ("m[i]", lambda: m[1000]),
        ("m[i:i+64]", lambda: m[1000:1064]),
        ("m[i] = v", setidx),
        ("m[i:i+8] = bytes", setsl),
        ("seek + read(16)", seek_read),
        ("seek + readline() (80-byte lines)", seek_readline),
        ("find(b'\\n', i, i+256)", lambda: m.find(b"\n", 1000, 1256)),
        ("move(64 bytes)", lambda: m.move(1000, 2000, 64)),
    ]
    if t is not None:
        rows += [
            ("typed().u32[off] (stdlib: struct.unpack_from)", lambda: t.u32[1000]),
            ("typed().u32[off] = v (stdlib: struct.pack_into)", typed_store),
        ]
    else:
        rows += [
            ("typed().u32[off] (stdlib: struct.unpack_from)", lambda: U32.unpack_from(m, 1000)),
            ("typed().u32[off] = v (stdlib: struct.pack_into)", lambda: U32.pack_into(m, 1000, 7)),
        ]
    return rows


def bulk_operations(m):
    chunk = b"z" * MiB
    size = len(m)
    half = size // 2

    def read_all():
        m.seek(0)
        for _ in range(size // MiB):
            m.read(MiB)

    def store():
        m[MiB:2 * MiB] = chunk

    return [
        ("read(1 MiB) x 16", read_all),
        ("m[:] of 16 MiB", lambda: m[:]),
        ("m[a:a+1 MiB]", lambda: m[MiB:2 * MiB]),
        ("m[a:a+1 MiB] = bytes", store),
        ("find (late needle, 16 MiB)", lambda: m.find(b"late-needle", 0)),
        ("move(8 MiB)", lambda: m.move(0, half, half)),
    ]


def _time(functions, number, repeat):
    """Best time per call of each function, timed in alternation."""
    timers = [timeit.Timer(fn) for fn in functions]
    best = [float("inf")] * len(timers)
    for _ in range(repeat):
        for i, timer in enumerate(timers):
            best[i] = min(best[i], timer.timeit(number) / number)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    small_n, bulk_n, rep = (5000, 3, 3) if args.quick else (20000, 5, 7)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "data.bin")
        with open(path, "wb") as f:
            body = (b"x" * 79 + b"\n") * (16 * MiB // 80)
            f.write(body + b"\0" * (16 * MiB - len(body) - 11) + b"late-needle")
        fd = os.open(path, os.O_RDWR)
        s = std_mmap.mmap(fd, 0)
        p = pymmap.mmap(fd, 0)
        checked = _checked_maps(fd)
        names = list(checked)
        print(f"checked maps -- {sys.implementation.name} {sys.version.split()[0]}, kernel copies: "
              f"{', '.join(names)}")
        header = f"  {'operation':48s} {'stdlib':>10s} {'pymmap':>10s}"
        for name in names:
            header += f" {'checked, ' + name:>28s} {'vs stdlib':>9s} {'vs pymmap':>9s}"
        for title, operations, number in (("small", small_operations, small_n),
                                          ("bulk", bulk_operations, bulk_n)):
            print(f"\n{title}\n{header}")
            sides = [operations(s), operations(p)] + [operations(checked[name]) for name in names]
            for row in range(len(sides[0])):
                times = _time([side[row][1] for side in sides], number, rep)
                line = f"  {sides[0][row][0]:48s} {_fmt(times[0]):>10s} {_fmt(times[1]):>10s}"
                for t in times[2:]:
                    line += f" {_fmt(t):>28s} {t / times[0]:9.1f} {t / times[1]:9.1f}"
                print(line)
        for m in (s, p, *checked.values()):
            m.close()
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
