"""``Lease``: when an address range may be given back to the kernel.

After ``munmap(2)``, an address is no longer memory: the next load or store
there makes the CPU fault, and the kernel kills the process (SIGSEGV).  So a
mapping may be unmapped only when nothing can reach its addresses any more.

In pymmap, Python code reaches mapped memory only through ctypes arrays
made over it (:meth:`Lease.new_array`), and through objects that keep such
an array alive: a ``memoryview`` of it, a slice of that view, a record made
with ``from_buffer``, a local variable of a method that is in the middle of
a copy.  A lease counts the arrays made over its range that are still alive
(a weak reference tells it when each one dies), and gives the range back
(``release(address, length)``, normally ``munmap``) only when that count is
zero.  The rule holds whatever the interpreter: an object that is referenced
is alive, on CPython with or without the GIL and on PyPy; nothing here
depends on exact reference counts.

The owner of the range, :class:`~pymmap.region.MappedRegion`, keeps one
array of its own.  To close (or move, or change) the mapping, it lets go of
its array while it *holds* the lease (:meth:`Lease.hold`), so that the range
cannot be given back halfway, and then asks :meth:`Lease.reached`: if some
other array is still alive (another thread in the middle of a copy, a view
handed out), the range must stay where it is, and the region swaps in
zero-filled pages instead of unmapping.

The lifetime of a map
---------------------
A map owns two things the operating system must get back exactly once: its
address range (a :class:`Lease`) and its duplicate of the file's
descriptor (a :class:`Descriptor`).  This is the whole story of when each
goes; the other modules point here.

1. ``m.close()`` (``pymmap/facade.py``) takes the map's lock and first asks
   what the map has lent (``Exports.stop``, ``pymmap/exports.py``): while a
   buffer is out (``memoryview(m)``, a record), it refuses with
   ``BufferError``, and nothing changes.
2. The map drops its cached views (``mmap._detach``) and closes its
   :class:`Descriptor`.
3. The region (``MappedRegion.close`` and ``_retire``, ``pymmap/region.py``)
   lets go of its own array while holding its lease.  If no other array is
   alive, the lease gives the range back at the end of the hold:
   ``munmap(2)``.  If one is (another thread in the middle of a copy), the
   region maps zero-filled pages over the range (``backend.placeholder``:
   the file lets go at once), and ``munmap`` comes when that array dies.
4. A map dropped without ``close()``: its region and arrays die with it, and
   so the lease gives the range back; the descriptor's ``__del__`` closes
   the descriptor, as the C module's deallocator does.
5. ``resize()`` and ``protect()`` follow steps 1 and 3 for the old range, and
   give the map a new lease (or the same one) afterwards.
6. On PyPy the objects that reach the bytes at full speed are cffi's
   (``pymmap/copying.py``), and hold nothing: whatever is made of them is
   held beside the array that keeps the range mapped.  A range whose memory
   was lent to code pymmap does not see (PyPy's memoryviews keep no array
   alive) is *pinned*: zero-filled at ``close()``, given back when the
   process ends.
"""

from __future__ import annotations

import ctypes
import os
import weakref

from ._interpreter import RLock

TYPE_CHECKING = False  # typing's flag, without importing typing: see pymmap/__init__.py
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional

__all__ = ["Descriptor", "Lease"]

# Leases whose range has not been given back yet.  The registry keeps each
# lease (and so the weak references that watch its arrays) alive until the
# range is released, even after its region is gone.
_LIVE: Dict[int, Lease] = {}
# One lock for every lease's state: each critical section is a few
# bytecodes, and a lock per lease would cost more to make than to share.
# Reentrant: an array can die (and its callback run) in the thread that
# holds it, whenever an allocation lets the garbage collector run.
_LOCK = RLock()


def _new_lock_after_fork() -> None:
    """Internal: a child forked while another thread held the lock gets a new one."""
    global _LOCK
    _LOCK = RLock()


if hasattr(os, "register_at_fork"):  # (not on Windows, which has no fork)
    os.register_at_fork(after_in_child=_new_lock_after_fork)


class Lease:
    """The right to use ``length`` bytes at ``address``, and when to give it up.

    ``release(address, length)`` runs exactly once: when no array made by
    :meth:`new_array` is alive and the lease is not held (see :meth:`hold`),
    unless the range was handed back some other way (:meth:`forget`) or must
    never be given back (:meth:`pin`).
    """

    __slots__ = ("__weakref__", "_arrays", "_holds", "_pinned", "_released", "address", "length",
                 "owner", "release")

    def __init__(self, address: int, length: int, release: Callable[[int, int], None]) -> None:
        self.address = address
        self.length = length
        self.release = release
        # The weak references to the live arrays, by id: a dict, because
        # ctypes arrays cannot be hashed (and so neither can their weakrefs).
        self._arrays: Dict[int, Any] = {}
        self._holds = 0
        self._pinned = False
        self._released = False
        #: A weak reference to whoever owns the range (a MappedRegion), or None.
        self.owner: Optional[weakref.ref[Any]] = None
        _LIVE[id(self)] = self

    def new_array(self) -> Any:
        """Return a new ``c_char`` array over the range; the range stays mapped while it lives."""
        array = (ctypes.c_char * self.length).from_address(self.address)
        ref = weakref.ref(array, self._array_died)
        with _LOCK:
            self._arrays[id(ref)] = ref
        return array

    def reached(self) -> bool:
        """Return True while something may reach the range: a live array, or a pin (:meth:`pin`)."""
        return bool(self._arrays) or self._pinned

    def hold(self) -> Lease:
        """Keep the range while the ``with`` block runs, even if the last array dies in it.

        ``with lease.hold():`` -- the lease is its own context manager.
        """
        return self

    def __enter__(self) -> Lease:
        with _LOCK:
            self._holds += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        with _LOCK:
            self._holds -= 1
            give_back = self._due()
        if give_back:
            self.release(self.address, self.length)

    def pin(self) -> None:
        """Never give the range back: something may reach it that no array accounts for.

        (PyPy's memoryviews and ``from_buffer`` objects keep no reference to
        the array they were made from.)  The kernel takes the range back when
        the process ends.
        """
        self._pinned = True

    def forget(self) -> None:
        """The range is no longer this lease's to give back (``mremap(2)`` moved it).

        Only call this when :meth:`reached` is False, while holding the lease.
        """
        with _LOCK:
            self._released = True
            _LIVE.pop(id(self), None)

    def settle(self) -> None:
        """Give the range back now if no array reaches it and nobody holds it.

        It runs by itself whenever an array dies or a hold ends; call it
        after making the lease if no array may ever be made over it.
        """
        with _LOCK:
            give_back = self._due()
        if give_back:
            self.release(self.address, self.length)

    def _array_died(self, ref: Any) -> None:
        """Internal: the weak reference's callback, run when an array dies."""
        with _LOCK:
            self._arrays.pop(id(ref), None)
            give_back = self._due()
        if give_back:
            self.release(self.address, self.length)

    def _due(self) -> bool:
        """Internal (under the lock): True, once, when the range must be given back now.

        The caller then calls ``release`` outside the lock: a system call,
        and the only thing left to do.
        """
        if self._arrays or self._holds or self._pinned or self._released:
            return False
        self._released = True
        _LIVE.pop(id(self), None)
        return True

    @staticmethod
    def owners() -> List[Any]:
        """Return the owners of every range not given back yet (see :attr:`owner`).

        For code that must find every live mapping, such as a forked child
        giving each region a new lock (see :mod:`pymmap.region`).
        """
        with _LOCK:
            refs = [lease.owner for lease in _LIVE.values() if lease.owner is not None]
        return [owner for owner in (ref() for ref in refs) if owner is not None]

    def __repr__(self) -> str:
        state = "released" if self._released else f"{len(self._arrays)} arrays"
        return f"<pymmap.Lease address=0x{self.address:x} length={self.length} {state}>"


class Descriptor:
    """A map's own duplicate of its file's descriptor (a HANDLE on Windows), closed exactly once.

    The map keeps a copy of the descriptor so that ``size()`` and ``resize()``
    still work after the caller closes the file.  :meth:`close` closes it
    (with ``close_fd``, the platform's call); if the map is dropped without
    ``close()``, the collector calls ``__del__`` here, as the C module's
    deallocator closes its copy.  A descriptor of -1 stands for none.

    The finalizer lives on this small object, not on the map: on PyPy an
    object with a finalizer cannot die young, and it keeps everything it
    reaches alive for one more collection.  On the map, that would have
    been the region and its arrays, and so the mapping itself (which goes
    when the last array does).
    """

    __slots__ = ("_close_fd", "fd")

    def __init__(self, fd: int, close_fd: Callable[[int], None]) -> None:
        self.fd = fd
        self._close_fd = close_fd

    def close(self) -> None:
        """Close the descriptor, once (a second call does nothing)."""
        fd = self.fd
        if fd >= 0:
            self.fd = -1
            self._close_fd(fd)

    def __del__(self) -> None:
        self.close()
