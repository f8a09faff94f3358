"""Resizing where the system has no ``mremap(2)``: macOS and FreeBSD, run here by hiding it.

There, :meth:`MappedRegion.resize` makes a new mapping of the new size (of
the file, which has grown first) and retires the old one; anonymous and
private memory is copied across.  These tests hide Linux's ``mremap`` from
the region (``backend.HAS_REMAP = False``) and check that path, through the
region and through ``pymmap.mmap``.
"""

import os
import sys

import pytest

import pymmap
from pymmap import MappedRegion
from pymmap._platform import backend

if os.name != "posix":
    pytest.skip('the POSIX resize path without mremap(2) (macOS, FreeBSD), run by hiding it', allow_module_level=True)

PAGE = backend.PAGESIZE
C = backend.CONSTANTS
# How the old range goes: munmap(2), or on PyPy, which cannot tell whether a
# reader still holds it, a zero-filled placeholder mmap(MAP_FIXED).
RETIRE = "munmap" if hasattr(sys, "getrefcount") else "mmap"


@pytest.fixture(autouse=True)
def without_mremap(monkeypatch):
    """No mremap: the flag says so, and a call would fail the test."""

    def no_remap(*args):
        raise AssertionError("mremap called on a system without it")

    monkeypatch.setattr(backend, "HAS_REMAP", False)
    monkeypatch.setattr(backend, "remap", no_remap)


def traced(action):
    """The system calls ``action()`` makes, by name."""
    seen = []
    with pymmap.trace(lambda record: seen.append(record.name)):
        action()
    return seen


@pytest.mark.parametrize("flags", [C["MAP_SHARED"], C["MAP_PRIVATE"]])
def test_anonymous_memory_is_copied_into_the_new_mapping(flags):
    r = MappedRegion(PAGE, flags=flags)
    r.write(0, b"start")
    r.write(PAGE - 3, b"end")
    old = r.address
    assert traced(lambda: r.resize(3 * PAGE)) == ["mmap", RETIRE]
    assert r.address != old and r.length == 3 * PAGE
    assert r.read(0, 5) == b"start" and r.read(PAGE - 3, PAGE) == b"end"
    assert r.read(PAGE, 3 * PAGE) == bytes(2 * PAGE)
    r.resize(2)
    assert r.read(0, 2) == b"st"
    r.close()


def test_a_file_map_grows_the_file_first_and_shrinks_it_last(open_file):
    f = open_file(b"a" * PAGE)
    m = pymmap.mmap(f.fileno(), 0)
    m[-1:] = b"z"
    assert traced(lambda: m.resize(2 * PAGE)) == ["ftruncate", "mmap", RETIRE]
    assert os.fstat(f.fileno()).st_size == 2 * PAGE
    assert m[PAGE - 1:PAGE + 1] == b"z\0"
    m[2 * PAGE - 1] = ord("!")
    assert traced(lambda: m.resize(10)) == ["mmap", RETIRE, "ftruncate"]
    assert os.fstat(f.fileno()).st_size == 10 and m[:] == b"a" * 10
    m.close()
    with open(f.name, "rb") as check:
        assert check.read() == b"a" * 10


def test_a_shared_anonymous_map_grows_and_keeps_its_bytes():
    m = pymmap.mmap(-1, PAGE)
    m[:4] = b"keep"
    m.resize(4 * PAGE)
    assert m[:4] == b"keep" and m[-1] == 0 and len(m) == 4 * PAGE
    m.close()


def test_a_map_at_an_offset_is_mapped_again_at_that_offset(open_file):
    gran = pymmap.ALLOCATIONGRANULARITY
    f = open_file(b"a" * gran + b"b" * PAGE)
    m = pymmap.mmap(f.fileno(), PAGE, offset=gran)
    m.resize(2 * PAGE)
    assert m[:PAGE] == b"b" * PAGE and m[PAGE:] == bytes(PAGE)
    assert os.fstat(f.fileno()).st_size == gran + 2 * PAGE
    m.close()


def test_memory_still_in_use_is_retired_not_unmapped():
    r = MappedRegion(PAGE)
    r.write(0, b"old")
    holder = r.view  # what a racing reader would hold
    old = r.address
    r.resize(2 * PAGE)
    assert r.read(0, 3) == b"old"
    # The reader's addresses still work: the old range was swapped for zeros
    # in place, not unmapped.
    assert bytes(holder[:3]) in (b"old", b"\0\0\0") and r.address != old
    del holder
    r.close()
