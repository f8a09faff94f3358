"""Buffer exports: views of the map keep close() and resize() from pulling the memory away.

On Python 3.12+ (and PyPy) ``memoryview(m)`` and every C API asking for a
buffer go through ``m.__buffer__``; on every version ``m.buffer()`` returns
the same kind of view.  While any export, or any slice of one, is alive,
``close()`` and ``resize()`` raise ``BufferError`` as the stdlib does.
"""

import ctypes
import gc
import hashlib
import os
import re
import struct
import sys

import pytest
from isolated import run_isolated

import pymmap
from pymmap._platform import backend
from pymmap.exports import LENDS_FROM_C

PROT = backend.CONSTANTS  # pymmap's PROT_* numbers, also where the module exports none (Windows)
# Where memoryview(m) works: everywhere, unless the checks in
# pymmap.buffer_slots.lends() found a CPython 3.8-3.11 it cannot fill the slots of.
BUFFER_PROTOCOL = LENDS_FROM_C
# PyPy never tells an exporter that a view was released, so there close()
# cannot wait for views: it succeeds, and the views read zeros from then on.
TRACKS_EXPORTS = sys.implementation.name == "cpython"
needs_protocol = pytest.mark.skipif(not BUFFER_PROTOCOL,
                                    reason="this interpreter's buffer slots failed pymmap's checks")


class _LendsThroughDunder:
    """The smallest class that lends a buffer only through PEP 688's ``__buffer__``, as pymmap's map does."""

    def __init__(self):
        self.data = bytearray(b"\x2a")

    def __buffer__(self, flags):
        return memoryview(self.data)


def _struct_takes_buffer():
    """True unless ``struct`` refuses an object that ``memoryview`` takes through ``__buffer__``.

    PyPy 3.11's ``struct`` refuses such objects (``TypeError: a bytes-like
    object is required``) although its ``memoryview``, ``re`` and
    ``hashlib`` take them: the interpreter's own gap, which no class written
    in Python can close.  Where ``memoryview`` refuses the probe too
    (CPython 3.8-3.11, no PEP 688), pymmap lends through C buffer slots
    instead, which ``struct`` reads as it reads any C type's: True.
    """
    probe = _LendsThroughDunder()
    try:
        memoryview(probe)
    except TypeError:
        return True
    try:
        struct.pack_into("B", probe, 0, 7)
        return struct.unpack_from("B", probe) == (7,)
    except TypeError:
        return False


STRUCT_TAKES_BUFFER = _struct_takes_buffer()


def for_struct(m):
    """What the tests hand ``struct``: the map itself, or ``memoryview(m)`` where ``struct`` cannot take it.

    The view is what a PyPy 3.11 user has to write (README, Differences);
    it still asks the map's ``__buffer__``, so the map's own lending is
    what the call checks.
    """
    return m if STRUCT_TAKES_BUFFER else memoryview(m)


def _release(view):
    view.release()
    gc.collect()  # PyPy frees the view's holder only when it collects


@pytest.fixture
def m(open_file):
    f = open_file(b"hello world, the number is \x2a\x00\x00\x00 and more\n")
    mm = pymmap.mmap(f.fileno(), 0)
    yield mm
    gc.collect()
    mm.close()


def test_buffer_method_gives_a_live_writable_view(m):
    view = m.buffer()
    assert bytes(view[:5]) == b"hello"
    view[0] = ord("J")
    assert m[:5] == b"Jello"
    assert not view.readonly
    assert re.search(rb"n\w+", view).group() == b"number"
    assert struct.unpack_from("<I", view, 27) == (42,)
    _release(view)


def test_close_and_resize_refuse_while_an_export_lives(m):
    view = m.buffer()
    if not TRACKS_EXPORTS:
        m.close()
        assert bytes(view[:5]) == b"\0" * 5
        return
    with pytest.raises(BufferError, match="cannot close exported pointers exist"):
        m.close()
    with pytest.raises(BufferError, match=r"mmap can't resize with extant buffers exported\."):
        m.resize(100)
    assert not m.closed and m[:5] == b"hello"
    _release(view)
    m.resize(100)
    m.close()
    assert m.closed


def test_a_slice_keeps_the_export_alive(m):
    view = m.buffer()
    piece = view[6:11]
    view.release()
    gc.collect()
    assert bytes(piece) == b"world"
    if TRACKS_EXPORTS:
        with pytest.raises(BufferError):
            m.close()
        _release(piece)
        m.close()
    else:
        m.close()
        assert bytes(piece) == b"\0" * 5


def test_with_block_releases(m):
    with m.buffer() as view:
        assert view[0] == ord("h")
    gc.collect()
    m.close()


def test_read_only_maps_export_read_only_views(open_file):
    f = open_file(b"abc", "rb")
    m = pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ)
    view = m.buffer()
    assert view.readonly
    with pytest.raises(TypeError):
        view[0] = 1
    _release(view)
    m.close()


def test_closed_map_exports_nothing(m):
    m.close()
    with pytest.raises(ValueError, match="mmap closed or invalid"):
        m.buffer()


@needs_protocol
def test_stdlib_consumers_work_on_the_map_itself(m, tmp_path):
    assert memoryview(m)[:5].tobytes() == b"hello"
    assert re.search(rb"world", m).span() == (6, 11)
    assert struct.unpack_from("<I", for_struct(m), 27) == (42,)
    assert bytes(m) == m[:]
    assert hashlib.sha256(m).hexdigest() == hashlib.sha256(m[:]).hexdigest()
    out = tmp_path / "copy.bin"
    with open(out, "wb") as f:
        f.write(m)
    assert out.read_bytes() == m[:]
    struct.pack_into("<I", for_struct(m), 27, 7)
    assert m[27] == 7
    gc.collect()
    m.close()


@needs_protocol
def test_memoryview_of_the_map_blocks_close_until_released(m):
    view = memoryview(m)
    piece = view[1:3]
    view.release()
    if TRACKS_EXPORTS:
        with pytest.raises(BufferError):
            m.close()
    piece.release()
    gc.collect()
    m.close()


@needs_protocol
def test_read_only_map_refuses_a_writable_export(open_file):
    f = open_file(b"abc", "rb")
    m = pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ)
    with pytest.raises((BufferError, TypeError)):
        struct.pack_into("<B", for_struct(m), 0, 1)
    assert memoryview(m).readonly and m[:] == b"abc"
    gc.collect()
    m.close()


@pytest.mark.skipif(os.name == "nt", reason="Windows cannot swap a view for zeros: a busy view "
                    "stays mapped, with its bytes, until released (windows.placeholder)")
def test_a_forgotten_view_can_never_dangle():
    # Even if the export bookkeeping were bypassed (a view of the region's own
    # array), closing cannot unmap the addresses under it: reading gives zeros.
    run_isolated(
        """
        import gc, pymmap
        m = pymmap.mmap(-1, 4096)
        m[:3] = b"abc"
        view = memoryview(m._region.array).cast("B")
        m.close()
        assert bytes(view[:3]) == b"\\0\\0\\0", bytes(view[:3])
        view[0] = 1          # lands in the private placeholder, harmlessly
        assert view[0] == 1
        del view
        gc.collect()
        print("ok")
        """
    )


@needs_protocol
def test_a_view_from_a_direct_dunder_call_is_counted(m):
    # PEP 688 lets Python code call __buffer__ itself.  The answer is a view
    # of the caller's own, an export of the map's lending view: close()
    # refuses while it lives, as the stdlib's does.  (On PyPy no map can
    # count the views it lends: close() goes ahead, README, Safety.)
    view = m.__buffer__(0)
    assert bytes(view[:5]) == b"hello"
    if TRACKS_EXPORTS:
        with pytest.raises(BufferError):
            m.close()
        del view
        m.close()
    else:
        m.close()
    assert m.closed


@needs_protocol
def test_releasing_a_direct_dunder_view_spoils_nothing(m):
    # `with m.__buffer__(0) as v:` releases the view at the end of the block;
    # later exports still work and close() is not held up by the dead view.
    with m.__buffer__(0) as view:
        assert view[0] == ord("h")
    assert struct.unpack_from("<I", for_struct(m), 27) == (42,)
    with memoryview(m) as again:
        assert bytes(again[:5]) == b"hello"
    assert view is not None  # the released view is still referenced here
    gc.collect()
    m.close()
    assert m.closed


@needs_protocol
def test_exports_do_not_outlive_a_resize_or_protect(m):
    assert struct.unpack_from("<I", for_struct(m), 27) == (42,)
    m.resize(4096)  # the shared export view is let go with the old mapping
    assert struct.unpack_from("<I", for_struct(m), 27) == (42,)
    if not TRACKS_EXPORTS:
        return  # on PyPy a map that once exported its memory keeps its protection
    m.protect(PROT["PROT_READ"])
    with pytest.raises((BufferError, TypeError)):
        struct.pack_into("<I", for_struct(m), 27, 1)  # the pages are read-only now
    assert struct.unpack_from("<I", for_struct(m), 27) == (42,)
    m.protect(PROT["PROT_READ"] | PROT["PROT_WRITE"])
    struct.pack_into("<I", for_struct(m), 27, 7)
    assert m[27] == 7
    gc.collect()
    m.close()


def test_exports_from_many_threads_are_all_counted_out(m):
    # Exports made and released from several threads at once all leave the
    # count.  (An export's key goes into a set before the export exists: on
    # PyPy its holder can be collected at once, and a release counted before
    # the export made close() refuse forever.  The thread stress test in
    # test_safety_threads hung on PyPy that way.)
    import threading

    errors = []

    def export_and_release():
        try:
            for _ in range(500):
                with m.buffer() as view:
                    view[0]
                if BUFFER_PROTOCOL:
                    assert struct.unpack_from("<I", for_struct(m), 27) == (42,)
        except BaseException as exc:  # a thread's exception would only be a warning
            errors.append(repr(exc))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=export_and_release) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    gc.collect()
    m.close()
    assert m.closed


class WithSlots(pymmap.mmap):
    __slots__ = ("extra",)


class WithDict(pymmap.mmap):
    pass


@needs_protocol
@pytest.mark.parametrize("kind", [WithSlots, WithDict])
def test_subclasses_lend_and_count_like_the_class(kind):
    # On 3.8-3.11 the buffer slots are filled in pymmap.mmap's type object;
    # a subclass inherits them, and its instances keep _lent where the C
    # function looks for it.
    m = kind(-1, 16)
    m.extra = "x"
    m[:2] = b"ok"
    view = memoryview(m)
    assert view[:2].tobytes() == b"ok" and not view.readonly
    if TRACKS_EXPORTS:
        with pytest.raises(BufferError):
            m.close()
    _release(view)
    m.close()
    with pytest.raises(ValueError):
        memoryview(m)


@needs_protocol
def test_read_only_maps_lend_read_only_buffers(tmp_path):
    path = tmp_path / "ro.bin"
    path.write_bytes(b"abc")
    with open(path, "rb") as f:
        m = pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ)
    view = memoryview(m)
    assert view.readonly and view.tobytes() == b"abc"
    with pytest.raises(TypeError):
        view[0] = 1
    if sys.implementation.name != "pypy":
        # (PyPy's from_buffer asks for a read-only buffer and writes through
        # it anyway, even into bytes: README, Safety.)
        with pytest.raises((BufferError, TypeError)):
            ctypes.c_char.from_buffer(m)  # asks for a writable buffer
    _release(view)
    m.close()


def test_maps_and_their_exports_in_garbage_cycles_go_quietly_and_completely():
    # A map and a buffer borrowed from it in one garbage cycle (and, half of
    # the time, the map's class too).  On CPython 3.8-3.11 the collector
    # could clear the lending view while it still had a borrower (SIGSEGV);
    # a collected subclass made CPython's release slot call a method it
    # could no longer find ("Exception ignored in __release_buffer__", seen
    # with multiprocessing's heap on Windows).  And every mapping is given
    # back afterwards.
    import subprocess
    import textwrap

    code = textwrap.dedent("""
        import gc, os, pymmap

        def mappings():
            if not os.path.exists("/proc/self/maps"):
                return 0
            with open("/proc/self/maps") as maps:
                return len(maps.readlines())

        def make(subclass):
            class Sub(pymmap.mmap):
                pass
            m = (Sub if subclass else pymmap.mmap)(-1, 4096)
            cycle = [Sub, m, memoryview(m), memoryview(m)[10:20]]
            cycle.append(cycle)

        with memoryview(pymmap.mmap(-1, 4096)):
            pass  # (the first buffer lent loads pickle's C module: more lines in /proc/self/maps)
        gc.collect()
        before = mappings()
        for i in range(40):
            make(subclass=i % 2 == 0)
            gc.collect()
        gc.collect()
        print("done", mappings() - before <= 0)
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=root),
                          capture_output=True, text=True, timeout=120)
    # (On PyPy a range that lent a buffer stays mapped until the process
    # ends: README, Safety.  There only the quiet exit is checked.)
    given_back = "True" if TRACKS_EXPORTS else proc.stdout.split()[-1]
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"done {given_back}\n", "")
