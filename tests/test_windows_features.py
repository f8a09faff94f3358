"""pymmap's own features on Windows, under the real kernel32 (``.ci/windows`` runs them under Wine).

Beyond the stdlib: ``protect()`` (``VirtualProtect``), ``lock()``/``unlock()``
(``VirtualLock``/``VirtualUnlock``), ``resident()`` and ``load()``
(``QueryWorkingSetEx``, ``PrefetchVirtualMemory``), the syscall trace of
kernel32's calls, ``python -m pymmap pages`` and errors worded as CPython
words them.  The Windows module exports no ``PROT_*`` names, so the numbers
come from the platform layer's table.
"""

import mmap as stdlib_mmap
import os
import subprocess
import sys
import uuid

import pytest
from isolated import ROOT, run_isolated

import pymmap
from pymmap._platform import backend

if os.name != "nt":
    pytest.skip("kernel32 itself: runs on Windows (.ci/windows, under Wine); on Linux the "
                "stand-in tests (test_platform_windows.py, test_mmap_windows.py) cover the calls",
                allow_module_level=True)

C = backend.CONSTANTS
P = pymmap.PAGESIZE
READ, WRITE = C["PROT_READ"], C["PROT_WRITE"]


def test_errors_are_worded_as_cpython_words_them():
    for call in (lambda mod: mod.mmap(-1, 10, offset=4096), lambda mod: mod.mmap(-1, 0)):
        with pytest.raises(OSError) as ours:
            call(pymmap)
        with pytest.raises(OSError) as theirs:
            call(stdlib_mmap)
        assert str(ours.value) == str(theirs.value)
        assert (ours.value.errno, ours.value.winerror) == (theirs.value.errno, theirs.value.winerror)
        assert not ours.value.strerror.endswith((".", " "))


def test_protect_makes_guard_pages_and_read_only_pages():
    with pymmap.mmap(-1, 3 * P) as m:
        m[:3] = b"abc"
        m.protect(0, 2 * P, P)  # a guard page at the end
        with pytest.raises(ValueError):
            m[2 * P]
        m.protect(READ, 0, P)
        with pytest.raises(TypeError):
            m[0] = 1
        assert m[:3] == b"abc" and m.find(b"c", 0, 2 * P) == 2
        m[P] = 9  # the middle page is still writable
        m.protect(READ | WRITE)
        m[0] = ord("A")
        m[2 * P] = 1
        assert m[:3] == b"Abc"


def test_protect_of_a_copy_on_write_map_keeps_the_file(tmp_path):
    path = tmp_path / "cow.bin"
    path.write_bytes(b"x" * 2 * P)
    with open(path, "r+b") as f, pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_COPY) as m:
        m.protect(READ, 0, P)
        with pytest.raises(TypeError):
            m[0] = 1
        m.protect(READ | WRITE)  # PAGE_WRITECOPY: still copy-on-write
        m[0] = ord("y")
        assert m[:2] == b"yx"
    assert path.read_bytes() == b"x" * 2 * P


def test_protect_cannot_grant_more_than_the_map_has(tmp_path):
    path = tmp_path / "ro.bin"
    path.write_bytes(b"r" * P)
    with open(path, "rb") as f, pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ) as m:
        with pytest.raises(TypeError):
            m.protect(READ | WRITE)


def test_lock_resident_and_load():
    with pymmap.mmap(-1, 8 * P) as m:
        m.lock()
        m.unlock()
        m.unlock(0, P)  # not locked: fine, as with munlock(2)
        m.load()
        assert m.resident() == b"\x01" * 8 and m.is_loaded()
        assert m.resident(3 * P + 5, 10) == b"\x01"


def test_a_file_map_is_resident_once_touched(tmp_path):
    path = tmp_path / "touch.bin"
    path.write_bytes(os.urandom(16 * P))
    with open(path, "rb") as f, pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ) as m:
        assert len(m.resident()) == 16
        m.load()
        assert m.is_loaded()


def test_the_trace_shows_kernel32s_calls(tmp_path):
    path = tmp_path / "traced.bin"
    path.write_bytes(b"t" * P)
    lines = []
    with open(path, "r+b") as f, pymmap.trace(lambda record: lines.append(record.line)):
        m = pymmap.mmap(f.fileno(), 0)
        m[0] = 1
        m.flush()
        m.protect(READ)
        m.close()
    names = [line.split("(", 1)[0] for line in lines]
    for name in ("CreateFileMappingW", "MapViewOfFile", "FlushViewOfFile", "VirtualProtect",
                 "UnmapViewOfFile", "CloseHandle"):
        assert name in names, lines
    create = lines[names.index("CreateFileMappingW")]
    assert ", NULL, PAGE_READWRITE, 0, 4096, NULL) = 0x" in create, create
    assert "PAGE_READONLY" in lines[names.index("VirtualProtect")]


def test_offsets_come_in_allocation_granularity(tmp_path):
    gran = pymmap.ALLOCATIONGRANULARITY
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(range(256)) * (3 * gran // 256))
    with open(path, "r+b") as f:
        with pymmap.mmap(f.fileno(), 100, offset=2 * gran) as m:
            assert m[:4] == b"\x00\x01\x02\x03"
        with pytest.raises(OSError) as info:
            pymmap.mmap(f.fileno(), 100, offset=P)
        assert info.value.winerror == 1132  # ERROR_MAPPED_ALIGNMENT


def test_a_tagname_is_shared_with_another_process():
    name = f"pymmap-child-{uuid.uuid4().hex}"
    with pymmap.mmap(-1, 64, tagname=name) as m:
        m[:6] = b"parent"
        out = run_isolated(
            """
            import mmap, sys
            m = mmap.mmap(-1, 64, tagname=sys.argv[1])   # the stdlib, in the child
            print(m[:6].decode())
            m[:5] = b"child"
            """,
            name,
        )
        assert out == "parent\n"
        assert m[:6] == b"childt"


def test_pages_reports_the_working_set(tmp_path):
    path = tmp_path / "pages.bin"
    path.write_bytes(os.urandom(64 * P))
    proc = subprocess.run([sys.executable, "-m", "pymmap", "pages", "--touch", str(path)],
                          cwd=ROOT, capture_output=True, timeout=120)
    out = proc.stdout.decode().replace("\r\n", "\n")
    assert proc.returncode == 0, (out, proc.stderr)
    assert "64/64 pages resident (100.0%)" in out, out
