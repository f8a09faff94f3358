"""pymmap.lease.Lease: an address range is given back only when nothing can reach it.

These tests use a recording ``release`` function instead of ``munmap``, so
they can watch exactly when (and how often) the range would be given back.
Nothing here reads a reference count: each assertion is about an object
being alive (referenced) or not, which every interpreter defines the same
way.  PyPy frees an unreferenced object only when its collector runs, so the
tests run the collector where an object has just been dropped.
"""

import ctypes
import gc
import sys
import threading

import pytest

import pymmap
from pymmap.lease import Lease

P = pymmap.PAGESIZE
PYPY = sys.implementation.name == "pypy"
_BACKINGS = []


@pytest.fixture
def released():
    """A list that a lease's ``release`` appends ``(address, length)`` to."""
    return []


def _lease(released, length=64):
    # The memory of a bytearray: a real address for the arrays to point at
    # (they are never given back to the kernel here; `released` records it).
    backing = bytearray(length)
    address = ctypes.addressof((ctypes.c_char * length).from_buffer(backing))
    _BACKINGS.append(backing)  # the memory stays for the whole test run
    return Lease(address, length, lambda a, n: released.append((a, n)))


def test_the_range_goes_when_the_last_array_dies(released):
    lease = _lease(released)
    first = lease.new_array()
    second = lease.new_array()
    assert lease.reached()
    del first
    gc.collect()
    assert released == [] and lease.reached()
    del second
    gc.collect()
    assert released == [(lease.address, lease.length)]
    assert not lease.reached()


def test_a_view_of_an_array_keeps_the_range(released):
    lease = _lease(released)
    array = lease.new_array()
    view = memoryview(array).cast("B")[8:16]  # a slice of a view: it still holds the array
    keep = array if PYPY else None  # PyPy's views do not hold their array
    del array
    gc.collect()
    assert released == []
    view[0] = 1
    del view, keep
    gc.collect()
    assert len(released) == 1


def test_a_hold_delays_the_release_until_it_ends(released):
    lease = _lease(released)
    array = lease.new_array()
    with lease.hold():
        del array
        gc.collect()
        assert released == [] and not lease.reached()
    assert len(released) == 1


def test_a_lease_without_arrays_is_given_back_by_settle(released):
    lease = _lease(released)
    assert released == []
    lease.settle()
    lease.settle()
    assert len(released) == 1  # exactly once


def test_a_pinned_range_is_never_given_back(released):
    lease = _lease(released)
    array = lease.new_array()
    lease.pin()
    del array
    gc.collect()
    lease.settle()
    assert released == [] and lease.reached()


def test_a_forgotten_range_is_never_given_back(released):
    # What mremap(2) does: the kernel has moved the range, so the old
    # address is not the lease's to unmap any more.
    lease = _lease(released)
    with lease.hold():
        lease.forget()
    lease.settle()
    assert released == []


def test_arrays_dying_in_many_threads_release_exactly_once(released):
    for _ in range(20):
        released.clear()
        lease = _lease(released)
        arrays = [lease.new_array() for _ in range(8)]
        start = threading.Barrier(8)

        def drop(i, arrays=arrays, start=start):
            start.wait()
            arrays[i] = None

        threads = [threading.Thread(target=drop, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        gc.collect()
        assert released == [(lease.address, lease.length)]


def test_a_lease_outlives_its_owner(released):
    # The region may be gone long before the last array: the lease (and the
    # weak references that watch the arrays) must stay until the release.
    lease = _lease(released)
    array = lease.new_array()
    address = lease.address
    del lease
    gc.collect()
    assert released == []
    del array
    gc.collect()
    assert released == [(address, 64)]
