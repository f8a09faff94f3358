"""mmap.protect(): mprotect(2) with bookkeeping, so that no pymmap call can segfault.

After ``protect()``, a read of a ``PROT_NONE`` page through any pymmap API
raises ``ValueError`` and a write to a read-only page ``TypeError``, where C
code would die with SIGSEGV.

:func:`check_every_api` is the matrix of operations.  It runs twice:

* in a child process with the real ``mprotect``, so that a missed check
  crashes the child and fails the test, not pytest;
* in this process with ``mprotect`` replaced by a no-op, so that the pages
  stay accessible: a missed check then shows as an assertion failure, and
  coverage sees the code.
"""

import ctypes
import errno
import gc
import os
import struct
import sys

import pytest
from isolated import run_isolated

import pymmap
from pymmap._interpreter import CALLS_BUFFER_DUNDER, KEEPS_EXPORTER
from pymmap._platform import backend
from pymmap.exports import LENDS_FROM_C
from pymmap.protection import GuardedArray, GuardedView, PageProtection

if os.name != "posix":
    pytest.skip("uses the PROT_* names, which Windows' mmap (so pymmap there) does not export; protect() over VirtualProtect is tested in tests/test_windows_features.py", allow_module_level=True)

P = pymmap.PAGESIZE
NONE = pymmap.PROT_NONE
R = pymmap.PROT_READ
RW = pymmap.PROT_READ | pymmap.PROT_WRITE
HERE = os.path.dirname(os.path.abspath(__file__))
BUFFER_PROTOCOL = LENDS_FROM_C
REFCOUNTS = hasattr(sys, "getrefcount")
# PyPy never tells an exporter that a view was released (see test_safety_exports).
TRACKS_EXPORTS = sys.implementation.name == "cpython"

PROT_NONE_ERROR = "mmap range is not accessible (PROT_NONE)"
READONLY_ERROR = "mmap can't modify a readonly memory map."


def _raises(exc_type, message, fn, *args):
    """Assert that ``fn(*args)`` raises ``exc_type`` with ``message``."""
    try:
        fn(*args)
    except exc_type as exc:
        assert str(exc) == message, (fn, args, exc)
    else:
        raise AssertionError(f"{fn!r}{args!r} did not raise {exc_type.__name__}")


def _none(fn, *args):
    _raises(ValueError, PROT_NONE_ERROR, fn, *args)


def _ro(fn, *args):
    _raises(TypeError, READONLY_ERROR, fn, *args)


def pages_as_seen(m):
    """What each page of ``m`` allows, as its user finds out: NONE, R or RW.

    A page whose first byte cannot be read is NONE; one whose first byte
    cannot be written back is R.
    """
    seen = []
    for at in range(0, len(m), P):
        try:
            byte = m[at]
        except ValueError:
            seen.append(NONE)
            continue
        try:
            m[at] = byte
        except TypeError:
            seen.append(R)
            continue
        seen.append(RW)
    return tuple(seen)


def mapped_at(make):
    """Return ``make()`` and the address the kernel gave it, as the trace shows."""
    calls = []
    with pymmap.trace(calls.append):
        m = make()
    return m, next(call.result for call in calls if call.name == "mmap")


def _at(m, pos, method, *args):
    m.seek(pos)
    return getattr(m, method)(*args)


def _guarded_layout(m):
    """Fill a 4-page map and protect it: page 1 PROT_NONE, page 2 read-only."""
    m[:] = b"a" * (4 * P)
    m[P - 10] = ord("\n")
    m.protect(NONE, P, P)
    m.protect(R, 2 * P, 100)  # rounded up to the whole page
    assert pages_as_seen(m) == (RW, NONE, R, RW)


def check_protected(m):
    """Every read and write API on a map laid out by :func:`_guarded_layout`."""
    # Reads that touch page 1 (PROT_NONE).
    _none(lambda: m[P])
    _none(lambda: m[2 * P - 1])
    _none(lambda: m[-3 * P])
    _none(lambda: m[P - 1:P + 1])
    _none(lambda: m[:])
    _none(lambda: m[::P])
    _none(lambda: m[::-1])
    _none(lambda: m[P + 3:2 * P:7])
    _none(_at, m, 0, "read")
    _none(_at, m, P, "read", 1)
    _none(_at, m, P, "read_byte")
    _none(_at, m, P - 5, "readline")  # the line runs into page 1
    _none(_at, m, P, "readline")
    _none(m.find, b"zz")
    _none(m.find, b"z")
    _none(m.find, b"zz", 0, 3 * P)
    _none(m.rfind, b"zz")
    _none(m.rfind, b"z", 0)
    _none(lambda: b"z" in m)
    _none(lambda: 5 in m)
    _none(list, m)
    _none(list, reversed(m))
    _none(m.move, 0, P, 4)
    _none(m.buffer)
    _none(m.load)
    _none(m.load, P + 1, 1)
    _none(m.unpack_from, "<I", 2 * P - 2)
    if BUFFER_PROTOCOL and not CALLS_BUFFER_DUNDER:
        # CPython 3.8-3.11: the error comes from the view pymmap lends from (README).
        _raises(ValueError, "operation forbidden on released memoryview object", memoryview, m)
    elif BUFFER_PROTOCOL:
        _none(memoryview, m)
    # Writes that touch page 1 are refused the same way.
    _none(m.__setitem__, P, 1)
    _none(m.__setitem__, slice(P, P + 2), b"xx")
    _none(m.__setitem__, slice(None, None, P), b"xxxx")
    _none(_at, m, P, "write", b"x")
    _none(_at, m, P, "write_byte", 120)
    _none(m.move, P, 0, 4)
    _none(m.pack_into, "B", P, 1)
    # Writes to page 2 (read-only).
    _ro(m.__setitem__, 2 * P, 1)
    _ro(m.__setitem__, -2 * P, 1)
    _ro(m.__setitem__, slice(3 * P - 1, 3 * P + 1), b"xx")
    _ro(m.__setitem__, slice(0, None, 2 * P), b"xx")
    _ro(_at, m, 2 * P, "write", b"x")
    _ro(_at, m, 3 * P - 1, "write", b"xx")
    _ro(_at, m, 2 * P, "write_byte", 120)
    _ro(m.move, 2 * P, 0, 4)
    _ro(m.pack_into, "<I", 2 * P, 1)

    # What does not touch a protected page works, even next to one.
    assert m[0] == m[P - 1] == m[2 * P] == m[-1] == 97
    assert m[2 * P:2 * P + 3] == m[-3:] == b"aaa"
    assert m[0:4 * P:2 * P] == b"aa"  # pages 0 and 2: readable
    assert m[P - 1:0:-1][:2] == b"aa"
    assert _at(m, 0, "read", 3) == b"aaa"
    assert _at(m, 2 * P, "read_byte") == 97
    assert _at(m, 0, "readline").endswith(b"\n")  # a long line: memchr stops before page 1
    assert _at(m, P - 100, "readline") == b"a" * 90 + b"\n"  # 256-byte look-ahead hits page 1
    assert m.find(b"a", 0) == 0
    assert m.find(b"\n", 0) == P - 10
    assert m.find(b"aa", 2 * P) == 2 * P
    assert m.find(b"z", 2 * P) == -1
    assert m.rfind(b"a", 0) == 4 * P - 1
    assert m.rfind(b"\n", 0, P) == P - 10
    assert m.rfind(b"z", 2 * P) == -1
    assert b"a" in m and b"\n" in m
    assert bytearray(b"a") in m
    assert next(iter(m)) == b"a"
    assert next(reversed(m)) == b"a"
    m[0] = 98
    m[3 * P:3 * P + 2] = b"bc"
    assert _at(m, 3 * P, "write", b"de") == 2
    _at(m, 3 * P + 2, "write_byte", 102)
    m.move(3 * P + 10, 2 * P, 5)
    m.move(0, 3 * P, 4)
    assert m[0:4] == m[3 * P:3 * P + 4] == b"defa"
    # The typed gate allows what the pages allow, even next to a protected page.
    assert m.typed().string(2 * P, 3) == b"aaa"
    m.typed().set_string(3 * P, 2, b"gh")
    assert m[3 * P:3 * P + 2] == b"gh"
    assert m.unpack_from("<H", 3 * P) == (0x6867,)
    _none(m.unpack_from, "<I", 2 * P - 2)
    _ro(m.pack_into, "<H", 2 * P, 1)
    m.pack_into("<H", 3 * P, 0x6968)
    assert m[3 * P:3 * P + 2] == b"hi"
    t = m.typed()
    _none(t.u32.__getitem__, 2 * P - 2)
    _none(t.f64.__setitem__, P, 1.0)
    _ro(t.u16.__setitem__, 2 * P, 1)
    assert t.u8[2 * P] == 97
    t.u16[3 * P] = 0x6968
    assert t.u16[3 * P] == 0x6968
    _none(m.record, ctypes.c_uint32 * 1, P)
    _ro(m.record, ctypes.c_uint32 * 1, 2 * P)  # a record over read-only pages could be written
    record = m.record(ctypes.c_char * 2, 3 * P)
    assert record.raw == b"hi"
    del record
    gc.collect()  # the record was an export; it must be gone before protect() again
    m.load(0, P)
    m.load(2 * P)
    assert len(m.resident()) == 4
    m.madvise(pymmap.MADV_NORMAL)
    m.flush()
    m.flush_async(0, P)


def check_every_api(make_maps):
    """Run the matrix on each map ``make_maps()`` yields; then lift the protection."""
    for m in make_maps():
        _guarded_layout(m)
        check_protected(m)

        # An export is refused while a page is PROT_NONE, and read-only
        # while a page is read-only; protect() waits for exports to go.
        m.protect(RW, P, P)
        view = m.buffer()
        assert view.readonly and bytes(view[:2]) == m[:2]
        if TRACKS_EXPORTS:
            _raises(BufferError, "mmap can't change protection with extant buffers exported.",
                    m.protect, RW)
        else:
            # PyPy cannot tell whether the view is still alive: from now on,
            # access can be given back but never taken away.
            _raises(BufferError, "mmap can't change protection while its memory is in use.",
                    m.protect, NONE, 3 * P)
        if BUFFER_PROTOCOL:
            with memoryview(m) as exported:
                assert exported.readonly
                with pytest.raises(TypeError):
                    struct.pack_into("<I", m, 0, 1)
        view.release()
        del view
        gc.collect()

        # The map's own protection lifts every check.
        m.protect(RW, 2 * P, P)
        assert pages_as_seen(m) == (RW,) * 4
        m[P] = 1
        m[2 * P] = 2
        assert m[P:P + 1] == b"\x01" and m[2 * P] == 2
        assert m.find(b"z") == -1 and list(m)[2 * P] == b"\x02"
        with m.buffer() as view:
            assert not view.readonly
        m.load()
        m.close()


def _maps(tmp_dir):
    """Yield a shared anonymous map, a file map and a copy-on-write map of 4 pages."""
    yield pymmap.mmap(-1, 4 * P)
    path = os.path.join(tmp_dir, "protect.bin")
    with open(path, "wb") as f:
        f.write(b"\0" * 4 * P)
    with open(path, "r+b") as f:
        yield pymmap.mmap(f.fileno(), 0)
        yield pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_COPY)


@pytest.fixture
def fake_mprotect(monkeypatch):
    """Replace mprotect(2) with a no-op that records its calls."""
    calls = []
    monkeypatch.setattr(backend, "protect", lambda *args: calls.append(args))
    return calls


def test_every_api_checks_protection_in_a_child(tmp_path):
    out = run_isolated(
        """
        import sys
        sys.path.insert(0, sys.argv[1])
        import test_mmap_protect as t
        t.check_every_api(lambda: t._maps(sys.argv[2]))
        print("survived")
        """,
        HERE, tmp_path,
    )
    assert out.strip() == "survived"


def test_every_api_checks_protection_in_process(tmp_path, fake_mprotect):
    check_every_api(lambda: _maps(str(tmp_path)))
    assert fake_mprotect  # the kernel was asked every time


def test_protect_rounds_to_pages_and_calls_mprotect(fake_mprotect):
    m, base = mapped_at(lambda: pymmap.mmap(-1, 4 * P))
    m.protect(R, P, 1)
    m.protect(NONE, 3 * P)
    assert fake_mprotect == [(base + P, P, R), (base + 3 * P, P, NONE)]
    assert pages_as_seen(m) == (RW, R, RW, NONE)
    m.protect(pymmap.PROT_WRITE)  # PROT_WRITE alone means read and write, as in the constructor
    assert pages_as_seen(m) == (RW,) * 4
    m.close()


def test_protect_refuses_bad_arguments():
    m = pymmap.mmap(-1, 2 * P)
    with pytest.raises(ValueError, match="multiple of PAGESIZE"):
        m.protect(R, 1)
    with pytest.raises(ValueError, match="protect start out of bounds"):
        m.protect(R, 2 * P)
    with pytest.raises(ValueError, match="protect start out of bounds"):
        m.protect(R, -P)
    with pytest.raises(ValueError, match="protect length invalid"):
        m.protect(R, 0, -1)
    with pytest.raises(ValueError, match="PROT_READ, PROT_WRITE and PROT_EXEC"):
        m.protect(0x100)
    with pytest.raises(TypeError, match="grant more access"):
        m.protect(RW | pymmap.PROT_EXEC)
    with pytest.raises(TypeError, match="'str' object cannot be interpreted as an integer"):
        m.protect("1")
    m.close()
    with pytest.raises(ValueError, match="mmap closed or invalid"):
        m.protect(R)


def test_protect_cannot_grant_write_on_read_only_maps(open_file):
    f = open_file(b"x" * P)
    for m in (pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ),
              pymmap.mmap(f.fileno(), 0, prot=pymmap.PROT_READ),
              pymmap.mmap(-1, P, prot=pymmap.PROT_READ)):
        with pytest.raises(TypeError, match="grant more access"):
            m.protect(RW)
        m.protect(R)  # its own protection: nothing to do
        assert pages_as_seen(m) == (R,)
        m.close()


def test_copy_on_write_maps_may_be_made_writable_again(open_file, fake_mprotect):
    f = open_file(b"x" * P)
    m = pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_COPY)
    m.protect(R)
    with pytest.raises(TypeError, match="readonly"):
        m[0] = 1
    m.protect(RW)
    m[0] = 1
    f.seek(0)
    assert f.read(1) == b"x"
    m.close()


def test_a_protected_first_page_is_never_touched():
    # A real mprotect(2) of page 0: making the views again (at the end of
    # protect() and resize()), records and typed values elsewhere must not
    # read it.  (PyPy 3.9's ctypes reads an array's first byte when it lends
    # the array's buffer: a memoryview or from_buffer of the array died here.)
    out = run_isolated(
        """
        import ctypes, gc, pymmap
        P = pymmap.PAGESIZE
        m = pymmap.mmap(-1, 3 * P)
        m[P] = 7
        m.protect(pymmap.PROT_NONE, 0, P)
        assert m[P] == 7 and m[P:P + 2] == b"\\x07\\x00" and m.typed().u8[P] == 7
        record = m.record(ctypes.c_uint8 * 2, P)
        assert record[0] == 7
        record[1] = 8
        del record
        gc.collect()
        m.resize(4 * P)
        assert m[P + 1] == 8
        try:
            m[0]
        except ValueError:
            pass
        else:
            raise AssertionError("page 0 was readable")
        m.protect(pymmap.PROT_READ | pymmap.PROT_WRITE)
        assert m[0] == 0
        m.close()
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_protect_refuses_to_take_access_away_while_memory_is_in_use(fake_mprotect):
    r = pymmap.MappedRegion(2 * P)
    # What another thread in the middle of a copy holds: the view (which
    # holds the array) on CPython; on PyPy a view does not, so the array.
    holder = r.view if KEEPS_EXPORTER else r.array
    with pytest.raises(BufferError, match="in use"):
        r.protect(NONE, 0, P)
    assert r.protection is None and r.read(0, 1) == b"\0"
    del holder
    gc.collect()
    r.protect(R, 0, P)
    holder = r.array
    r.protect(RW, 0, 2 * P)  # giving access back is always safe
    assert r.protection is None
    del holder
    r.close()


def test_no_one_can_pick_up_the_memory_while_mprotect_runs(monkeypatch):
    # mprotect(2) runs without the GIL: a thread that picked up the region's
    # views after the count of holders could read a page just as it became
    # PROT_NONE.  The region lets go of its views for the call.
    region = pymmap.MappedRegion(2 * P)
    seen = []

    def protect_while_another_thread_looks(*args):
        try:
            region.read(0, 1)
        except ValueError as exc:
            seen.append(str(exc))

    monkeypatch.setattr(backend, "protect", protect_while_another_thread_looks)
    region.protect(NONE, 0, P)
    assert seen == ["mmap closed or invalid"]
    assert region.read(P, P + 1) == b"\0" and region.protection is not None
    with pytest.raises(ValueError, match="not accessible"):
        region.read(0, 1)
    region.close()


def test_resize_keeps_the_protection_of_pages_that_stay(fake_mprotect):
    m = pymmap.mmap(-1, 4 * P)
    m.protect(NONE, P, P)
    m.protect(R, 3 * P)
    m.resize(6 * P)
    # The new pages have the map's own protection.
    assert pages_as_seen(m) == (RW, NONE, RW, R, RW, RW)
    m.resize(2 * P)
    assert pages_as_seen(m) == (RW, NONE)
    m.resize(P)
    assert pages_as_seen(m) == (RW,)
    m.protect(R)
    with pytest.raises(OSError):
        m.resize(0)
    assert pages_as_seen(m) == (R,)  # refused before anything changed
    m.close()


def test_resize_and_close_with_protected_pages_in_a_child(tmp_path):
    out = run_isolated(
        """
        import os, sys
        import pymmap
        P = pymmap.PAGESIZE
        path = os.path.join(sys.argv[1], "grow.bin")
        with open(path, "wb") as f:
            f.write(b"a" * 4 * P)
        with open(path, "r+b") as f:
            for m in (pymmap.mmap(-1, 4 * P), pymmap.mmap(f.fileno(), 0)):
                m[:] = b"a" * 4 * P
                m.protect(pymmap.PROT_NONE, P, P)
                m.protect(pymmap.PROT_READ, 3 * P)
                m.resize(8 * P)      # the copy must not read page 1
                m[7 * P] = 1
                try:
                    m[P]
                except ValueError:
                    pass
                assert m[3 * P] == 97
                m.resize(2 * P)
                m.close()            # munmap takes the protection with it
        print("survived")
        """,
        tmp_path,
    )
    assert out.strip() == "survived"


def test_close_forgets_the_protection(fake_mprotect):
    r = pymmap.MappedRegion(2 * P)
    r.protect(NONE, 0, 2 * P)
    r.close()
    assert r.protection is None
    with pytest.raises(ValueError, match="closed"):
        r.read(0, 1)


def test_memory_for_checks_state_and_bounds(open_file, fake_mprotect):
    region = pymmap.MappedRegion(2 * P)
    with pytest.raises(IndexError, match="out of range"):
        region.memory_for(2 * P - 1, 2, False)
    with pytest.raises(IndexError, match="out of range"):
        region.memory_for(-1, 1, False)
    view, array = region.memory_for(0, 4, True)
    view[0:4] = b"abcd"
    assert region.read(0, 4) == b"abcd" and array is region.array
    del view, array  # (held, they would keep protect() from taking access away)
    region.protect(R, P, P)
    region.memory_for(0, 4, True)[0][0:4] = b"efgh"  # the raw view, after the check
    assert region.read(0, 4) == b"efgh"
    with pytest.raises(TypeError, match="readonly"):
        region.memory_for(P, 4, True)
    region.protect(RW, 0, 2 * P)
    region.close()
    with pytest.raises(ValueError, match="closed"):
        region.memory_for(0, 1, False)
    f = open_file(b"x" * P)
    r = pymmap.MappedRegion(P, f.fileno(), prot=R)
    with pytest.raises(TypeError, match="readonly"):
        r.memory_for(0, 1, True)
    r.close()


# --- the region layer -------------------------------------------------------------


def test_region_methods_check_protection(fake_mprotect):
    r = pymmap.MappedRegion(3 * P)
    r.write(0, b"x" * 3 * P)
    r.protect(NONE, P, P)
    r.protect(R, 2 * P, P)
    with pytest.raises(ValueError, match="PROT_NONE"):
        r.read(P - 1, P + 1)
    with pytest.raises(TypeError, match="readonly"):
        r.write(2 * P, b"y")
    with pytest.raises(ValueError, match="PROT_NONE"):
        r.find_byte(ord("y"), 0, 3 * P)
    with pytest.raises(ValueError, match="PROT_NONE"):
        r.memory_for(0, 3 * P, False)
    assert r.read(0, 2) == b"xx" and r.find_byte(ord("x"), 2 * P, 3 * P) == 2 * P
    assert r.find_byte(ord("x"), 0, 3 * P) == 0
    r.protect(RW, P, P)
    r.protect(NONE, 3 * P, P)  # past the end: nothing to do
    assert fake_mprotect[-1][2] == RW
    r.close()


# --- the bookkeeping ----------------------------------------------------------------


def test_page_protection_finds_the_pages_each_access_touches():
    pages = PageProtection(RW, bytes((RW, NONE, R, RW, NONE)))
    assert pages.readable_prefix(0, 5 * P) == P
    assert pages.readable_prefix(2 * P, 4 * P) == 4 * P
    assert pages.readable_suffix(0, 4 * P) == 2 * P
    assert pages.readable_suffix(0, 5 * P) == 5 * P
    assert pages.readable_suffix(3 * P, 3 * P) == 3 * P
    assert pages.readable_suffix(2 * P, 3 * P) == 2 * P
    pages.check(range(0, 4 * P, 2 * P), write=False)  # pages 0 and 2
    with pytest.raises(ValueError):
        pages.check(range(0, 5 * P, 2 * P), write=False)  # pages 0, 2 and 4
    with pytest.raises(ValueError):
        pages.check(range(0, 5 * P, P), write=False)
    pages.check(range(0, P), write=True)
    pages.check(range(0), write=True)
    with pytest.raises(TypeError):
        pages.check(range(2 * P + 5, 2 * P + 6), write=True)
    with pytest.raises(ValueError):
        pages.check(range(4 * P, 4 * P + 1), write=False)
    pages.check_index(-1 - 5 * P, 5 * P, write=True)  # out of range: left to the array
    assert pages.takes_away(R, 0, 1) and not pages.takes_away(RW, 0, 5)
    assert pages.changed(RW, 0, 5) is None
    assert pages.forbids(write=False)
    assert not PageProtection(RW, bytes((RW, R))).forbids(write=False)
    assert PageProtection(RW, bytes((RW, R))).forbids(write=True)


def test_page_protection_check_skips_runs_a_stride_jumps_over():
    pages = PageProtection(RW, bytes((RW, NONE, RW, NONE, RW)))
    pages.check(range(0, 5 * P, 2 * P), write=True)  # pages 0, 2, 4
    pages.check(range(4 * P, -1, -2 * P), write=True)
    with pytest.raises(ValueError):
        pages.check(range(0, 5 * P, 3 * P), write=False)  # pages 0, 3


def test_guards_pass_out_of_range_indices_to_the_array():
    m = pymmap.MappedRegion(2 * P)
    pages = PageProtection(RW, bytes((RW, NONE)))
    array = GuardedArray(m.array, pages)
    view = GuardedView(m.view, pages)
    assert len(array) == len(view) == 2 * P
    with pytest.raises(IndexError):
        array[2 * P]
    with pytest.raises(IndexError):
        view[-2 * P - 1]
    assert view[0:2].tolist() == [0, 0]
    with pytest.raises(ValueError):
        view[P:P + 1]
    del array, view
    m.close()


def test_mprotect_errors_keep_the_bookkeeping_unchanged(monkeypatch):
    m = pymmap.mmap(-1, 2 * P)

    def refuse(*args):
        raise backend.oserror(errno.ENOMEM)

    monkeypatch.setattr(backend, "protect", refuse)
    with pytest.raises(OSError):
        m.protect(NONE, P)
    assert pages_as_seen(m) == (RW, RW)
    m.close()
