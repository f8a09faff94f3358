"""MappedRegion: one mapping, from mmap(2) to munmap(2)."""

import gc
import os
import subprocess
import sys

import pytest

import pymmap
from pymmap import MappedRegion
from pymmap import region as region_module
from pymmap._platform import backend

PAGE = pymmap.PAGESIZE
C = backend.CONSTANTS  # pymmap's own numbers, also where the module exports none (Windows)
RW = C["PROT_READ"] | C["PROT_WRITE"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _maps_lines_for(address):
    with open("/proc/self/maps") as maps:
        return [line for line in maps if int(line.split("-")[0], 16) <= address < int(line.split("-")[1].split()[0], 16)]


def test_anonymous_region_reads_back_what_the_array_wrote():
    r = MappedRegion(PAGE)
    assert r.fd == -1 and r.flags & C["MAP_ANONYMOUS"]
    assert r.array[:4] == b"\0\0\0\0"  # anonymous memory starts zeroed
    r.array[0:5] = b"hello"
    assert r.read(0, 5) == b"hello"
    assert r.view[1] == ord("e")
    r.write(5, bytearray(b"!!"))
    assert bytes(r.array[:7]) == b"hello!!"
    r.close()


def test_file_region_writes_reach_the_file_after_sync(open_file):
    f = open_file(b"x" * PAGE)
    r = MappedRegion(PAGE, fd=f.fileno())
    assert r.read(0, 3) == b"xxx"
    r.write(0, b"abc")
    r.flush(0, PAGE, C["MS_SYNC"])
    f.seek(0)
    assert f.read(4) == b"abcx"
    r.close()


def test_private_region_never_changes_the_file(open_file):
    f = open_file(b"x" * PAGE)
    r = MappedRegion(PAGE, fd=f.fileno(), flags=C["MAP_PRIVATE"])
    r.write(0, b"abc")
    assert r.read(0, 4) == b"abcx"
    f.seek(0)
    assert f.read(4) == b"xxxx"
    r.close()


def test_offset_region_sees_the_file_from_the_offset(open_file):
    gran = pymmap.ALLOCATIONGRANULARITY  # offsets are multiples of it (64 KiB on Windows)
    f = open_file(b"a" * gran + b"b" * PAGE)
    r = MappedRegion(PAGE, fd=f.fileno(), offset=gran, prot=C["PROT_READ"])
    assert r.read(0, 2) == b"bb"
    assert r.view.readonly  # no PROT_WRITE: writes through the view raise instead of crashing
    with pytest.raises(TypeError):
        r.write(0, b"x")
    with pytest.raises(TypeError):
        r.move(0, 1, 1)
    r.close()


def test_closed_region_refuses_access_with_valueerror():
    r = MappedRegion(PAGE)
    r.close()
    assert r.closed and r.array is None and r.view is None
    for call in (lambda: r.read(0, 1), lambda: r.write(0, b"x"), lambda: r.find(b"x", 0, 1),
                 lambda: r.rfind(b"xy", 0, 2), lambda: r.find_byte(1, 0, 1), lambda: r.move(0, 1, 1),
                 lambda: r.flush(0, PAGE, C["MS_SYNC"]), lambda: r.advise(0, 0, PAGE),
                 lambda: r.load(0, 1), lambda: r.protect(RW, 0, PAGE), lambda: r.resize(2 * PAGE)):
        with pytest.raises(ValueError, match="mmap closed or invalid"):
            call()
    r.close()  # a second close does nothing
    assert "closed" in repr(r)


CPYTHON = hasattr(sys, "getrefcount")


@pytest.mark.skipif(os.name != "posix" or not os.path.exists("/proc/self/maps"), reason="reads /proc/self/maps")
def test_close_unmaps_at_once():
    r = MappedRegion(PAGE)
    address = r.address
    assert _maps_lines_for(address)
    r.close()
    if not CPYTHON:
        # PyPy cannot count references: close() swapped in a placeholder,
        # and the range goes back when the collector frees the views.
        gc.collect()
    assert not _maps_lines_for(address)


def test_garbage_collection_unmaps():
    r = MappedRegion(PAGE)
    address = r.address
    assert "address=0x" in repr(r)
    del r
    gc.collect()
    assert not _maps_lines_for(address)


@pytest.mark.skipif(not backend.HAS_REMAP, reason='Windows cannot swap a view for zeros: a busy view stays mapped until released (windows.placeholder)')
def test_a_held_view_keeps_addresses_valid_after_close(open_file):
    f = open_file(b"y" * PAGE)
    r = MappedRegion(PAGE, fd=f.fileno())
    view = r.view  # as if another thread were in the middle of a copy
    array = r.array  # (on PyPy a memoryview alone does not keep its array alive)
    address = r.address
    r.close()
    # The file is released, but the addresses still hold (zeroed) memory.
    assert view[0] == 0
    assert _maps_lines_for(address)
    assert not any(os.path.basename(f.name) in line for line in _maps_lines_for(address))
    del view, array
    gc.collect()
    assert not _maps_lines_for(address)


def test_close_unmaps_at_once_when_only_the_region_holds_its_views(open_file):
    f = open_file(b"y" * PAGE)
    r = MappedRegion(PAGE, fd=f.fileno())
    array = r.array
    del array  # a holder that has let go no longer counts
    address = r.address
    r.close()
    if not CPYTHON:
        gc.collect()  # PyPy frees the region's own array only when it collects
    assert not _maps_lines_for(address)


def test_resize_a_file_region(open_file):
    f = open_file(b"z" * PAGE)
    r = MappedRegion(PAGE, fd=f.fileno())
    r.resize(3 * PAGE, f.fileno())
    assert r.length == 3 * PAGE and len(r.array) == 3 * PAGE
    assert os.fstat(f.fileno()).st_size == 3 * PAGE
    assert r.read(PAGE - 1, PAGE + 1) == b"z\0"
    r.resize(10, f.fileno())
    assert os.fstat(f.fileno()).st_size == 10
    assert r.read(0, 10) == b"z" * 10
    r.close()


@pytest.mark.parametrize("flags", [C["MAP_SHARED"], C["MAP_PRIVATE"]])
def test_resize_anonymous_regions_keeps_bytes_and_zero_fills(flags):
    r = MappedRegion(PAGE, flags=flags)
    r.write(0, b"keep")
    r.write(PAGE - 1, b"!")
    r.resize(3 * PAGE)
    assert r.read(0, 4) == b"keep"
    assert r.read(PAGE - 1, PAGE + 2) == b"!\0\0"
    assert r.read(3 * PAGE - 1, 3 * PAGE) == b"\0"  # the new pages are really there
    r.resize(2)
    assert r.read(0, 2) == b"ke"
    r.close()


@pytest.mark.skipif(os.name == "nt", reason="Windows cannot change a file's size while a view of it is mapped (ERROR_USER_MAPPED_FILE)")
def test_resize_while_in_use_moves_to_a_fresh_mapping(open_file):
    f = open_file(b"k" * PAGE)
    r = MappedRegion(PAGE, fd=f.fileno())
    view = r.view  # as if another thread were reading
    old_address = r.address
    r.resize(2 * PAGE, f.fileno())
    assert r.address != old_address
    assert r.read(0, 2) == b"kk" and r.read(PAGE, PAGE + 1) == b"\0"
    assert view[0] == 0  # the old range was retired, not pulled away
    del view
    gc.collect()
    assert not _maps_lines_for(old_address)
    r.close()


@pytest.mark.skipif(os.name == "nt", reason="Windows cannot change a file's size while a view of it is mapped (ERROR_USER_MAPPED_FILE)")
def test_resize_private_file_region_while_in_use_keeps_private_bytes(open_file):
    f = open_file(b"p" * PAGE)
    r = MappedRegion(PAGE, fd=f.fileno(), flags=C["MAP_PRIVATE"])
    r.write(0, b"mine")
    view = r.view
    r.resize(PAGE // 2, f.fileno())
    assert r.read(0, 5) == b"minep"
    del view
    r.close()


def test_searches_and_moves():
    r = MappedRegion(PAGE)
    r.write(0, b"abcabc\nxyz")
    assert r.find(b"bc", 0, 10) == 1
    assert r.find(b"bc", 2, 10) == 4
    assert r.find(b"c", 3, 10) == 5
    assert r.find(b"abc", 5, 7) == -1
    assert r.rfind(b"bc", 0, 10) == 4
    assert r.rfind(b"a", 0, 10) == 3
    assert r.rfind(b"", 0, 10) == 10
    assert r.rfind(b"abcabc\nxyz!", 0, 10) == -1
    assert r.find_byte(ord("\n"), 0, 10) == 6
    assert r.find_byte(ord("\n"), 7, 7) == -1
    r.move(1, 0, 6)
    assert r.read(0, 8) == b"aabcabcx"
    if backend.HAS_MADVISE:
        r.advise(C["MADV_NORMAL"], 0, PAGE)
    r.close()


def test_rfind_skips_to_the_candidates_and_finds_the_last():
    # (Needles across every chunk boundary: tests/test_search.py.)
    size = 3 * (1 << 20) + 100
    needle = b"NEEDLE"
    r = MappedRegion(size)
    # Where the last byte is rare, memrchr jumps straight to the candidates.
    r.write(10, needle)
    r.write(size // 2, needle)
    assert r.rfind(needle, 0, size) == size // 2
    assert r.rfind(needle, 0, size // 2 + 5) == 10
    assert r.rfind(b"NEEDLX", 0, size) == -1
    # Several matches in one chunk: the last one wins.
    r.write(size - 100, needle)
    r.write(size - 50, needle)
    assert r.rfind(needle, 0, size) == size - 50
    assert r.rfind(b"NEED", 0, size - 46) == size - 50
    assert r.rfind(b"NEED", 0, size - 47) == size - 100
    r.close()


def test_errors_come_from_the_kernel(open_file):
    with pytest.raises(OSError) as info:
        MappedRegion(PAGE, fd=987654)
    assert info.value.errno == 9  # EBADF
    f = open_file(b"x" * PAGE)
    with pytest.raises(OSError) as info:
        MappedRegion(PAGE, fd=f.fileno(), offset=1)
    assert info.value.errno == 22  # EINVAL


def test_without_mremap_file_regions_are_mapped_again(open_file, monkeypatch):
    monkeypatch.setattr(backend, "HAS_REMAP", False)
    f = open_file(b"q" * PAGE)
    r = MappedRegion(PAGE, fd=f.fileno())
    r.resize(2 * PAGE, f.fileno())
    assert r.read(0, 2) == b"qq" and r.read(PAGE, PAGE + 1) == b"\0"
    r.close()


def test_regions_left_open_are_released_at_exit_without_errors(tmp_path):
    code = (
        "import pymmap\n"
        "keep = [pymmap.MappedRegion(pymmap.PAGESIZE) for _ in range(3)]\n"
        "view = keep[0].view\n"
        "keep[0].close()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path),
                          env=dict(os.environ, PYTHONPATH=ROOT),
                          capture_output=True)
    assert proc.returncode == 0
    assert proc.stderr == b""


@pytest.mark.parametrize("n", [1, 2, 7, 255, 256, 257, 1000, 5000])
def test_searches_agree_with_bytes_around_the_first_window(n):
    # find and rfind look at 256 bytes in a copy first, then search in place
    # from where a match could still begin; a needle longer than the window
    # must not make them look outside [start, stop).
    size = 3 * 4096
    needle = bytes(range(1, 256)) * (n // 255 + 1)
    needle = needle[:n]
    r = MappedRegion(size)
    for pos in sorted({0, 1, 100, 255 - n, 256 - n, 257 - n, 200, 255, 256, 300, 5000, size - 256 - n,
                       size - 256, size - 255 - n, size - n}):
        if not 0 <= pos <= size - n:
            continue
        r.write(pos, needle)
        data = r.read(0, size)
        for start, stop in [(0, size), (pos, pos + n), (pos, pos + n - 1), (pos + 1, size),
                            (max(0, pos - 300), min(size, pos + n + 300)), (10, size - 10)]:
            assert r.find(needle, start, stop) == data.find(needle, start, stop), (pos, start, stop)
            assert r.rfind(needle, start, stop) == data.rfind(needle, start, stop), (pos, start, stop)
        r.write(pos, bytes(n))
    r.close()


@pytest.mark.skipif(not backend.HAS_REMAP, reason='mremap(2): Windows maps a new view instead')
def test_no_one_can_pick_up_the_range_while_mremap_moves_it(monkeypatch):
    # mremap(2) runs without the GIL.  Had the region still offered its old
    # array meanwhile, another thread could pin it and search or msync a
    # range that the kernel was moving away (SIGSEGV, or ENOMEM from msync:
    # seen once in CI on 3.8).  The region lets go of its views first.
    r = MappedRegion(PAGE, flags=C["MAP_PRIVATE"])  # (shared anonymous memory never moves)
    seen = []
    real_remap = backend.remap

    def remap_while_another_thread_looks(*args):
        for attempt in (lambda: r.find(b"x", 0, PAGE), lambda: r.flush(0, PAGE, C["MS_ASYNC"])):
            try:
                attempt()
            except ValueError as exc:
                seen.append(str(exc))
        return real_remap(*args)

    monkeypatch.setattr(backend, "remap", remap_while_another_thread_looks)
    r.resize(3 * PAGE)
    # PyPy cannot tell whether anyone holds a view, so its regions never
    # move: resize maps afresh and copies, and mremap(2) is not called.
    assert seen == (["mmap closed or invalid"] * 2 if CPYTHON else [])
    assert r.length == 3 * PAGE and r.read(0, 4) == b"\0" * 4
    r.close()


@pytest.mark.skipif(not backend.HAS_REMAP, reason='mremap(2): Windows maps a new view instead')
def test_a_failed_mremap_gives_the_views_back(monkeypatch):
    r = MappedRegion(PAGE, flags=C["MAP_PRIVATE"])
    r.write(0, b"kept")

    def refuse(*args):
        raise backend.oserror(12)

    monkeypatch.setattr(backend, "remap", refuse)
    if CPYTHON:
        with pytest.raises(OSError) as info:
            r.resize(3 * PAGE)
        assert r.read(0, 4) == b"kept" and r.length == PAGE
        # The traceback in info holds resize's frame, but not the views: the
        # region is not held up, and close() unmaps at once.
        address = r.address
        r.close()
        assert not _maps_lines_for(address)
        del info
        return
    else:
        r.resize(3 * PAGE)  # PyPy never calls mremap(2) (see above): the copy succeeds
        assert r.read(0, 4) == b"kept" and r.length == 3 * PAGE
    r.close()


@pytest.mark.skipif(region_module._MADV_DONTFORK is None, reason="MADV_DONTFORK is Linux's")
def test_after_a_fork_the_pages_left_out_are_filled():
    # What a child forked after MADV_DONTFORK finds: the advised pages are
    # gone.  The hook os.fork() runs in the child fills them with zeros.
    # (tests/test_mmap_crashes.py forks for real.)
    r = MappedRegion(3 * PAGE, flags=C["MAP_PRIVATE"])
    closed = MappedRegion(PAGE)
    r.array[:] = b"r" * (3 * PAGE)
    r.advise(region_module._MADV_DONTFORK, PAGE, PAGE)
    closed.advise(region_module._MADV_DONTFORK, 0, PAGE)
    closed.close()
    assert r in region_module._unforked
    backend.unmap(r.address + PAGE, PAGE)  # as the child sees it
    region_module._fill_holes_after_fork()
    assert r.read(0, 3 * PAGE) == b"r" * PAGE + bytes(PAGE) + b"r" * PAGE
    r.close()


@pytest.mark.skipif(os.name != "posix", reason="mprotect(2) and mincore(2): on Windows see test_windows_features.py")
def test_the_region_keeps_the_rules_of_protection_and_loading():
    # The rules live in the region, for every caller (the map's protect()
    # and load() only convert their arguments and say the C module's errors).
    r = MappedRegion(3 * PAGE)
    with pytest.raises(ValueError, match="multiple of PAGESIZE"):
        r.protect(C["PROT_READ"], 1, PAGE)
    with pytest.raises(ValueError, match="PROT_READ, PROT_WRITE and PROT_EXEC"):
        r.protect(0x1000, 0, PAGE)
    assert r.allowed_protection(C["PROT_WRITE"], PAGE) == RW  # what may be written may be read
    assert r.allowed_protection(0, 0) == 0
    r.protect(C["PROT_NONE"], 2 * PAGE, PAGE)
    with pytest.raises(ValueError, match="PROT_NONE"):
        r.load(0, 3 * PAGE)  # refused before anything is read
    r.load(0, 2 * PAGE)
    assert r.resident(0, 2 * PAGE) == b"\x01\x01"
    r.protect(RW, 2 * PAGE, PAGE)
    r.load(PAGE + 5, 100 * PAGE)  # from the page that holds the start; clamped to the mapping
    assert r.resident(0, 3 * PAGE) == b"\x01\x01\x01"
    r.close()
    read_only = MappedRegion(PAGE, prot=C["PROT_READ"])
    with pytest.raises(TypeError, match="more access than the map was created with"):
        read_only.protect(RW, 0, PAGE)
    read_only.close()
