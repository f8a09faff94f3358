"""``MappedRegion.adopt``: a region over memory that another call mapped.

Here the "other call" is the backend's own ``map``, with a release
function that records its calls; System V memory (``shmat``/``shmdt``) is
tested through ``pymmap.sysv_attach`` in test_shm.py.
"""

import gc
import sys

import pytest

import pymmap
from pymmap._platform import backend
from pymmap.region import MappedRegion

PAGE = backend.PAGESIZE
C = backend.CONSTANTS
REFCOUNTS = sys.implementation.name == "cpython"


def _adopted(released, prot=C["PROT_READ"] | C["PROT_WRITE"]):
    address = backend.map_memory(2 * PAGE, C["PROT_READ"] | C["PROT_WRITE"],
                          C["MAP_PRIVATE"] | C["MAP_ANONYMOUS"], -1, 0)

    def release(addr, length):
        released.append((addr, length))
        backend.unmap(addr, length)

    return MappedRegion.adopt(address, 2 * PAGE, release, "test_map", prot=prot), address


def test_adopted_memory_works_like_a_region_and_is_released_once():
    released = []
    region, address = _adopted(released)
    assert region.address == address and region.length == 2 * PAGE
    region.view[PAGE] = 42
    assert region.read(PAGE, PAGE + 1) == b"\x2a"
    assert region.find(b"\x2a", 0, 2 * PAGE) == PAGE
    region.close()
    region.close()
    if REFCOUNTS:
        assert released == [(address, 2 * PAGE)]
    else:
        # PyPy cannot tell that no one else holds the memory: close() always
        # takes the placeholder path (see the busy test below).
        assert released == []
    assert region.closed
    with pytest.raises(ValueError, match="mmap closed or invalid"):
        region.read(0, 1)


def test_adopted_memory_is_released_when_collected():
    released = []
    region, address = _adopted(released)
    del region
    gc.collect()
    gc.collect()
    assert released == [(address, 2 * PAGE)]


def test_adopted_region_refuses_to_resize():
    released = []
    region, _ = _adopted(released)
    with pytest.raises(TypeError, match=r"mmap can't resize memory mapped by test_map\(\)"):
        region.resize(4 * PAGE)
    assert region.length == 2 * PAGE and not region.closed
    region.close()


def test_read_only_adoption_gives_a_read_only_view():
    released = []
    region, _ = _adopted(released, prot=C["PROT_READ"])
    assert region.view.readonly
    region.close()


@pytest.mark.skipif(not backend.HAS_REMAP, reason="Windows cannot swap a view for zeros: a busy "
                    "view stays mapped until released (windows.placeholder)")
def test_busy_close_replaces_the_memory_and_unmaps_the_placeholder_later():
    # While someone holds the memory, release() cannot run (it would pull the
    # memory away); a placeholder replaces it, and munmap (not release) gives
    # the placeholder back when the holder is done.
    released = []
    region, address = _adopted(released)
    region.view[0] = 1
    held = memoryview(region.array).cast("B")
    lines = []
    with pymmap.trace(lines.append):
        region.close()
        assert held[0] == 0
        held.release()
        del held
        gc.collect()
        gc.collect()
    assert released == []
    assert lines[0].name == "mmap"
    if REFCOUNTS:
        assert [line.name for line in lines] == ["mmap", "munmap"]
        assert lines[1].args == (address, 2 * PAGE)


def test_the_facade_over_an_adopted_region():
    released = []
    region, _ = _adopted(released)
    m = pymmap.mmap._from_region(region, pymmap.ACCESS_WRITE)
    assert len(m) == m.size() == 2 * PAGE
    m[8:12] = b"\x05\x00\x00\x00"
    assert m.find(b"\x05") == 8
    assert "ACCESS_WRITE" in repr(m)
    with pytest.raises(TypeError, match="fixed"):
        m.resize(PAGE)
    m.close()
    assert m.closed
    assert len(released) == (1 if REFCOUNTS else 0)
