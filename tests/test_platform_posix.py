"""The POSIX platform layer: constants, page size, and every errno path it binds."""

import ctypes
import errno
import mmap as std_mmap  # the oracle; the library itself never imports it
import os
import sys

import pytest
from emulation import EMULATOR, linux_answer
from oserrors import errno_of

import pymmap
from pymmap._platform import backend, tables

if os.name != "posix":
    pytest.skip("the POSIX platform layer: libc's mmap(2) family, bound with ctypes", allow_module_level=True)

PAGE = backend.PAGESIZE
C = backend.CONSTANTS

STDLIB_CONSTANTS = sorted(
    name
    for name in dir(std_mmap)
    if name.isupper() and isinstance(getattr(std_mmap, name), int)
)


@pytest.mark.parametrize("name", STDLIB_CONSTANTS)
def test_constant_matches_stdlib(name):
    assert getattr(pymmap, name) == getattr(std_mmap, name)


def test_page_size_comes_from_sysconf():
    assert os.sysconf("SC_PAGESIZE") == backend.PAGESIZE
    assert backend.ALLOCATIONGRANULARITY == backend.PAGESIZE


def test_the_table_is_chosen_for_this_machine():
    import platform

    assert tables.select() == tables.linux_table_for(platform.machine())
    assert {
        k: v for k, v in tables.TABLES[tables.select()].items() if not k.startswith("_")
    } == backend.CONSTANTS


def test_library_does_not_import_stdlib_mmap(tmp_path):
    import subprocess

    code = "import sys, pymmap; pymmap.mmap(-1, 10).close(); print('mmap' in sys.modules)"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.check_output([sys.executable, "-c", code], cwd=str(tmp_path),
                                  env=dict(os.environ, PYTHONPATH=root))
    assert out.strip() == b"False"


def test_pypy_maps_through_cffi():
    # On 64-bit PyPy, mmap(2), munmap(2), msync(2), madvise(2) and
    # mprotect(2) are called through cffi (ctypes costs microseconds per
    # call there); elsewhere through ctypes.  The errno tests below go
    # through whichever is bound.
    from pymmap._interpreter import PYPY
    from pymmap._platform import posix

    through_cffi = PYPY and ctypes.sizeof(ctypes.c_void_p) == 8
    for fn in (posix._mmap, posix._munmap, posix._msync, posix._madvise, posix._mprotect):
        if fn is not None:
            assert (not isinstance(fn, ctypes._CFuncPtr)) == through_cffi


@pytest.fixture
def anon():
    """A private anonymous page mapping made by the backend directly."""
    addr = backend.map_memory(2 * PAGE, C["PROT_READ"] | C["PROT_WRITE"],
                       C["MAP_PRIVATE"] | C["MAP_ANONYMOUS"], -1, 0)
    yield addr
    backend.unmap(addr, 2 * PAGE)


def _unmapped_address():
    """An address range that is certainly not mapped: map it, then unmap it."""
    addr = backend.map_memory(PAGE, C["PROT_READ"], C["MAP_PRIVATE"] | C["MAP_ANONYMOUS"], -1, 0)
    backend.unmap(addr, PAGE)
    return addr


def test_a_file_offset_past_4_gib_reaches_mmap_whole(tmp_path):
    # off_t is 64 bits for pymmap everywhere: on 32-bit glibc, where mmap's
    # off_t is 32 bits, it calls mmap64.  The traced call shows the offset
    # as passed to C, and the map reads what the file holds there.
    from pymmap.trace import trace

    offset = 2**32 + pymmap.ALLOCATIONGRANULARITY
    path = tmp_path / "sparse.bin"
    with open(path, "wb") as f:
        f.truncate(offset + 65536 + 3)
        os.pwrite(f.fileno(), b"end", offset + 65536)
    calls = []
    with open(path, "rb") as f:
        with trace(calls.append):
            m = pymmap.mmap(f.fileno(), 65536 + 3, offset=offset, access=pymmap.ACCESS_READ)
        seen = m[65536:]
        m.close()
        stdlib = std_mmap.mmap(f.fileno(), 65536 + 3, offset=offset, access=std_mmap.ACCESS_READ)
        stdlib_seen = stdlib[65536:]
        stdlib.close()
    (call,) = [c for c in calls if c.name == "mmap"]
    assert call.args[5] == offset
    if sys.implementation.name != "pypy":  # (PyPy maps through cffi)
        assert backend._mmap.__name__ == ("mmap64" if ctypes.sizeof(ctypes.c_void_p) == 4 else "mmap")
    if EMULATOR and ctypes.sizeof(ctypes.c_void_p) == 4:
        # qemu-user maps such an offset from the file's start, for the stdlib
        # and for a C program too (tests/emulation.py): the same bytes.
        assert seen == stdlib_seen
    else:
        assert seen == stdlib_seen == b"end"


class TestMapErrors:
    def test_bad_fd_is_ebadf(self):
        assert errno_of(backend.map_memory, PAGE, C["PROT_READ"], C["MAP_SHARED"], 12345, 0) == errno.EBADF

    def test_unaligned_offset_is_einval(self, open_file):
        f = open_file(b"x" * 2 * PAGE)
        assert errno_of(backend.map_memory, PAGE, C["PROT_READ"], C["MAP_SHARED"], f.fileno(), 1) == errno.EINVAL

    def test_zero_length_is_einval(self):
        assert errno_of(backend.map_memory, 0, C["PROT_READ"], C["MAP_PRIVATE"] | C["MAP_ANONYMOUS"], -1, 0) == errno.EINVAL

    def test_writable_shared_map_of_read_only_file_is_eacces(self, open_file):
        f = open_file(b"x" * PAGE, "rb")
        err = errno_of(backend.map_memory, PAGE, C["PROT_READ"] | C["PROT_WRITE"], C["MAP_SHARED"], f.fileno(), 0)
        assert err == errno.EACCES

    def test_oserror_subclass_follows_errno(self, open_file):
        f = open_file(b"x" * PAGE, "rb")
        with pytest.raises(PermissionError):
            backend.map_memory(PAGE, C["PROT_READ"] | C["PROT_WRITE"], C["MAP_SHARED"], f.fileno(), 0)


class TestOtherCallErrors:
    def test_munmap_unaligned_is_einval(self, anon):
        assert errno_of(backend.unmap, anon + 1, PAGE) == errno.EINVAL

    def test_msync_unaligned_is_einval(self, anon):
        assert errno_of(backend.flush, anon + 1, PAGE, C["MS_SYNC"]) == errno.EINVAL

    @linux_answer("msync on an unmapped range: ENOMEM")
    def test_msync_unmapped_is_enomem(self):
        assert errno_of(backend.flush, _unmapped_address(), PAGE, C["MS_SYNC"]) == errno.ENOMEM

    def test_mremap_unaligned_is_einval(self, anon):
        assert errno_of(backend.remap, anon + 1, PAGE, 2 * PAGE) == errno.EINVAL

    def test_mremap_in_place_without_room_is_enomem(self):
        # Map three pages, keep the outer two: the middle one cannot grow
        # in place over its neighbour.
        flags = C["MAP_PRIVATE"] | C["MAP_ANONYMOUS"]
        addr = backend.map_memory(3 * PAGE, C["PROT_READ"], flags, -1, 0)
        try:
            assert errno_of(backend.remap, addr, PAGE, 2 * PAGE, False) == errno.ENOMEM
        finally:
            backend.unmap(addr, 3 * PAGE)

    @linux_answer("madvise with an unknown advice: EINVAL")
    def test_madvise_bad_advice_is_einval(self, anon):
        assert errno_of(backend.advise, anon, PAGE, 12345) == errno.EINVAL

    def test_mprotect_unaligned_is_einval(self, anon):
        assert errno_of(backend.protect, anon + 1, PAGE, C["PROT_READ"]) == errno.EINVAL

    @linux_answer("mprotect on an unmapped range: ENOMEM")
    def test_mprotect_unmapped_is_enomem(self):
        assert errno_of(backend.protect, _unmapped_address(), PAGE, C["PROT_READ"]) == errno.ENOMEM

    def test_mlock_unmapped_is_enomem(self):
        assert errno_of(backend.lock, _unmapped_address(), PAGE) == errno.ENOMEM

    @linux_answer("munlock on an unmapped range: ENOMEM")
    def test_munlock_unmapped_is_enomem(self):
        assert errno_of(backend.unlock, _unmapped_address(), PAGE) == errno.ENOMEM

    def test_mincore_unaligned_is_einval(self, anon):
        assert errno_of(backend.resident, anon + 1, PAGE) == errno.EINVAL

    def test_mincore_unmapped_is_enomem(self):
        assert errno_of(backend.resident, _unmapped_address(), PAGE) == errno.ENOMEM

    def test_anon_name_on_unmapped_is_enomem_or_einval(self):
        if not backend.HAS_ANON_NAME:
            pytest.skip("prctl(PR_SET_VMA) needs Linux")
        err = errno_of(backend.set_anon_name, _unmapped_address(), PAGE, b"x")
        assert err in (errno.ENOMEM, errno.EINVAL)

    def test_fd_calls(self, open_file):
        assert errno_of(backend.file_size, -1) == errno.EBADF
        assert errno_of(backend.dup, -1) == errno.EBADF
        assert errno_of(backend.close_fd, -1) == errno.EBADF
        f = open_file(b"abc", "rb")
        assert errno_of(backend.truncate, f.fileno(), 10) in (errno.EINVAL, errno.EBADF)

    def test_unsupported_call_is_enosys(self, monkeypatch):
        monkeypatch.setattr(backend, "_mremap", None)
        assert errno_of(backend.remap, 0, PAGE, PAGE) == errno.ENOSYS


class TestCalls:
    def test_residency_and_advice(self, anon):
        ctypes.memset(anon, 1, 2 * PAGE)
        assert backend.resident(anon, 2 * PAGE) == b"\x01\x01"
        backend.advise(anon, 2 * PAGE, C["MADV_DONTNEED"])
        assert backend.resident(anon, 2 * PAGE) == b"\x00\x00"

    def test_lock_protect_and_name(self, anon):
        backend.lock(anon, PAGE)
        backend.unlock(anon, PAGE)
        backend.protect(anon, PAGE, C["PROT_READ"])
        if backend.HAS_ANON_NAME:
            try:
                backend.set_anon_name(anon, PAGE, b"pymmap-test")
            except OSError as exc:  # kernels before 5.17, or without CONFIG_ANON_VMA_NAME
                assert exc.errno == errno.EINVAL
            else:
                with open("/proc/self/maps") as maps:
                    assert "[anon:pymmap-test]" in maps.read()

    def test_searches(self, anon):
        data = b"..abc..abc..\n.."
        ctypes.memmove(anon, data, len(data))
        assert backend.find(anon, len(data), b"abc") == 2
        assert backend.find(anon, len(data), b"xyz") == -1
        assert backend.find_byte(anon, len(data), ord("\n")) == 12
        assert backend.find_byte(anon, len(data), ord("z")) == -1
        assert backend.rfind_byte(anon, len(data), ord("a")) == 7
        assert backend.rfind_byte(anon, len(data), ord("z")) == -1

    def test_placeholder_swaps_in_zeros(self, anon):
        ctypes.memset(anon, 7, PAGE)
        backend.placeholder(anon, PAGE)
        assert ctypes.string_at(anon, 4) == b"\0\0\0\0"


class TestDeviceSize:
    def test_a_block_device_has_the_size_the_kernel_says(self, block_device):
        fd = os.open(block_device, os.O_RDONLY)
        try:
            assert os.fstat(fd).st_size == 0  # why fstat(2) will not do
            assert backend.device_size(fd) == 1 << 20
        finally:
            os.close(fd)

    def test_anything_else_has_none(self, tmp_path):
        path = tmp_path / "f.bin"
        path.write_bytes(b"x" * 10)
        r, w = os.pipe()
        with open(path, "rb") as f:
            assert backend.device_size(f.fileno()) is None
        assert backend.device_size(r) is None
        os.close(r)
        os.close(w)
        assert backend.device_size(r) is None  # a closed descriptor: no error either

    def test_the_request_number_holds_the_size_of_size_t(self):
        # _IOR(0x12, 114, size_t): 0x80081272 in a 64-bit process, 0x80041272
        # in a 32-bit one (where the tables' 64-bit number would be refused,
        # and every device would seem to have no size: seen on armhf).
        table = backend._TABLE.get("_BLKGETSIZE64")
        if table is None:
            pytest.skip("this system's table has no BLKGETSIZE64 (not Linux)")
        assert ctypes.sizeof(ctypes.c_size_t) == backend._BLKGETSIZE64 >> 16 & 0x1FFF
        assert table & ~0x1FFF0000 == backend._BLKGETSIZE64 & ~0x1FFF0000

    def test_a_failing_ioctl_or_a_system_without_it_gives_none(self, block_device, monkeypatch):
        fd = os.open(block_device, os.O_RDONLY)
        try:
            def refuse(*args):
                raise OSError(errno.ENOTTY, os.strerror(errno.ENOTTY))

            monkeypatch.setattr(backend.fcntl, "ioctl", refuse)
            assert backend.device_size(fd) is None
            monkeypatch.undo()
            monkeypatch.setattr(backend, "_BLKGETSIZE64", None)  # (a table without the ioctl)
            assert backend.device_size(fd) is None
        finally:
            os.close(fd)


class TestFillHoles:
    """backend.fill_holes: what a child forked after MADV_DONTFORK needs."""

    @pytest.fixture
    def holed(self):
        # Eight pages of 'x' with pages 2, 3 and 6 unmapped, as a child sees
        # a range whose parent advised MADV_DONTFORK on them.
        rw = C["PROT_READ"] | C["PROT_WRITE"]
        addr = backend.map_memory(8 * PAGE, rw, C["MAP_PRIVATE"] | C["MAP_ANONYMOUS"], -1, 0)
        ctypes.memset(addr, ord("x"), 8 * PAGE)
        backend.unmap(addr + 2 * PAGE, 2 * PAGE)
        backend.unmap(addr + 6 * PAGE, PAGE)
        yield addr
        backend.unmap(addr, 8 * PAGE)

    def _pages(self, addr):
        return [ctypes.string_at(addr + i * PAGE, PAGE) for i in range(8)]

    @pytest.mark.parametrize("noreplace", [True, False], ids=["MAP_FIXED_NOREPLACE", "hint only"])
    def test_fills_only_the_holes_with_zeros(self, holed, noreplace, monkeypatch):
        if not noreplace:
            # Kernels before 4.17 ignore MAP_FIXED_NOREPLACE: the address is
            # then a hint, and a range with a page in use lands elsewhere.
            monkeypatch.setattr(backend, "_MAP_NOREPLACE", 0)
        assert backend.fill_holes(holed, 8 * PAGE) == 3
        pages = self._pages(holed)
        assert [p == bytes(PAGE) for p in pages] == [False, False, True, True, False, False, True, False]
        assert all(p == b"x" * PAGE for i, p in enumerate(pages) if i not in (2, 3, 6))
        ctypes.memset(holed + 2 * PAGE, ord("y"), 2 * PAGE)  # the new pages are writable
        assert backend.fill_holes(holed, 8 * PAGE) == 0  # nothing left to fill, nothing replaced
        assert ctypes.string_at(holed + 2 * PAGE, 3) == b"yyy"

    def test_a_whole_range_missing_is_filled_in_one_call(self, holed, monkeypatch):
        calls = []
        real_map = backend.map_memory
        monkeypatch.setattr(backend, "map_memory", lambda *a: calls.append(a) or real_map(*a))
        assert backend.fill_holes(holed + 2 * PAGE, 2 * PAGE) == 2
        assert len(calls) == 1

    def test_a_page_the_kernel_will_not_place_is_enomem(self, holed, monkeypatch):
        # A kernel that ignores MAP_FIXED_NOREPLACE may place the mapping
        # elsewhere even for a free page: fill_holes unmaps it, and gives up
        # on that page.  (A real mapping without an address could land in
        # the hole itself, so the stand-in always answers with a decoy.)
        rw = C["PROT_READ"] | C["PROT_WRITE"]
        decoy = backend.map_memory(8 * PAGE, rw, C["MAP_PRIVATE"] | C["MAP_ANONYMOUS"], -1, 0)
        monkeypatch.setattr(backend, "map_memory", lambda *args: decoy)
        try:
            with pytest.raises(OSError) as info:
                backend.fill_holes(holed, 8 * PAGE)
        finally:
            backend.unmap(decoy, 8 * PAGE)
        assert info.value.errno == errno.ENOMEM
        assert ctypes.string_at(holed, PAGE) == b"x" * PAGE  # nothing was mapped over

    @linux_answer("mincore's errors")
    def test_other_mincore_errors_are_raised(self):
        with pytest.raises(OSError) as info:
            backend.fill_holes(PAGE + 1, PAGE)  # not page-aligned
        assert info.value.errno == errno.EINVAL


class TestTracerHook:
    def test_tracer_sees_success_and_failure(self):
        seen = []
        backend.set_tracer(lambda *record: seen.append(record))
        try:
            addr = backend.map_memory(PAGE, C["PROT_READ"], C["MAP_PRIVATE"] | C["MAP_ANONYMOUS"], -1, 0)
            backend.unmap(addr, PAGE)
            with pytest.raises(OSError):
                backend.file_size(-1)
        finally:
            backend.set_tracer(None)
        names = [(name, err) for name, _args, _result, err in seen]
        assert names == [("mmap", 0), ("munmap", 0), ("fstat", errno.EBADF)]
        assert seen[0][2] == addr

    def test_eintr_is_retried(self, monkeypatch):
        calls = []

        def flaky(*args):
            calls.append(args)
            if len(calls) == 1:
                ctypes.set_errno(errno.EINTR)
                return -1
            return 0

        backend._syscall("flaky", flaky, (1,), -1)
        assert len(calls) == 2
