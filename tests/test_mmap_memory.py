"""Beyond the stdlib: lock/unlock, resident/is_loaded/load, flush flags, populate, huge pages.

These are pymmap-only APIs over mlock(2), munlock(2), mincore(2),
madvise(2), msync(2) and the MAP_POPULATE / MAP_HUGETLB flags of mmap(2).
The kernel is the oracle: ``/proc/self/status`` (VmLck), ``mincore`` and the
syscall trace show what happened.
"""

import errno
import gc
import os

import pytest
from isolated import run_isolated

import pymmap
from pymmap._platform import backend

if os.name != "posix":
    pytest.skip("mlock limits (RLIMIT_MEMLOCK), mincore, msync flags, MAP_POPULATE and huge pages are POSIX's; lock() and resident() over kernel32 are tested in tests/test_windows_features.py", allow_module_level=True)

P = pymmap.PAGESIZE


def _calls(fn):
    """Run ``fn()`` under the trace; return the traced records."""
    records = []
    with pymmap.trace(records.append):
        fn()
    return records


def _locked_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmLck:"):
                return int(line.split()[1])
    raise AssertionError("no VmLck in /proc/self/status")


# --- lock / unlock -------------------------------------------------------------------


def test_lock_and_unlock_within_the_limit():
    m = pymmap.mmap(-1, 4 * P)
    before = _locked_kib()
    m.lock()
    assert _locked_kib() - before == 4 * P // 1024
    m.unlock(P, P)
    assert _locked_kib() - before == 3 * P // 1024
    m.unlock()
    assert _locked_kib() == before
    m.lock(P + 5, 10)  # mlock rounds to whole pages itself
    assert _locked_kib() - before == P // 1024
    m.close()  # munmap unlocks
    assert _locked_kib() == before


def test_lock_arguments_are_checked_like_madvise():
    m = pymmap.mmap(-1, P)
    with pytest.raises(ValueError, match="lock start out of bounds"):
        m.lock(P)
    with pytest.raises(ValueError, match="unlock length invalid"):
        m.unlock(0, -1)
    records = _calls(lambda: m.lock(0, 10 * P))  # clamped to the map
    assert [(r.name, r.args[1]) for r in records] == [("mlock", P)]
    m.unlock()
    m.close()
    with pytest.raises(ValueError, match="closed"):
        m.lock()


LOCK_PAST_THE_LIMIT = """
import errno, os, resource
import pymmap
P = pymmap.PAGESIZE
resource.setrlimit(resource.RLIMIT_MEMLOCK, ({limit}, {limit}))
if os.getuid() == 0:
    # root (CAP_IPC_LOCK) ignores RLIMIT_MEMLOCK: become an ordinary user.
    os.setgid(65534)
    os.setuid(65534)
m = pymmap.mmap(-1, 4 * P)
m.lock(0, P) if {limit} else None
try:
    m.lock()
except OSError as exc:
    print(errno.errorcode[exc.errno], exc.strerror == os.strerror(exc.errno), str(exc))
m.unlock()
m.lock(0, P) if {limit} else None
print("still usable")
"""


@pytest.mark.parametrize("limit, code", [(2 * P, "ENOMEM"), (0, "EPERM")])
def test_lock_past_rlimit_memlock_says_so(limit, code):
    out = run_isolated(LOCK_PAST_THE_LIMIT.format(limit=limit))
    first, second = out.splitlines()
    assert first.startswith(f"{code} True [Errno {getattr(errno, code)}]")
    assert "RLIMIT_MEMLOCK" in first and "ulimit -l" in first
    assert second == "still usable"


# --- resident / is_loaded / load -------------------------------------------------------


def test_resident_pages_of_a_private_map_go_with_dontneed_and_come_back_with_load():
    # MAP_PRIVATE: after MADV_DONTNEED its pages are really gone (a shared
    # map's pages stay in shmem; see NOTES.md).
    m = pymmap.mmap(-1, 8 * P, flags=pymmap.MAP_PRIVATE)
    m[:] = b"x" * (8 * P)
    assert m.resident() == b"\x01" * 8 and m.is_loaded()
    m.madvise(pymmap.MADV_DONTNEED, 2 * P, 4 * P)
    assert m.resident() == b"\x01\x01\x00\x00\x00\x00\x01\x01"
    assert not m.is_loaded()
    assert m[2 * P] == 0  # private anonymous pages come back zero-filled
    m.madvise(pymmap.MADV_DONTNEED)
    records = _calls(lambda: m.load(P, 2 * P))
    assert [r.name for r in records] == ["madvise", "mincore"][:1]
    assert records[0].args[1:] == (2 * P, pymmap.MADV_WILLNEED)
    assert m.resident() == b"\x00\x01\x01" + b"\x00" * 5
    m.load()
    assert m.is_loaded()
    m.close()


def test_load_of_a_map_closed_during_the_advice(monkeypatch):
    m = pymmap.mmap(-1, 2 * P)
    advise = backend.advise

    def advise_then_close(*args):
        advise(*args)
        m.close()  # as another thread could, while madvise(2) runs

    monkeypatch.setattr(backend, "advise", advise_then_close)
    with pytest.raises(ValueError, match="mmap closed or invalid"):
        m.load()


def test_resident_counts_pages_from_the_one_holding_start():
    calls = []
    with pymmap.trace(calls.append):
        m = pymmap.mmap(-1, 4 * P + 100, flags=pymmap.MAP_PRIVATE)
    address = calls[-1].result
    assert len(m.resident()) == 5
    assert len(m.resident(P + 5, 1)) == 1
    assert len(m.resident(P - 1, 2)) == 2  # straddles a page boundary
    assert m.resident(3, 0) == b""
    assert len(m.resident(4 * P + 99)) == 1
    records = _calls(lambda: m.resident(P + 5, P))
    assert records[0].args[0] == address + P  # rounded down for mincore
    with pytest.raises(ValueError, match="resident start out of bounds"):
        m.resident(-1)
    m.load(P + 7, 1)
    m.close()
    with pytest.raises(ValueError, match="closed"):
        m.is_loaded()


def test_resident_of_a_file_map_shows_the_page_cache(open_file):
    f = open_file(os.urandom(4 * P))
    m = pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ)
    m.load()
    assert m.resident() == b"\x01" * 4  # just read: in the page cache, and mapped
    m.close()


# --- flush flags -------------------------------------------------------------------------


def test_flush_passes_its_flags_to_msync(open_file):
    f = open_file(b"\0" * 2 * P)
    m = pymmap.mmap(f.fileno(), 0)
    m[0:3] = b"abc"
    flags = [r.args[2] for r in _calls(lambda: (
        m.flush(),
        m.flush(flags=pymmap.MS_SYNC | pymmap.MS_INVALIDATE),
        m.flush(P, flags=pymmap.MS_ASYNC),
        m.flush_async(),
        m.flush_async(P, P),
    ))]
    assert flags == [pymmap.MS_SYNC, pymmap.MS_SYNC | pymmap.MS_INVALIDATE,
                     pymmap.MS_ASYNC, pymmap.MS_ASYNC, pymmap.MS_ASYNC]
    f.seek(0)
    assert f.read(3) == b"abc"
    with pytest.raises(OSError) as info:
        m.flush(flags=pymmap.MS_SYNC | pymmap.MS_ASYNC)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        m.flush(0, P, pymmap.MS_ASYNC)  # keyword-only, as in CPython 3.15
    with pytest.raises(ValueError, match="flush values out of range"):
        m.flush_async(0, 3 * P)
    m.close()


def test_flush_async_does_nothing_for_read_and_copy_maps(open_file):
    f = open_file(b"\0" * P)
    for access in (pymmap.ACCESS_READ, pymmap.ACCESS_COPY):
        m = pymmap.mmap(f.fileno(), 0, access=access)
        assert _calls(m.flush_async) == []
        m.close()


# --- populate and huge pages -----------------------------------------------------------


def test_populate_maps_every_page_in_at_once():
    records = []
    with pymmap.trace(records.append):
        m = pymmap.mmap(-1, 8 * P, flags=pymmap.MAP_PRIVATE, populate=True)
    assert records[0].name == "mmap" and records[0].args[3] & pymmap.MAP_POPULATE
    assert m.resident() == b"\x01" * 8  # nothing touched, yet all resident
    m.close()
    plain = pymmap.mmap(-1, 8 * P, flags=pymmap.MAP_PRIVATE)
    assert plain.resident()[1:] == b"\x00" * 7  # (PyPy reads page 0 while setting up)
    plain.close()


def test_populate_with_a_file_and_access_modes(open_file):
    f = open_file(os.urandom(2 * P))
    m = pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ, populate=True)
    assert m.is_loaded() and m[:4] == f.read(4)
    m.close()
    with pytest.raises(TypeError):
        pymmap.mmap(-1, P, pymmap.MAP_SHARED, pymmap.PROT_READ, 0, 0, True)  # keyword-only


def _huge_pages_reserved():
    with open("/proc/meminfo") as meminfo:
        return any(line.split()[1] != "0" for line in meminfo if line.startswith("HugePages_Free:"))


def test_huge_pages_for_anonymous_memory_need_whole_huge_pages():
    huge = backend.huge_page_size()
    assert huge >= P and huge % P == 0
    with pytest.raises(ValueError, match=f"multiple of the huge page size \\({huge} bytes\\)"):
        pymmap.mmap(-1, P, huge_pages=True)


@pytest.mark.skipif(_huge_pages_reserved(), reason="this machine has huge pages reserved")
def test_huge_pages_without_reserved_huge_pages_fail_with_a_hint():
    fds = len(os.listdir("/proc/self/fd"))
    with pytest.raises(OSError) as info:
        pymmap.mmap(-1, backend.huge_page_size(), huge_pages=True)
    assert info.value.errno == errno.ENOMEM
    assert info.value.strerror == os.strerror(errno.ENOMEM)
    assert "/proc/sys/vm/nr_hugepages" in str(info.value)
    assert len(os.listdir("/proc/self/fd")) == fds


def test_huge_pages_for_a_file_use_madvise_hugepage(open_file):
    f = open_file(b"\0" * 4 * P)
    records = []
    with pymmap.trace(records.append):
        m = pymmap.mmap(f.fileno(), 0, huge_pages=True)
    advice = [r.args[2] for r in records if r.name == "madvise"]
    assert advice == [pymmap.MADV_HUGEPAGE]
    m.close()


def test_huge_pages_advice_refused_closes_everything(open_file, monkeypatch):
    f = open_file(b"\0" * P)
    fds = len(os.listdir("/proc/self/fd"))
    real = backend.advise
    monkeypatch.setattr(backend, "advise", lambda a, n, advice: real(a, n, 12345))
    with pytest.raises(OSError) as info:
        pymmap.mmap(f.fileno(), 0, huge_pages=True)
    assert info.value.errno == errno.EINVAL
    assert len(os.listdir("/proc/self/fd")) == fds


def test_platform_hints_keep_errno_and_strerror(monkeypatch):
    def einval(*args):
        raise backend.oserror(errno.EINVAL)

    gc.collect()  # no finalizer of an earlier map may run munmap while _syscall fails
    monkeypatch.setattr(backend, "_syscall", einval)
    with pytest.raises(OSError) as info:
        backend.advise(0, P, pymmap.MADV_HUGEPAGE)  # as a kernel without THP answers
    assert info.value.errno == errno.EINVAL
    assert info.value.strerror == os.strerror(errno.EINVAL)
    assert "/sys/kernel/mm/transparent_hugepage/enabled" in str(info.value)
    with pytest.raises(OSError) as info:
        backend.advise(0, P, pymmap.MADV_NORMAL)
    assert info.value.filename is None  # no hint where it would not help
    with pytest.raises(OSError) as info:
        backend.lock(0, P)
    assert info.value.filename is None
