"""Real programs that use the stdlib ``mmap``, run with pymmap in its place.

Each test runs in a child interpreter whose ``import mmap`` gives pymmap
(``tests/conformance_shim/sitecustomize.py``, first on ``PYTHONPATH``; the
children those programs start inherit it).  Every child first checks that
the maps really are pymmap's, then does what the program does and prints
what it saw; a crash fails the test, not the run.

numpy is optional (the test extra installs it on CPython): its tests are
skipped where it is not installed.
"""

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHIM = os.path.join(HERE, "conformance_shim")

try:
    import numpy  # noqa: F401
except ImportError:
    HAS_NUMPY = False
else:
    HAS_NUMPY = True
#: The start methods that make children here (Windows has only spawn).
METHODS = [m for m in ("fork", "spawn") if m in multiprocessing.get_all_start_methods()]
needs_numpy = pytest.mark.skipif(not HAS_NUMPY, reason="numpy is not installed (the test extra has it on CPython)")


def run_with_pymmap_as_mmap(code, tmp_path):
    """Run ``code`` as a program (``program.py`` in ``tmp_path``) whose ``import mmap`` is pymmap.

    A program file, not ``-c``: multiprocessing's spawn children import the
    parent's ``__main__`` from it.  Returns the program's output.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([SHIM, ROOT]), PYTHONFAULTHANDLER="1")
    prelude = textwrap.dedent("""
        import mmap, pymmap
        assert mmap is pymmap, "the shim did not replace mmap"
    """)
    program = tmp_path / "program.py"
    program.write_text(prelude + textwrap.dedent(code))
    proc = subprocess.run([sys.executable, str(program)], cwd=str(tmp_path), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    out = proc.stdout.decode("utf-8", "replace")
    if proc.returncode < 0:
        raise AssertionError(f"the child crashed with {signal.Signals(-proc.returncode).name}:\n{out}")
    assert proc.returncode == 0, out
    return out


@needs_numpy
def test_numpy_frombuffer_keeps_its_export(tmp_path):
    # numpy keeps a buffer (instead of copying its pointer and releasing it)
    # only when the exporter has bf_releasebuffer.  Without it, close() went
    # ahead and a.sum() read unmapped memory (SIGSEGV).
    out = run_with_pymmap_as_mmap("""
        import numpy as np
        m = mmap.mmap(-1, 4096)
        m[:4] = bytes([1, 2, 3, 4])
        a = np.frombuffer(m, np.uint8)
        for attempt in (m.close, lambda: m.resize(8192)):
            try:
                attempt()
            except BufferError as exc:
                print("refused:", exc)
        print("sum", int(a.sum()))
        a[5] = 9
        print("seen by the map", m[5])
        del a
        m.close()
        print("closed", m.closed)
    """, tmp_path)
    assert out.splitlines() == [
        "refused: cannot close exported pointers exist",
        "refused: mmap can't resize with extant buffers exported.",
        "sum 10",
        "seen by the map 9",
        "closed True",
    ]


@needs_numpy
def test_numpy_asarray_and_memmap_write_through(tmp_path):
    out = run_with_pymmap_as_mmap("""
        import numpy as np
        m = mmap.mmap(-1, 16)
        view = np.asarray(m)                      # no copy: the map's own bytes
        print(view.dtype, view.shape)
        view[0] = 65
        print("map", m[0])
        del view
        m.close()

        path = "data.bin"
        mm = np.memmap(path, dtype=np.int32, mode="w+", shape=(1024,))
        print("pymmap's map:", type(mm._mmap).__module__)
        mm[:] = np.arange(1024, dtype=np.int32)
        mm.flush()
        del mm
        back = np.memmap(path, dtype=np.int32, mode="r")
        print("read back", int(back[1023]), int(back.sum()))
        copy = np.memmap(path, dtype=np.int32, mode="c")
        copy[0] = -1
        print("copy-on-write", int(copy[0]), int(np.fromfile(path, dtype=np.int32)[0]))
        del back, copy
    """, tmp_path)
    assert out.splitlines() == [
        "uint8 (16,)",
        "map 65",
        "pymmap's map: pymmap.facade",
        f"read back 1023 {sum(range(1024))}",
        "copy-on-write -1 0",
    ]


def test_a_consumer_that_keeps_a_pointer_keeps_the_export(tmp_path):
    # The same rule without numpy: ctypes' from_buffer keeps the exporter's
    # buffer for as long as the object lives.  (PyPy never reports a
    # release, so there close() goes ahead, and the object reads the zeros
    # that take the map's place: README, Safety.)
    out = run_with_pymmap_as_mmap("""
        import ctypes, sys
        m = mmap.mmap(-1, 64)
        words = (ctypes.c_uint32 * 4).from_buffer(m)
        words[1] = 0x01020304
        print(m[4:8].hex())
        try:
            m.close()
        except BufferError as exc:
            print("refused:", exc)
            del words
            m.close()
        else:
            print("closed while in use, now reads", words[1])
        print("closed", m.closed)
    """, tmp_path)
    stored = (0x01020304).to_bytes(4, sys.byteorder).hex()  # (a native uint32: "04030201" on x86)
    if sys.implementation.name == "pypy":
        assert out.splitlines() == [stored, "closed while in use, now reads 0", "closed True"]
    else:
        assert out.splitlines() == [stored, "refused: cannot close exported pointers exist", "closed True"]


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="reads CPython's type objects")
def test_the_class_says_its_buffers_must_be_held():
    # What numpy checks: the exporter's type has a bf_releasebuffer.
    import ctypes

    import pymmap

    procs = ctypes.c_void_p.from_address(id(pymmap.mmap) + 20 * ctypes.sizeof(ctypes.c_void_p)).value
    assert procs
    getbuffer, releasebuffer = (ctypes.c_void_p * 2).from_address(procs)
    assert getbuffer and releasebuffer


def test_multiprocessing_shared_memory_across_fork_and_spawn(tmp_path):
    out = run_with_pymmap_as_mmap("""
        import multiprocessing as mp
        from multiprocessing import shared_memory

        def child(name):
            shm = shared_memory.SharedMemory(name=name)
            shm.buf[0] += 1
            shm.close()

        def listing(name):
            sl = shared_memory.ShareableList(name=name)
            sl[0] = sl[0] + 1
            sl.shm.close()

        METHODS = [m for m in ("fork", "spawn") if m in mp.get_all_start_methods()]

        if __name__ == "__main__":
            shm = shared_memory.SharedMemory(create=True, size=4096)
            print("pymmap's map:", type(shm._mmap).__module__)
            shm.buf[0] = 40
            for method in METHODS:
                p = mp.get_context(method).Process(target=child, args=(shm.name,))
                p.start()
                p.join()
                print(method, p.exitcode, shm.buf[0])
            sl = shared_memory.ShareableList([7, "x" * 8, 2.5])
            for method in METHODS:
                p = mp.get_context(method).Process(target=listing, args=(sl.shm.name,))
                p.start()
                p.join()
            print("list", list(sl))
            sl.shm.close()
            sl.shm.unlink()
            shm.close()
            shm.unlink()
    """, tmp_path)
    expected = ["pymmap's map: pymmap.facade"]
    expected += [f"{method} 0 {41 + i}" for i, method in enumerate(METHODS)]
    expected += [f"list [{7 + len(METHODS)}, 'xxxxxxxx', 2.5]"]
    assert out.splitlines() == expected


def test_multiprocessing_value_array_and_raw_array_across_fork_and_spawn(tmp_path):
    # multiprocessing.heap lays these out in arenas made with mmap.mmap(-1, n).
    out = run_with_pymmap_as_mmap("""
        import ctypes
        import multiprocessing as mp
        from multiprocessing import heap, sharedctypes

        def bump(value, array, raw):
            with value.get_lock():
                value.value += 1
            for i in range(len(array)):
                array[i] *= 2
            raw[0] += 100

        METHODS = [m for m in ("fork", "spawn") if m in mp.get_all_start_methods()]

        if __name__ == "__main__":
            for method in METHODS:
                ctx = mp.get_context(method)
                value = ctx.Value("i", 1)
                array = ctx.Array("d", [0.5, 1.5, 2.5])
                raw = sharedctypes.RawArray(ctypes.c_int, 3)
                p = ctx.Process(target=bump, args=(value, array, raw))
                p.start()
                p.join()
                print(method, p.exitcode, value.value, list(array), list(raw))
            arenas = [a for a in heap.BufferWrapper._heap._arenas]
            print("pymmap's arenas:", {type(a.buffer).__module__ for a in arenas})
    """, tmp_path)
    assert out.splitlines() == [f"{method} 0 2 [1.0, 3.0, 5.0] [100, 0, 0]" for method in METHODS] + [
        "pymmap's arenas: {'pymmap.facade'}",
    ]
