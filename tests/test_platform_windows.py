"""The Windows platform layer, run on Linux against a recording stand-in for kernel32.

No Windows machine runs these tests.  ``winapi_standin.StandIn`` plays
kernel32 and msvcrt (see its docstring): it checks each call's declaration
and arguments, backs views with real memory, and records every call, so
these tests can say which calls ``windows.py`` makes, with which handles,
DWORD halves, protections and access flags, and how it reports failures.
"""

import ctypes
import errno
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import winapi_standin as wa
from winapi_standin import StandIn, winerror

if os.name != "posix":
    pytest.skip("the kernel32 stand-in backs its views with Linux's mmap(2); on Windows the real "
                "kernel32 runs tests/test_windows_*.py", allow_module_level=True)

from pymmap._platform import _common, posix, windows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
C = windows.CONSTANTS
RW = C["PROT_READ"] | C["PROT_WRITE"]
SHARED = C["MAP_SHARED"]
PRIVATE = C["MAP_PRIVATE"]
ANON = C["MAP_SHARED"] | C["MAP_ANONYMOUS"]


@pytest.fixture
def k32(monkeypatch):
    """The stand-in, with ``windows.py`` bound to it; checks that nothing is left open."""
    standin = StandIn()
    monkeypatch.setattr(windows, "_win32", standin.load_win32())
    monkeypatch.setattr(windows, "_views", {})
    monkeypatch.setattr(_common, "tracer", None)
    for name in ("PAGESIZE", "ALLOCATIONGRANULARITY"):
        monkeypatch.delitem(windows.__dict__, name, raising=False)
    yield standin
    assert standin.leaks() == []


def calls(standin, *names):
    """The recorded calls, optionally only those named."""
    return [c for c in standin.calls if not names or c.name in names]


def failing(call, *args):
    """Call and return the OSError it raises, checking it is built as ctypes.WinError builds it."""
    with pytest.raises(OSError) as info:
        call(*args)
    exc = info.value
    assert exc.errno is None or sys.platform == "win32"
    # CPython's message, as PyErr_SetFromWindowsErr cuts it: no trailing period.
    assert exc.strerror == wa.MESSAGES.get(winerror(exc), exc.strerror).rstrip(".")
    assert not exc.strerror.endswith((".", " ", "\n"))
    return exc


# --- importing --------------------------------------------------------------------


def run(code):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "tests")]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.split()


def test_importing_pymmap_touches_no_windows_api():
    out = run("""
        import sys, pymmap
        print(pymmap._platform.backend.__name__)
        print('pymmap._platform.windows' in sys.modules, 'pymmap._platform.win32' in sys.modules,
              'msvcrt' in sys.modules)
    """)
    assert out == ["pymmap._platform.posix", "False", "False", "False"]


def test_the_windows_module_imports_anywhere_and_reaches_windows_only_when_used():
    out = run("""
        import sys
        from pymmap._platform import windows
        print('pymmap._platform.win32' in sys.modules, windows._win32 is None, len(windows.CONSTANTS))
        try:
            windows.PAGESIZE
        except ImportError as exc:
            print('ImportError:', exc)
    """)
    assert out[:3] == ["False", "True", str(len(windows.CONSTANTS))]
    assert " ".join(out[3:]) == "ImportError: pymmap's Windows backend needs Windows: there is no WinDLL here"


# --- declarations -----------------------------------------------------------------


def test_every_function_is_declared_with_fixed_width_types(k32):
    w = windows._api()
    assert w.kernel32 is k32.kernel32
    declared_types = (w.DWORD, w.WORD, w.BOOL, w.HANDLE, w.SIZE_T, w.LARGE_INTEGER)
    assert declared_types == (ctypes.c_uint32, ctypes.c_uint16, ctypes.c_int, ctypes.c_void_p,
                              ctypes.c_size_t, ctypes.c_int64)
    declared = {name: getattr(w, name) for name in w.__all__
                if isinstance(getattr(w, name), wa.FakeFunction)}
    assert sorted(declared) == sorted([
        "CloseHandle", "CreateFileMappingW", "DuplicateHandle", "FlushFileBuffers", "FlushViewOfFile",
        "GetCurrentProcess", "GetFileSizeEx", "GetLastError", "GetSystemInfo", "MapViewOfFile",
        "OpenFileMappingW", "SetEndOfFile", "SetFilePointerEx", "UnmapViewOfFile", "VirtualQuery",
        "VirtualProtect", "VirtualLock", "VirtualUnlock", "K32QueryWorkingSetEx", "PrefetchVirtualMemory",
        "ReadProcessMemory", "WriteProcessMemory"])
    for name, fn in declared.items():
        assert fn.argtypes is not None and fn.restype_declared, name
    assert w.CreateFileMappingW.argtypes == (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32,
                                             ctypes.c_uint32, ctypes.c_uint32, ctypes.c_wchar_p)
    assert w.CreateFileMappingW.restype is ctypes.c_void_p
    assert w.MapViewOfFile.argtypes == (ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32,
                                        ctypes.c_uint32, ctypes.c_size_t)
    assert w.SetFilePointerEx.argtypes[1] is ctypes.c_int64
    assert w.GetSystemInfo.restype is None
    assert w.INVALID_HANDLE_VALUE == wa.INVALID_HANDLE_VALUE


def test_what_only_windows_has_is_an_import_error_elsewhere(k32):
    with pytest.raises(ImportError, match="needs Windows: there is no WinDLL here"):
        windows._api()._windows_only(errno, "WinDLL")


def test_structures_have_the_windows_layout(k32):
    w = windows._api()
    if ctypes.sizeof(ctypes.c_void_p) == 8:
        assert ctypes.sizeof(w.SYSTEM_INFO) == 48
        assert w.SYSTEM_INFO.dwAllocationGranularity.offset == 40
        assert ctypes.sizeof(w.MEMORY_BASIC_INFORMATION) == 48
        assert w.MEMORY_BASIC_INFORMATION.RegionSize.offset == 24


def test_the_standin_catches_a_dword_cut_from_a_64_bit_value(k32):
    # What a wrong high/low split would look like: ctypes would silently keep
    # the low 32 bits; the stand-in refuses.
    w = windows._api()
    with pytest.raises(ctypes.ArgumentError, match="does not fit c_uint"):
        w.MapViewOfFile(0x100, w.FILE_MAP_READ, 0, 2**32, 16)


def test_page_size_and_granularity_come_from_get_system_info(k32):
    assert (windows.PAGESIZE, windows.ALLOCATIONGRANULARITY) == (4096, 65536)
    assert (windows.PAGESIZE, windows.ALLOCATIONGRANULARITY) == (4096, 65536)
    assert [c.name for c in k32.calls] == ["GetSystemInfo"]
    with pytest.raises(AttributeError):
        windows.NO_SUCH_NAME


# --- sections and views -------------------------------------------------------------


def test_anonymous_memory_is_a_section_of_the_paging_file(k32):
    address = windows.map_memory(100, RW, ANON, -1, 0)
    create, view = calls(k32)
    assert create.name == "CreateFileMappingW"
    section = create.result
    assert create.args == (wa.INVALID_HANDLE_VALUE, None, wa.PAGE_READWRITE, 0, 100, None)
    assert view.args == (section, wa.FILE_MAP_WRITE, 0, 0, 100) and view.result == address
    ctypes.memmove(address, b"hello", 5)
    assert ctypes.string_at(address, 5) == b"hello"
    windows.unmap(address, 100)
    assert [(c.name, c.args) for c in calls(k32)[2:]] == [("UnmapViewOfFile", (address,)),
                                                          ("CloseHandle", (section,))]


@pytest.mark.parametrize(
    ("prot", "flags", "protect", "access"),
    [
        (C["PROT_READ"], SHARED, wa.PAGE_READONLY, wa.FILE_MAP_READ),
        (RW, SHARED, wa.PAGE_READWRITE, wa.FILE_MAP_WRITE),
        (RW, C["MAP_PRIVATE"], wa.PAGE_WRITECOPY, wa.FILE_MAP_COPY),
    ],
)
def test_protection_and_sharing_become_page_and_view_access(k32, open_file, prot, flags, protect, access):
    f = open_file(b"x" * 100)
    address = windows.map_memory(100, prot, flags, f.fileno(), 0)
    create, view = calls(k32, "CreateFileMappingW", "MapViewOfFile")
    assert create.args[0] == k32.get_osfhandle(f.fileno())
    assert create.args[2] == protect and view.args[1] == access
    windows.unmap(address, 100)


def test_a_view_of_a_file_writes_through_and_copy_on_write_does_not(k32, open_file):
    f = open_file(b"." * 100)
    shared = windows.map_memory(100, RW, SHARED, f.fileno(), 0)
    private = windows.map_memory(100, RW, C["MAP_PRIVATE"], f.fileno(), 0)
    ctypes.memmove(shared, b"AB", 2)
    ctypes.memmove(private + 10, b"CD", 2)
    windows.flush(shared, 100, C["MS_SYNC"])
    assert os.pread(f.fileno(), 12, 0) == b"AB.........."
    assert ctypes.string_at(private, 12) == b"AB........CD"
    assert calls(k32, "FlushViewOfFile")[0].args == (shared, 100)
    windows.unmap(shared, 100)
    windows.unmap(private, 100)


def test_64_bit_sizes_and_offsets_travel_as_two_dwords(k32, make_file):
    path = make_file()
    with open(path, "r+b") as f:
        f.truncate(2**32 + 2 * 65536)  # sparse: no disk space is used
        address = windows.map_memory(65536, RW, SHARED, f.fileno(), 2**32 + 65536)
        create, view = calls(k32, "CreateFileMappingW", "MapViewOfFile")
        assert create.args[3:5] == (1, 2 * 65536)  # size: high, low
        assert view.args[2:5] == (1, 65536, 65536)  # offset: high, low; length
        ctypes.memmove(address, b"far", 3)
        windows.unmap(address, 65536)
        assert os.pread(f.fileno(), 3, 2**32 + 65536) == b"far"


def test_a_longer_section_makes_the_file_longer(k32, open_file):
    f = open_file(b"abc")
    address = windows.map_memory(10, RW, SHARED, f.fileno(), 0)
    assert os.fstat(f.fileno()).st_size == 10
    windows.unmap(address, 10)


def test_a_named_section_is_shared(k32):
    first = windows.map_named("shared", 64, RW, ANON, -1, 0)
    second = windows.map_named("shared", 64, RW, ANON, -1, 0)
    assert first != second
    ctypes.memmove(first, b"seen", 4)
    assert ctypes.string_at(second, 4) == b"seen"
    second_create = calls(k32, "CreateFileMappingW")[1]
    assert second_create.args[5] == "shared" and second_create.last_error == wa.ERROR_ALREADY_EXISTS
    windows.unmap(first, 64)
    windows.unmap(second, 64)
    assert k32.names == {}


# --- errors -----------------------------------------------------------------------


def test_an_unaligned_offset_is_error_mapped_alignment_and_leaks_nothing(k32, open_file):
    f = open_file(b"x" * 70000)
    exc = failing(windows.map_memory, 100, RW, SHARED, f.fileno(), 4096)
    assert winerror(exc) == wa.ERROR_MAPPED_ALIGNMENT == 1132
    assert exc.args == (None, wa.MESSAGES[1132].rstrip("."), None, 1132)
    assert [c.name for c in calls(k32)][-1] == "CloseHandle"  # the section made before


def test_errors_are_read_from_the_copy_ctypes_saved(k32):
    exc = failing(windows.map_memory, 0, RW, ANON, -1, 0)  # a section of 0 bytes
    assert winerror(exc) == wa.ERROR_INVALID_PARAMETER
    assert "GetLastError" not in k32.names_of()


def test_a_named_section_too_small_for_the_view_is_access_denied(k32):
    first = windows.map_named("small", 1000, RW, ANON, -1, 0)
    exc = failing(windows.map_named, "small", 5000, RW, ANON, -1, 0)
    assert winerror(exc) == wa.ERROR_ACCESS_DENIED
    windows.unmap(first, 1000)


def test_mapping_a_read_only_file_for_writing_is_access_denied(k32, open_file):
    f = open_file(b"x" * 10, "rb")
    assert winerror(failing(windows.map_memory, 10, RW, SHARED, f.fileno(), 0)) == wa.ERROR_ACCESS_DENIED
    # A read-only view cannot make the file longer.
    assert winerror(failing(windows.map_memory, 20, C["PROT_READ"], SHARED, f.fileno(), 0)) == \
        wa.ERROR_NOT_ENOUGH_MEMORY
    address = windows.map_memory(10, C["PROT_READ"], SHARED, f.fileno(), 0)
    windows.unmap(address, 10)


def test_an_empty_file_cannot_be_mapped_whole(k32, open_file):
    f = open_file(b"")
    assert winerror(failing(windows.map_memory, 0, RW, SHARED, f.fileno(), 0)) == wa.ERROR_FILE_INVALID


def test_a_bad_descriptor_fails_in_the_c_runtime(k32):
    with pytest.raises(OSError) as info:
        windows.map_memory(10, RW, SHARED, 98765, 0)
    assert info.value.errno == errno.EBADF
    with socket.socket() as s, pytest.raises(OSError):
        windows.file_size(s.fileno())


def test_unmapping_what_is_no_view_is_invalid_address(k32):
    assert winerror(failing(windows.unmap, 0x1000, 10)) == wa.ERROR_INVALID_ADDRESS


def test_what_windows_has_no_counterpart_for_is_not_supported(k32):
    for call, args in [
        (windows.advise, (0, 1, 0)), (windows.set_anon_name, (0, 1, b"x")),
        (windows.huge_page_size, ()), (windows.remap, (0, 1, 2)),
        (windows.shm_open, (b"/x", True, True)), (windows.shm_unlink, (b"/x",)),
        (windows.shm_get, (1, 1, True)), (windows.shm_attach, (1, True)), (windows.shm_detach, (0, 1)),
        (windows.shm_stat, (1,)), (windows.shm_remove, (1,)),
    ]:
        exc = failing(call, *args)
        assert winerror(exc) == wa.ERROR_NOT_SUPPORTED
        assert exc.filename


def test_pages_of_a_view_are_protected_locked_and_queried(k32):
    address = windows.map_memory(3 * 4096, RW, SHARED, -1, 0)
    P = 4096
    windows.protect(address + P, P, 0)
    windows.protect(address + 2 * P, P, RW & ~2)
    windows.protect(address + 2 * P, P, RW)
    protections = [c.args[2] for c in calls(k32, "VirtualProtect")]
    assert protections == [wa.PAGE_NOACCESS, wa.PAGE_READONLY, wa.PAGE_READWRITE]
    windows.protect(address + P, P, RW)
    windows.lock(address, P)
    windows.unlock(address, P)
    windows.unlock(address, 2 * P)  # not locked: fine, as with munlock(2)
    exc = failing(windows.lock, address + 3 * P, P)  # past the view
    assert winerror(exc) == wa.ERROR_INVALID_ADDRESS
    ctypes.memset(address, 1, P)
    assert windows.resident(address, 3 * P)[0] == 1
    windows.advise(address, 3 * P, windows.CONSTANTS["MADV_WILLNEED"])
    assert [c.name for c in calls(k32, "PrefetchVirtualMemory")] == ["PrefetchVirtualMemory"]
    windows.unmap(address, 3 * P)


def test_a_copy_on_write_view_is_made_writable_as_writecopy(k32, open_file):
    f = open_file(b"x" * 8192)
    address = windows.map_memory(8192, RW, PRIVATE, f.fileno(), 0)
    windows.protect(address, 4096, RW & ~2)
    windows.protect(address, 4096, RW)
    assert [c.args[2] for c in calls(k32, "VirtualProtect")] == [wa.PAGE_READONLY, wa.PAGE_WRITECOPY]
    windows.unmap(address, 8192)


# --- files --------------------------------------------------------------------------


def test_file_size_truncate_dup_and_close(k32, open_file):
    f = open_file(b"x" * 10)
    assert windows.file_size(f.fileno()) == 10
    assert windows.is_regular_file(f.fileno()) == 10
    assert windows.is_regular_file(98765) is None
    windows.truncate(f.fileno(), 3)
    handle = k32.get_osfhandle(f.fileno())
    assert [(c.name, c.args) for c in calls(k32, "SetFilePointerEx", "SetEndOfFile")] == [
        ("SetFilePointerEx", (handle, 3, None, wa.FILE_BEGIN)), ("SetEndOfFile", (handle,))]
    copy = windows.dup(f.fileno())
    dup = calls(k32, "DuplicateHandle")[0]
    assert dup.args[:3] == (wa.CURRENT_PROCESS, handle, wa.CURRENT_PROCESS)
    assert dup.args[4:] == (0, False, wa.DUPLICATE_SAME_ACCESS)
    f.close()
    assert windows.file_size(copy) == 3  # the copy outlives the original
    windows.close_fd(copy)
    with pytest.raises(OSError):
        windows.file_size(copy)


def test_a_file_cannot_change_size_under_a_view(k32, open_file):
    f = open_file(b"x" * 10)
    address = windows.map_memory(10, RW, SHARED, f.fileno(), 0)
    assert winerror(failing(windows.truncate, f.fileno(), 5)) == wa.ERROR_USER_MAPPED_FILE
    windows.unmap(address, 10)
    windows.truncate(f.fileno(), 5)


def test_a_failed_duplicate_leaks_nothing(k32, open_file):
    f = open_file(b"x")
    k32.fail_next["DuplicateHandle"] = wa.ERROR_ACCESS_DENIED
    assert winerror(failing(windows.dup, f.fileno())) == wa.ERROR_ACCESS_DENIED


# --- resize ---------------------------------------------------------------------------


def test_resizing_paging_file_memory_copies_it(k32):
    address = windows.map_memory(100, RW, ANON, -1, 0)
    ctypes.memmove(address, b"keep", 4)
    new, length, error = windows.resize(address, 100, 70000, -1, 0)
    assert (length, error) == (70000, None) and new != address
    assert ctypes.string_at(new, 4) == b"keep" and ctypes.string_at(new + 69999, 1) == b"\0"
    create = calls(k32, "CreateFileMappingW")[-1]
    assert create.args == (wa.INVALID_HANDLE_VALUE, None, wa.PAGE_READWRITE, 0, 70000, None)
    assert address not in k32.views
    windows.unmap(new, length)


def test_resizing_a_file_view_unmaps_resizes_and_maps_again(k32, open_file):
    f = open_file(b"abc")
    address = windows.map_memory(3, RW, SHARED, f.fileno(), 0)
    new, length, error = windows.resize(address, 3, 6, f.fileno(), 0)
    assert (length, error) == (6, None)
    order = [c.name for c in k32.calls if c.name != "GetSystemInfo"][2:]
    assert order == ["CloseHandle", "UnmapViewOfFile", "SetFilePointerEx", "SetEndOfFile",
                     "CreateFileMappingW", "MapViewOfFile"]
    assert os.fstat(f.fileno()).st_size == 6 and ctypes.string_at(new, 6) == b"abc\0\0\0"
    windows.unmap(new, length)


def test_a_named_section_held_elsewhere_cannot_be_resized(k32):
    first = windows.map_named("held", 100, RW, ANON, -1, 0)
    second = windows.map_named("held", 100, RW, ANON, -1, 0)
    address, length, error = windows.resize(first, 100, 200, -1, 0)
    assert (address, length) == (first, 100)
    assert winerror(error) == wa.ERROR_USER_MAPPED_FILE
    assert calls(k32, "OpenFileMappingW")[0].args == (wa.FILE_MAP_WRITE, False, "held")
    windows.unmap(second, 100)
    # Now the name is ours alone: closing our handle frees it, and a new
    # section of the new size takes it.
    new, length, error = windows.resize(first, 100, 200, -1, 0)
    assert (length, error) == (200, None)
    assert calls(k32, "OpenFileMappingW")[-1].result is None
    windows.unmap(new, length)


def test_a_file_held_by_another_view_keeps_its_size_and_the_view_comes_back(k32, open_file):
    f = open_file(b"x" * 100)
    first = windows.map_memory(100, RW, SHARED, f.fileno(), 0)
    other = windows.map_memory(100, RW, SHARED, f.fileno(), 0)
    new, length, error = windows.resize(first, 100, 50, f.fileno(), 0)
    assert winerror(error) == wa.ERROR_USER_MAPPED_FILE
    assert length == 100 and os.fstat(f.fileno()).st_size == 100
    assert ctypes.string_at(new, 100) == b"x" * 100
    windows.unmap(new, length)
    windows.unmap(other, 100)


def test_a_file_view_that_cannot_be_made_again_is_gone(k32, open_file):
    f = open_file(b"x" * 100)
    address = windows.map_memory(100, RW, SHARED, f.fileno(), 0)
    k32.fail_next["MapViewOfFile"] = wa.ERROR_NOT_ENOUGH_MEMORY
    new, length, error = windows.resize(address, 100, 200, f.fileno(), 0)
    assert (new, length) == (None, 0) and winerror(error) == wa.ERROR_NOT_ENOUGH_MEMORY


def test_paging_file_memory_that_cannot_grow_stays_as_it_was(k32):
    address = windows.map_memory(100, RW, ANON, -1, 0)
    ctypes.memmove(address, b"same", 4)
    k32.fail_next["CreateFileMappingW"] = wa.ERROR_NOT_ENOUGH_MEMORY
    new, length, error = windows.resize(address, 100, 200, -1, 0)
    assert (new, length) == (address, 100) and winerror(error) == wa.ERROR_NOT_ENOUGH_MEMORY
    assert ctypes.string_at(address, 4) == b"same"
    windows.unmap(address, 100)  # the view; its section handle was already closed


def test_a_name_taken_while_resizing_is_not_ours_to_map(k32):
    address = windows.map_named("raced", 100, RW, ANON, -1, 0)
    opener = k32.kernel32.OpenFileMappingW
    intruders = []

    def open_then_someone_creates(access, inherit, name):
        # Between our OpenFileMappingW and CreateFileMappingW, another
        # process makes a section of that name.
        intruders.append(k32.k_CreateFileMappingW(wa.INVALID_HANDLE_VALUE, None, wa.PAGE_READWRITE,
                                                  0, 100, name))
        return k32.k_OpenFileMappingW(access, inherit, "nobody")

    opener.impl = open_then_someone_creates
    new, length, error = windows.resize(address, 100, 200, -1, 0)
    assert (new, length) == (address, 100) and winerror(error) == wa.ERROR_ALREADY_EXISTS
    windows.unmap(address, 100)
    windows._api().CloseHandle(intruders[0])


# --- the rest -------------------------------------------------------------------------


def test_placeholder_leaves_the_view_readable(k32):
    address = windows.map_memory(100, RW, ANON, -1, 0)
    ctypes.memmove(address, b"still", 5)
    windows.placeholder(address, 100)
    assert ctypes.string_at(address, 5) == b"still"
    windows.unmap(address, 100)


def test_searches_cross_chunk_boundaries(k32, monkeypatch):
    monkeypatch.setattr(windows, "_CHUNK", 8)
    data = b"....abc.....x.....abc...\n.."
    buf = ctypes.create_string_buffer(data, len(data))
    base = ctypes.addressof(buf)
    for needle in (b"abc", b"c.....x", b"\n..", b"zz", b""):
        assert windows.find(base, len(data), needle) == data.find(needle), needle
    assert windows.find_byte(base, len(data), ord("x")) == data.find(b"x")
    assert windows.find_byte(base, len(data), ord("z")) == -1
    assert windows.rfind_byte(base, len(data), ord("a")) == data.rfind(b"a")
    assert windows.rfind_byte(base, len(data), ord("z")) == -1
    assert ctypes.string_at(base + 4, 3) == b"abc"


@pytest.mark.parametrize("needle", [b"N", b"NE", b"NXE", b"NXXXE", b"NXXXXXXXXE"])
def test_a_needle_at_every_position_across_every_chunk_boundary(monkeypatch, needle):
    # With 8-byte chunks, the needle is placed at every start position of a
    # 40-byte range (so on, across and just past every chunk edge, whatever
    # its start mod 8), alone and with a second copy later on, and each
    # search, from several starts, is judged against bytes.find/rfind.
    monkeypatch.setattr(windows, "_CHUNK", 8)
    size, n = 40, len(needle)
    checked = 0
    for pos in range(size - n + 1):
        for second in (None, min(pos + n + 3, size - n)):
            data = bytearray(b"." * size)
            data[pos:pos + n] = needle
            if second is not None and second >= pos + n:
                data[second:second + n] = needle
            buf = ctypes.create_string_buffer(bytes(data), size)
            base = ctypes.addressof(buf)
            for lo in (0, 1, 7, 8, 9, pos, pos + 1):
                for hi in (size, pos + n, pos + n - 1, size - 1):
                    if not 0 <= lo <= size or hi < 0:
                        continue
                    window = bytes(data[lo:hi])
                    assert windows.find(base + lo, hi - lo, needle) == window.find(needle), (pos, lo, hi)
                    if n == 1:
                        byte = needle[0]
                        assert windows.find_byte(base + lo, hi - lo, byte) == window.find(needle), (pos, lo, hi)
                        assert windows.rfind_byte(base + lo, hi - lo, byte) == window.rfind(needle), (pos, lo, hi)
                    checked += 1
    assert checked > 40 * 2 * 7 * 3


def test_the_tracer_sees_each_call_with_its_windows_error(k32, open_file):
    seen = []
    windows.set_tracer(lambda *record: seen.append(record))
    try:
        address = windows.map_memory(10, RW, ANON, -1, 0)
        windows.unmap(address, 10)
        with pytest.raises(OSError):
            windows.unmap(address, 10)
        with pytest.raises(OSError):
            windows.file_size(98765)
    finally:
        windows.set_tracer(None)
    assert [(name, err) for name, _args, _result, err in seen] == [
        ("CreateFileMappingW", 0), ("MapViewOfFile", 0), ("UnmapViewOfFile", 0), ("CloseHandle", 0),
        ("UnmapViewOfFile", wa.ERROR_INVALID_ADDRESS), ("_get_osfhandle", errno.EBADF)]


# Where the backends differ, on purpose.  posix.py has a few names with no
# Windows counterpart at all (System V's shmid_ds; fill_holes, for children
# forked after MADV_DONTFORK); windows.py has the two calls of named sections.
POSIX_ONLY = {"UNSAFE_ADVICE", "cachestat", "fill_holes", "page_flags", "shmid_ds"}
WINDOWS_ONLY = {"RESIDENT_IS_WORKING_SET", "handle_of", "map_named", "resize", "working_set"}


def test_both_backends_export_the_same_names_but_for_a_few(k32):
    assert set(posix.__all__) - set(windows.__all__) == POSIX_ONLY
    assert set(windows.__all__) - set(posix.__all__) == WINDOWS_ONLY
    for name in windows.__all__:
        assert hasattr(windows, name), name
    assert windows.HAS_MADVISE is False and posix.HAS_MADVISE is True
    assert windows.PUBLIC_CONSTANTS == {} and posix.PUBLIC_CONSTANTS == posix.CONSTANTS
    assert set(windows.CONSTANTS) <= set(posix.CONSTANTS)


def test_the_tracer_sees_the_c_runtime_and_get_system_info_too(k32, open_file):
    f = open_file(b"x")
    seen = []
    windows.set_tracer(lambda *record: seen.append(record))
    try:
        windows.PAGESIZE  # the first read asks GetSystemInfo
        windows.close_fd(windows.dup(f.fileno()))
    finally:
        windows.set_tracer(None)
    assert [name for name, *_ in seen] == [
        "GetSystemInfo", "GetCurrentProcess", "_get_osfhandle", "DuplicateHandle", "_open_osfhandle",
        "_close"]


def test_a_duplicate_the_c_runtime_cannot_take_is_closed_again(k32, open_file, monkeypatch):
    f = open_file(b"x")

    def refuse(handle, flags):
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))

    monkeypatch.setattr(k32.msvcrt, "open_osfhandle", refuse)
    monkeypatch.setattr(windows._api(), "open_osfhandle", refuse)
    with pytest.raises(OSError) as info:
        windows.dup(f.fileno())
    assert info.value.errno == errno.EMFILE
    assert calls(k32)[-1].name == "CloseHandle"


def test_virtual_query_describes_a_view(k32):
    w = windows._api()
    address = windows.map_memory(100, RW, ANON, -1, 0)
    info = w.MEMORY_BASIC_INFORMATION()
    assert w.VirtualQuery(address + 10, ctypes.byref(info), ctypes.sizeof(info)) == ctypes.sizeof(info)
    assert (info.BaseAddress, info.RegionSize, info.Type) == (address, 100, w.MEM_MAPPED)
    windows.unmap(address, 100)
    w.VirtualQuery(address, ctypes.byref(info), ctypes.sizeof(info))
    assert info.State == w.MEM_FREE
