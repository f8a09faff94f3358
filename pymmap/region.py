"""``MappedRegion``: one memory mapping, owned from ``mmap(2)`` to ``munmap(2)``.

A *mapping* is a range of this process's virtual addresses that the kernel
has agreed to back with something else: the pages of a file (a *file
mapping*) or fresh zero-filled memory (an *anonymous mapping*).  No data is
copied when the mapping is made.  The first time the program touches one of
its pages, the CPU finds no translation for the address and traps into the
kernel (a *page fault*); the kernel finds the page — in the page cache, or
by reading it from disk — and maps it in, and the instruction runs again.
That is why reading a mapped file looks like reading memory: it is memory.

:class:`MappedRegion` is the only object in pymmap that holds a raw address.
It exposes the mapping as ctypes and memoryview objects, and offers the few
operations that need the address itself (searching with ``memmem``,
flushing, advising, resizing).  Everything above it, such as the
``pymmap.mmap`` facade, asks it for bytes.
"""

from __future__ import annotations

import ctypes
import gc
import os
import time
import weakref

from ._interpreter import FREE_THREADED, FREES_AT_ONCE, RLock
from ._platform import backend
from .copying import SLOW_SLICES, bytes_at, move, store, view_of
from .errors import closed as _closed_error
from .errors import empty_mapping, inaccessible, readonly
from .lease import Lease
from .protection import PageProtection

TYPE_CHECKING = False  # typing's flag, without importing typing: see pymmap/__init__.py
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, Tuple, TypeVar

__all__ = ["MappedRegion"]

_PROT_READ = backend.CONSTANTS["PROT_READ"]
_PROT_WRITE = backend.CONSTANTS["PROT_WRITE"]
_MAP_SHARED = backend.CONSTANTS["MAP_SHARED"]
_MAP_PRIVATE = backend.CONSTANTS["MAP_PRIVATE"]
_MAP_ANONYMOUS = backend.CONSTANTS["MAP_ANONYMOUS"]
# Only Windows names its mappings, and resizes a view together with its file;
# elsewhere the backend has neither call.
_map_named: Optional[Callable[..., int]] = getattr(backend, "map_named", None)
_backend_resize: Optional[Callable[..., Tuple[Optional[int], int, Optional[OSError]]]] = getattr(
    backend, "resize", None)
_PAGESIZE = backend.PAGESIZE
_PROT_ALL = _PROT_READ | _PROT_WRITE | backend.CONSTANTS["PROT_EXEC"]
_MADV_WILLNEED = backend.CONSTANTS["MADV_WILLNEED"]
_addressof = ctypes.addressof
# How many bytes a search first looks at in a copy.  A foreign call costs a
# microsecond or more, far longer than copying a few hundred bytes, and
# most searches (the next newline, the last separator) end close to where
# they start.
_SEARCH_WINDOW = 256
# bytes([b]) for every byte value, made once.
_ONE_BYTE = [bytes((b,)) for b in range(256)]

if TYPE_CHECKING:
    #: The type of :attr:`MappedRegion.array`: ``ctypes.c_char * length``.  Its
    #: slices are ``bytes``, which typeshed's ``ctypes.Array`` cannot express.
    CharArray = Any

    _T = TypeVar("_T")

#: True where a read may copy without the lock, and check afterwards that
#: the mapping did not change under it (see the class docstring): wherever
#: one C call runs while no other Python thread does (a GIL).
LOCK_FREE_READS = not FREE_THREADED
# How long close(), resize() and protect() wait for a lock-free read in
# another thread to let go of the memory it is copying, before they work
# around it.  Such a read lasts microseconds (a copy of gigabytes, a
# fraction of a second); where objects are not freed at once (PyPy), a
# reference let go of is no sign of anything, so nothing waits.
_READER_GRACE = 0.05 if LOCK_FREE_READS and FREES_AT_ONCE else 0.0



# Regions given MADV_DONTFORK (Linux): a child forked afterwards lacks those
# pages, and would die with SIGSEGV on touching them.  Right after a fork,
# the child fills each hole with zero-filled private pages (see
# backend.fill_holes), as if the parent had asked for MADV_WIPEONFORK.
_MADV_DONTFORK = backend.CONSTANTS.get("MADV_DONTFORK")
_unforked: weakref.WeakSet[MappedRegion] = weakref.WeakSet()


def _fill_holes_after_fork() -> None:
    """Internal: in a forked child, give every open region back the pages it was not given."""
    for region in list(_unforked):
        if region.array is not None:
            backend.fill_holes(region.address, region.length)


if _MADV_DONTFORK is not None:
    os.register_at_fork(after_in_child=_fill_holes_after_fork)


def _new_locks_after_fork() -> None:
    """Internal: in a forked child, give every region a new lock.

    Only the thread that called ``fork()`` lives on in the child.  A lock
    that another thread held at that moment would never be released; a
    method of the map it was running is simply cut short (the map may be
    left closed, or with a write half done, never with memory that is not
    mapped).  The regions are found through their leases (each knows its
    owner): every region whose memory is still mapped.
    """
    for region in Lease.owners():
        region.mutex = RLock()


if hasattr(os, "register_at_fork"):  # (not on Windows, which has no fork)
    os.register_at_fork(after_in_child=_new_locks_after_fork)


def _let_go(gone: weakref.ref[Any]) -> None:
    """Internal: wait a moment for every other reference to an array to go.

    The references are lock-free reads in other threads (see
    :class:`MappedRegion`), each in the middle of a copy; they hold no
    lock, so sleeping lets them finish.  After :data:`_READER_GRACE`
    seconds, the caller goes on without them.  (Usually no reader is
    there: then nothing waits, and no deadline is computed.)
    """
    if gone() is not None:
        _wait(lambda: gone() is None, _READER_GRACE)


def _wait(done: Callable[[], bool], seconds: float) -> bool:
    """Internal: wait up to ``seconds`` for ``done()``, letting other threads run; return ``done()``."""
    if not seconds:
        return done()
    deadline = time.monotonic() + seconds
    spins = 0
    while not done():
        if spins < 50:
            time.sleep(0)  # let the GIL go: a reader needs only a few bytecodes
        elif time.monotonic() < deadline:
            time.sleep(0.0001)
        else:
            return False
        spins += 1
    return True


#: Windows cannot change a file's size under a view: a resize that finds
#: the old view still in use fails (``ERROR_USER_MAPPED_FILE``).  So there
#: a resize waits longer for lock-free readers than the usual moment: on a
#: loaded machine a reader's thread may wait tens of milliseconds for a CPU
#: before it finishes its copy.  (Something that keeps the view for good,
#: such as a suspended iterator over the map, still makes it fail, later.)
_WINDOWS_RESIZE_PATIENCE = 2.0 if FREES_AT_ONCE else 0.0


class MappedRegion:
    """One mapping of a file or of anonymous memory, made with ``mmap(2)``.

    ``MappedRegion(length, fd=-1, offset=0, prot=PROT_READ|PROT_WRITE,
    flags=MAP_SHARED)`` asks the kernel for ``length`` bytes of address space
    backed by the file ``fd`` from byte ``offset`` on (``offset`` must be a
    multiple of the page size), or, with ``fd=-1``, by zero-filled anonymous
    memory (``MAP_ANONYMOUS`` is added to ``flags``).

    ``MAP_SHARED`` makes stores visible to every process mapping the same
    file or memory, and eventually to the file on disk; ``MAP_PRIVATE`` gives
    this process a *copy-on-write* view: the first store to a page copies it,
    and the file never changes.  ``prot`` says what the CPU may do with the
    pages (``PROT_READ``, ``PROT_WRITE``); a store to a page without
    ``PROT_WRITE`` would be killed with SIGSEGV, which is why :attr:`view` is
    read-only for such regions.

    Attributes:
        address: the first byte of the mapping, as an int.
        length: its size in bytes.
        prot, flags, fd, offset: the arguments it was made with.
        tagname: the name of the mapping, or None (only Windows names them:
            maps made with the same tagname share memory).
        array: a ``ctypes.c_char * length`` array aliasing the mapping.
        view: a ``memoryview`` (format ``'B'``) of :attr:`array`'s bytes (on
            PyPy made over cffi's objects, which the JIT reads at full speed:
            see :mod:`pymmap.copying`).  On PyPy it does not keep
            :attr:`array` alive: hold both.
        protection: None while every page has the protection ``prot``;
            after :meth:`protect` changed some, a
            :class:`~pymmap.protection.PageProtection` saying which.  The
            region's methods check it; :attr:`array` and :attr:`view` do not.

    **When the memory goes.**  The address range is given back to the
    kernel only when no ``ctypes`` array made over it is alive (see
    :class:`~pymmap.lease.Lease`): the region's own :attr:`array`, and every
    object that reaches the memory holds one, directly or through a chain of
    references (a memoryview of it, a method's local variable in the middle
    of a copy, an exported buffer).  That is the whole safety argument, and
    it depends only on what every Python promises: an object that is
    referenced is alive.  No decision depends on a reference count.

    :meth:`close` lets go of the region's own array.  If that was the last
    one, the range is unmapped at once; if something else still holds one
    (another thread in the middle of a copy, say), the pages are swapped for
    zero-filled private ones, which lets the file go at once, and the range
    itself is unmapped when that holder lets go.  On PyPy, whose collector
    frees objects later, the second case is the usual one.

    The region is released exactly once: by :meth:`close`, or when it is
    garbage-collected, or by the kernel when the process ends.  After release, ``array``
    and ``view`` are ``None`` and every method raises ``ValueError``.

    **Threads.**  :attr:`mutex` (a re-entrant lock) is the region's, and its
    map's, one lock.  The three methods that change the mapping itself,
    :meth:`close`, :meth:`resize` and :meth:`protect`, take it, and each
    runs as one step: while one runs, :attr:`array` and :attr:`view` are
    None.  Stores into the memory take it too (the map's methods do, and
    the ``typed()`` accessors): a store must not land in a mapping that a
    resize is leaving behind, where it would be lost.

    Reads need not take it, on interpreters with a GIL
    (:data:`LOCK_FREE_READS`).  There, copying bytes out of the mapping is
    one C call (a ``memcpy`` inside a ctypes slice, a ``struct`` unpack), and
    no other Python thread runs during one C call: a store, which is one C
    call too, is seen whole or not at all.  What a read can meet is a
    resize or close in the middle: it holds the array it copies from, so
    the memory stays mapped (zero-filled pages stand in if the mapping was
    retired), and afterwards it checks that :attr:`view` (or
    :attr:`array`) is still the one it used.  If not, it reads again,
    holding the lock, which waits for the change to end.  :meth:`read_at`
    is that protocol for typed reads.  Nothing depends on a sequence of
    bytecodes running without a thread switch.

    On free-threaded CPython no C call is a step of its own: a copy may
    run while another thread stores into the same bytes.  There every read
    of the memory takes :attr:`mutex` too (see
    :data:`~pymmap._interpreter.FREE_THREADED`).  ctypes and memoryview
    objects are made safe per object there, not across several objects
    over the same memory: pymmap's own objects over one mapping are only
    used with the lock held.
    """

    __slots__ = (
        "__weakref__",
        "_lease",
        "_name",
        "_origin",
        "_release",
        "address",
        "array",
        "fd",
        "flags",
        "length",
        "mutex",
        "offset",
        "prot",
        "protection",
        "tagname",
        "view",
    )

    #: False: the methods reach the memory directly.  (A
    #: :class:`~pymmap.checked.CheckedRegion` copies through the kernel.)
    checked = False

    def __init__(
        self,
        length: int,
        fd: int = -1,
        offset: int = 0,
        prot: int = _PROT_READ | _PROT_WRITE,
        flags: int = _MAP_SHARED,
        tagname: Optional[str] = None,
    ) -> None:
        if fd == -1:
            flags |= _MAP_ANONYMOUS
        if tagname is not None and _map_named is None:
            raise ValueError("tagname is not supported on this platform")
        self._setup(length, prot, flags, fd, offset, tagname)
        # The kernel picks the address (NULL hint) and returns it, or fails
        # with errno: EBADF for a bad fd, EACCES for a file opened without
        # the access asked for, EINVAL for a zero length or unaligned offset.
        self._start(Lease(self._map(length, fd), length, backend.unmap))

    def _setup(self, length: int, prot: int, flags: int, fd: int, offset: int,
               tagname: Optional[str] = None) -> None:
        """Internal: the state every region starts with, before it has memory.

        Shared by ``__init__`` and :meth:`adopt`: a new attribute belongs here.
        """
        self.address = 0
        self.length = length
        self.prot = prot
        self.flags = flags
        self.fd = fd
        self.offset = offset
        self.array: Optional[CharArray] = None
        self.view: Optional[memoryview] = None
        self._name: Optional[bytes] = None
        self.protection: Optional[PageProtection] = None
        self._release: Callable[[int, int], None] = backend.unmap
        self._origin = "mmap"
        self.tagname = tagname
        self.mutex = RLock()

    def _map(self, length: int, fd: int) -> int:
        """Internal: map ``length`` bytes of ``fd`` (-1: anonymous) as the region says.

        A region with a :attr:`tagname` maps a named section (Windows):
        if one of that name exists, its memory is shared.
        """
        if self.tagname is None:
            return backend.map_memory(length, self.prot, self.flags, fd, self.offset)
        assert _map_named is not None
        return _map_named(self.tagname, length, self.prot, self.flags, fd, self.offset)

    @classmethod
    def adopt(
        cls,
        address: int,
        length: int,
        release: Callable[[int, int], None],
        origin: str,
        prot: int = _PROT_READ | _PROT_WRITE,
        flags: int = _MAP_SHARED,
    ) -> MappedRegion:
        """Take ownership of ``length`` bytes at ``address`` that another call mapped.

        Not every mapping comes from ``mmap(2)``.  System V shared memory,
        for one, is mapped by ``shmat(2)`` and must be let go with
        ``shmdt(2)``.  The region treats adopted memory like its own (the
        same array, views, exports and safe close) except at the end:
        ``release(address, length)`` runs instead of ``munmap(2)``, exactly
        once, when the region is closed or collected (or at exit).

        ``origin`` names the call that made the mapping (``"shmat"``), for
        error messages; ``prot`` must say what that call allowed (without
        ``PROT_WRITE``, :attr:`view` is read-only).  An adopted mapping keeps
        the size its maker gave it: :meth:`resize` refuses.
        """
        self = cls.__new__(cls)
        self._setup(length, prot, flags, -1, 0)
        self._release = release
        self._origin = origin
        self._start(Lease(address, length, release))
        return self

    def _start(self, lease: Lease) -> None:
        """Internal: take up a freshly mapped range; if that fails, give the range back."""
        try:
            self._attach(lease)
        except BaseException:
            # An interrupt (or MemoryError) between mmap(2) and the views
            # that own the mapping: give the range back before raising.
            # (If an array was made, the range goes when it dies.)
            self.array = self.view = None
            lease.settle()
            raise

    def _attach(self, lease: Lease) -> None:
        """Internal: build the ctypes array and memoryview over the lease's range.

        The array comes from the lease, which gives the range back only when
        every array it made has died: while :attr:`array`, or any view of
        it, is alive, the memory stays mapped.
        """
        self._lease = lease
        if lease.owner is None:
            lease.owner = weakref.ref(self)  # (for a forked child: see _new_locks_after_fork)
        self.address = lease.address
        self.length = lease.length
        array = lease.new_array()
        view = view_of(array)
        if not self.prot & _PROT_WRITE:
            view = view.toreadonly()
        self.array = array
        self.view = view

    def _drop_views(self) -> bool:
        """Internal: let go of the region's own array and view; say if anything else still reaches the memory.

        Call it while holding the lease (``with self._lease.hold():``), so
        that the range cannot be given back before the caller has decided
        what to do with it.  The view is not released: whoever still holds
        it (a thread in the middle of a copy) keeps the array alive through
        it, and so the memory mapped, until it lets go.  A lock-free read
        in another thread (see the class docstring) is given a moment to
        finish first: then the mapping can be changed in place.
        """
        own = self.array
        self.array = None
        self.view = None
        if own is not None:
            gone = weakref.ref(own)
            del own
            _let_go(gone)
        return self._lease.reached()

    @property
    def closed(self) -> bool:
        """True once the region has been released."""
        return self.array is None

    def close(self) -> None:
        """Release the mapping (``munmap(2)``).  Calling it again does nothing.

        If another holder still reaches the memory (say, a thread in the
        middle of a copy), the pages are first swapped for private
        zero-filled ones with a single ``mmap(MAP_FIXED)``: the file is let
        go at once, the holder reads zeros instead of crashing, and the
        address range itself is unmapped when the last holder lets go.
        """
        with self.mutex:
            if self.array is not None:
                self.protection = None  # the pages go, and their protection with them
                self._retire()

    def _retire(self) -> None:
        """Internal: give the current address range back, now or when the last holder lets go.

        (Step 3 of :mod:`pymmap.lease`'s "The lifetime of a map".)
        """
        lease = self._lease
        with lease.hold():
            if self._drop_views():
                backend.placeholder(lease.address, lease.length)
                if lease.release is not backend.unmap:
                    # The placeholder has replaced the adopted memory (for
                    # System V memory, that detached the segment): what
                    # remains is an ordinary mapping, which munmap(2) gives back.
                    lease.release = backend.unmap

    def pin(self) -> None:
        """Keep the address range mapped until the process ends (zero-filled after :meth:`close`).

        For holders that reach the memory without keeping an array alive
        (PyPy's memoryviews): they can then never touch unmapped memory.
        """
        self._lease.pin()

    def new_array(self) -> CharArray:
        """Return a new ``c_char`` array over the whole mapping, for a caller to keep.

        Like :attr:`array`, it keeps the memory mapped while it lives.
        """
        if self.array is None:
            raise _closed_error()
        return self._lease.new_array()

    def __repr__(self) -> str:
        state = "closed" if self.array is None else f"address=0x{self.address:x}"
        return f"<pymmap.MappedRegion {state} length={self.length}>"

    # --- operations that need the address ----------------------------------
    # Callers check bounds against the size they know.  Another thread may
    # have resized the region since, so every call that hands an address to
    # C also clamps its range to the array it holds: C never sees a byte
    # outside the mapping.

    def _mapped(self) -> Tuple[CharArray, int]:
        """Internal: the array and its address, after checking the region is mapped.

        The caller keeps the array in a local variable for the whole call:
        that reference keeps the address range mapped (see :meth:`close`),
        and the address is the array's own, so the two always agree.
        """
        array = self.array
        if array is None:
            raise _closed_error()
        return array, _addressof(array)

    def memory_for(self, offset: int, size: int, write: bool) -> Tuple[memoryview, CharArray]:
        """Return the region's view, once an access to bytes ``[offset, offset + size)`` is allowed.

        The one gate that typed reads and writes (``unpack_from``,
        ``pack_into``, the ``typed()`` accessors, records) go through.  It
        checks that the region is open (``ValueError``), writable if
        ``write`` (``TypeError``), that the range lies inside it
        (``IndexError``), and that :meth:`protect` allows the access.
        ``offset`` and ``size`` are plain ints, ``size >= 0``.

        It returns the whole view, not a slice (a slice would cost an
        allocation on every ``t.u32[off]``), with the array it was made
        from: the caller keeps both until it is done, at once, with bytes
        ``[offset, offset + size)``.  The array keeps the memory mapped; on
        PyPy a memoryview alone does not.
        """
        array = self.array
        view = self.view
        if view is None or array is None or self.array is not array:
            # Closed; or (without the lock) caught in the middle of a resize,
            # or with the view of one mapping and the array of the next:
            # the lock, which those changes hold, says which.
            with self.mutex:
                array = self.array
                view = self.view
                if view is None or array is None:
                    raise _closed_error()
        if write and view.readonly:
            raise readonly()
        if offset < 0 or len(view) - offset < size:
            raise IndexError(f"mmap offset out of range: {size} bytes at {offset} in a map of {len(view)}")
        if self.protection is not None:
            self.protection.check(range(offset, offset + size), write)
        return view, array

    def read_at(self, read: Callable[[memoryview, int], _T], offset: int, size: int) -> _T:
        """Return ``read(view, offset)``, once bytes ``[offset, offset + size)`` may be read; as one step.

        ``read`` copies the bytes out of the region's view, such as
        :meth:`struct.Struct.unpack_from` does.  The checks are those of
        :meth:`memory_for`.  On an interpreter with a GIL the copy is made
        without the lock, and made again with it if a resize, close or
        protect in another thread overtook it (see the class docstring); on
        free-threaded CPython it is made with the lock held.
        """
        if LOCK_FREE_READS:
            # memory_for's checks, inline for the common case (an open
            # region, no page protected, the bytes inside it); the rest, and
            # every error, through memory_for itself.
            array = self.array
            view = self.view
            if (view is not None and array is not None and self.array is array
                    and self.protection is None and offset >= 0 and size <= len(view) - offset):
                keep = array
            else:
                view, keep = self.memory_for(offset, size, False)
            value = read(view, offset)
            if self.view is view:
                return value
            del view, keep, array  # (a resize waits a moment for them: see _drop_views)
        with self.mutex:
            view, keep = self.memory_for(offset, size, False)
            return read(view, offset)

    def pack_at(self, pack_into: Callable[[memoryview, int, Any], None], offset: int, size: int,
                value: Any) -> None:
        """Call ``pack_into(view, offset, value)`` once bytes ``[offset, offset + size)`` may be written.

        One step, with the lock held, as :meth:`store_at`; the checks are
        :meth:`memory_for`'s, inline for the common case (an open region, no
        page protected, the bytes inside it; the lock keeps the array alive).
        """
        mutex = self.mutex
        try:
            mutex.acquire()
            view = self.view
            if not (view.__class__ is memoryview and self.protection is None and not view.readonly
                    and offset >= 0 and size <= len(view) - offset):
                view, _keep = self.memory_for(offset, size, True)
            pack_into(view, offset, value)
        finally:
            mutex.release()

    def store_at(self, offset: int, data: Any) -> None:
        """Copy the bytes-like ``data`` to ``offset``, once those bytes may be written; as one step.

        The checks are those of :meth:`memory_for`; the lock is held, so
        that the store cannot land in a mapping another thread's resize is
        leaving behind (see the class docstring).
        """
        mutex = self.mutex
        try:
            mutex.acquire()
            view = self.view
            if (not SLOW_SLICES and view.__class__ is memoryview and self.protection is None
                    and not view.readonly and offset >= 0 and len(data) <= len(view) - offset):
                # memory_for's checks and store's copy, inline for the common
                # case (CPython, where a memoryview keeps its array alive and
                # copies fast; every page as mapped; inside the region).
                view[offset:offset + len(data)] = data
                return
            view, array = self.memory_for(offset, len(data), True)
            store(array, view, offset, data)
        finally:
            mutex.release()

    def read(self, start: int, stop: int) -> bytes:
        """Return a copy of bytes ``[start, stop)``."""
        array = self.array
        if array is None:
            raise _closed_error()
        if self.protection is not None:
            self.protection.check(range(start, min(stop, len(array))), False)
        return bytes_at(array, start, stop)

    def write(self, start: int, data: Any) -> None:
        """Copy the bytes-like ``data`` into the mapping at ``start``."""
        array = self.array  # (held to the end: it keeps the memory mapped)
        view = self.view
        if view is None or array is None:
            raise _closed_error()
        if self.protection is not None:
            self.protection.check(range(start, min(start + len(data), len(array))), True)
        store(array, view, start, data)

    def find(self, needle: bytes, start: int, stop: int) -> int:
        """Return the index of the first ``needle`` in ``[start, stop)``, or -1.

        The first few hundred bytes are searched in a copy; the rest in place
        with the C library's ``memmem(3)`` (``memchr(3)`` for a single byte).
        If a page that cannot be read (see :meth:`protect`) lies in the range,
        the bytes before it are searched, and a miss there raises
        ``ValueError``: the answer would depend on bytes no one may read.
        """
        array = self.array  # (held to the end: it keeps the memory mapped)
        if array is None:
            raise _closed_error()
        stop = min(stop, len(array))
        if stop - start < len(needle):
            return -1
        if self.protection is not None:
            limit = self.protection.readable_prefix(start, stop)
            if limit < stop:
                hit = self.find(needle, start, limit)
                if hit < 0:
                    raise inaccessible()
                return hit
        return self._find_in(array, needle, start, stop)

    def _find_in(self, array: CharArray, needle: bytes, start: int, stop: int) -> int:
        """Internal: :meth:`find` in ``[start, stop)``, which lies in ``array`` and may all be read."""
        window = min(stop, start + _SEARCH_WINDOW)
        head = bytes_at(array, start, window)
        hit = head.find(needle)
        if hit >= 0 or window == stop:
            return -1 if hit < 0 else start + hit
        n = len(needle)
        start = max(start, window - n + 1)  # a match may straddle the window's end
        base = _addressof(array)
        # The first match starts at or after the next copy of the needle's
        # first byte, and ends at or after the next copy of its last byte.
        # memchr(3) finds both at memory speed, and skips any stretch
        # without them; memmem(3), fast on most data but slow on some
        # repetitive data, then has less to search.
        first = backend.find_byte(base + start, stop - start - n + 1, needle[0])
        if first < 0 or n == 1:
            return -1 if first < 0 else start + first
        start += first
        last = backend.find_byte(base + start + n - 1, stop - start - n + 1, needle[-1])
        if last < 0:
            return -1
        start += last
        hit = backend.find(base + start, stop - start, needle)
        return -1 if hit < 0 else start + hit

    def rfind(self, needle: bytes, start: int, stop: int) -> int:
        """Return the index of the last ``needle`` in ``[start, stop)``, or -1.

        The last few hundred bytes are searched in a copy.  Then single
        bytes use ``memrchr(3)``, and longer needles are searched backwards
        one bounded chunk at a time, so no copy of the whole range is made.
        A page that cannot be read stops the search as in :meth:`find`.
        """
        array = self.array  # (held to the end: it keeps the memory mapped)
        if array is None:
            raise _closed_error()
        stop = min(stop, len(array))
        n = len(needle)
        if stop - start < n:
            return -1
        if self.protection is not None:
            floor = self.protection.readable_suffix(start, stop)
            if floor > start:
                hit = self.rfind(needle, floor, stop)
                if hit < 0:
                    raise inaccessible()
                return hit
        return self._rfind_in(array, needle, start, stop)

    def _rfind_in(self, array: CharArray, needle: bytes, start: int, stop: int) -> int:
        """Internal: :meth:`rfind` in ``[start, stop)``, which lies in ``array`` and may all be read."""
        n = len(needle)
        window = max(start, stop - _SEARCH_WINDOW)
        tail = bytes_at(array, window, stop)
        hit = tail.rfind(needle)
        if hit >= 0 or window == start:
            return -1 if hit < 0 else window + hit
        stop = min(stop, window + n - 1)  # a match may straddle the window's start
        base = _addressof(array)
        if n == 1:
            hit = backend.rfind_byte(base + start, stop - start, needle[0])
            return -1 if hit < 0 else start + hit
        # The C library has no backwards memmem, so walk back a chunk at a
        # time.  The last match ends at or before the last copy of the
        # needle's last byte, and starts at or before the last copy of its
        # first byte: memrchr(3) finds both at memory speed, and skips any
        # stretch without them.  memmem(3) then says whether the chunk
        # holds the needle at all; only a chunk that does is copied, from
        # its first match on, for bytes.rfind to find the last one.  Chunks
        # start small, for the common needle near the end, and double up
        # to 1 MiB, which bounds the copy.
        chunk = max(4096, 4 * n)
        largest = max(1 << 20, 4 * n)
        hi = stop
        while hi - start >= n:
            last = backend.rfind_byte(base + start + n - 1, hi - start - n + 1, needle[-1])
            if last < 0:
                break
            hi = start + n + last  # just past that last byte
            first = backend.rfind_byte(base + start, hi - start - n + 1, needle[0])
            if first < 0:
                break
            hi = start + n + first  # just past a match starting there
            lo = max(start, hi - chunk)
            found = backend.find(base + lo, hi - lo, needle)
            if found >= 0:
                tail = bytes_at(array, lo + found, hi)
                return lo + found + tail.rfind(needle)
            hi = lo + n - 1  # overlap so a match across the boundary is seen
            chunk = min(2 * chunk, largest)
        return -1

    def find_byte(self, byte: int, start: int, stop: int) -> int:
        """Return the index of the first ``byte`` in ``[start, stop)``, or -1.

        The same search as :meth:`find` with a one-byte needle (a copy of
        the first few hundred bytes, then ``memchr(3)`` in place).
        """
        return self.find(_ONE_BYTE[byte], start, stop)

    def move(self, dest: int, src: int, count: int) -> None:
        """Copy ``count`` bytes from ``src`` to ``dest``; the ranges may overlap."""
        array = self.array  # (held to the end: it keeps the memory mapped)
        view = self.view
        if view is None or array is None:
            raise _closed_error()
        if view.readonly:
            raise readonly()
        if self.protection is not None:
            self.protection.check(range(src, src + count), False)
            self.protection.check(range(dest, dest + count), True)
        # Overlapping ranges are copied as memmove(3) does.
        move(array, view, dest, src, count)

    def flush(self, start: int, length: int, flags: int) -> None:
        """Write dirty pages back to the file (``msync(2)``)."""
        array, base = self._mapped()
        backend.flush(base + start, max(0, min(length, len(array) - start)), flags)

    def advise(self, advice: int, start: int, length: int) -> None:
        """Tell the kernel how the range will be used (``madvise(2)``).

        Advice that makes every later access fault (``MADV_HWPOISON``,
        ``MADV_GUARD_INSTALL``) is refused with ``ValueError``: pymmap never
        hands out memory that kills the process when read.  (The C module
        passes it on.)

        ``MADV_DONTFORK`` keeps the pages out of processes forked later.
        Such a child would die with SIGSEGV on touching them (the C module's
        child does); pymmap's child finds private zero-filled pages there
        instead, as with ``MADV_WIPEONFORK``.  The rest of the mapping is
        inherited as usual.
        """
        if advice in getattr(backend, "UNSAFE_ADVICE", ()):
            raise ValueError(f"madvise option {advice} would make the pages fault on access")
        array, base = self._mapped()
        backend.advise(base + start, max(0, min(length, len(array) - start)), advice)
        if advice == _MADV_DONTFORK:
            _unforked.add(self)

    def allowed_protection(self, prot: int, start: int) -> int:
        """Return the protection the CPU gets when :meth:`protect` is asked for ``prot`` at ``start``.

        The rules, checked before anything changes: ``start`` must be a
        multiple of the page size (``ValueError``); ``prot`` is made of
        ``PROT_READ``, ``PROT_WRITE`` and ``PROT_EXEC`` (``ValueError``);
        pages the CPU may write or execute, it may also read (as the map's
        constructor gives them: ``PROT_READ`` is added); and a page cannot
        be granted more than the region was mapped with (``TypeError``,
        e.g. ``PROT_WRITE`` on a read-only map).
        """
        if start % _PAGESIZE:
            raise ValueError("protect start must be a multiple of PAGESIZE")
        if prot & ~_PROT_ALL:
            raise ValueError("protect: prot must be made of PROT_READ, PROT_WRITE and PROT_EXEC")
        if prot:
            prot |= _PROT_READ
        if prot & ~self.prot:
            raise TypeError("mmap can't grant more access than the map was created with")
        return prot

    def protect(self, prot: int, start: int, length: int) -> None:
        """Change what the CPU may do with the pages of ``[start, start + length)`` (``mprotect(2)``).

        ``prot`` and ``start`` must pass :meth:`allowed_protection` (which
        says what the pages get); the range is rounded up to whole pages
        and clamped to the mapping.

        The kernel changes the page tables; :attr:`protection` records the
        change, so that the region's methods can refuse an access the CPU
        would fault on, instead of dying with SIGSEGV.  When every page is
        back to :attr:`prot`, :attr:`protection` is None again.

        Taking access away while something else still reaches the memory
        (another thread in the middle of a copy, a view handed out: see
        :class:`~pymmap.lease.Lease`) raises ``BufferError``: that holder
        would not know to check.  To find out, the region lets go of its own
        views (and makes new ones afterwards); if something else still holds
        one, the garbage collector runs once (on PyPy, a dropped view lives
        until it does) before the region decides.
        """
        prot = self.allowed_protection(prot, start)
        with self.mutex:
            self._protect(prot, start, length)

    def _protect(self, prot: int, start: int, length: int) -> None:
        """Internal: :meth:`protect`, with the lock held."""
        array, base = self._mapped()
        pages = (len(array) + _PAGESIZE - 1) // _PAGESIZE
        del array  # our own reference must not count as a holder
        first = start // _PAGESIZE
        end = min(pages, (start + length + _PAGESIZE - 1) // _PAGESIZE)
        if end <= first:
            return
        current = self.protection or PageProtection.uniform(self.prot, pages)
        takes_away = current.takes_away(prot, first, end)
        lease = self._lease
        with lease.hold():
            # No views while mprotect(2) runs (without the GIL), as in
            # close(): a thread that picked them up now could be reading a
            # page just as it becomes PROT_NONE.
            busy = self._drop_views()
            try:
                if busy and takes_away:
                    gc.collect()
                    if lease.reached():
                        raise BufferError("mmap can't change protection while its memory is in use.")
                backend.protect(base + first * _PAGESIZE, (end - first) * _PAGESIZE, prot)
                self.protection = current.changed(prot, first, end)
            finally:
                self._attach(lease)

    def lock(self, start: int, length: int) -> None:
        """Keep the pages of the range in RAM (``mlock(2)``): they can no longer be swapped out.

        The kernel faults them in first.  How much one process may lock is
        limited by ``RLIMIT_MEMLOCK`` (``ulimit -l``).
        """
        array, base = self._mapped()
        backend.lock(base + start, max(0, min(length, len(array) - start)))

    def unlock(self, start: int, length: int) -> None:
        """Let the pages of the range be swapped out again (``munlock(2)``)."""
        array, base = self._mapped()
        backend.unlock(base + start, max(0, min(length, len(array) - start)))

    def resident(self, start: int, length: int) -> bytes:
        """Return one byte per page of ``[start, start + length)``: 1 if it is in RAM (``mincore(2)``).

        ``start`` is rounded down to a page boundary, as ``mincore`` needs.
        A page is *resident* when it is in RAM and mapped, so touching it
        causes no disk read; for a file map that means it is in the page
        cache.
        """
        array, base = self._mapped()
        stop = min(start + length, len(array))
        if stop <= start:
            return b""
        first = start - start % _PAGESIZE
        return backend.resident(base + first, stop - first)

    def load(self, start: int, length: int) -> None:
        """Bring the pages of ``[start, start + length)`` into RAM now, and map them.

        ``madvise(MADV_WILLNEED)`` first asks the kernel to start reading
        them; then one byte of each page is read, which waits for each page
        and maps it (one C-level copy: a slice with a step of one page).  A
        ``PROT_NONE`` page in the range raises ``ValueError`` before
        anything is read.  The range is clamped to the mapping.
        """
        array, base = self._mapped()
        first = start - start % _PAGESIZE
        stop = min(start + length, len(array))
        if stop <= first:
            return
        if self.protection is not None:
            self.protection.check(range(first, stop), False)
        backend.advise(base + first, stop - first, _MADV_WILLNEED)
        if self.array is None:
            raise _closed_error()  # (closed while madvise(2) ran: nothing left to load)
        self._touch(array, first, stop)

    def _touch(self, array: CharArray, first: int, stop: int) -> None:
        """Internal: read a byte of each page of ``[first, stop)`` (:meth:`load`'s reads)."""
        array[first:stop:_PAGESIZE]  # (the reads are the point)

    def set_name(self, name: bytes) -> None:
        """Label an anonymous mapping for ``/proc/self/maps`` (``prctl(PR_SET_VMA)``).

        The kernel shows ``[anon:<name>]`` (``[anon_shmem:<name>]`` for shared
        memory) instead of a blank.  The name is kept and applied again if
        :meth:`resize` moves the mapping.
        """
        array, base = self._mapped()
        backend.set_anon_name(base, len(array), name)
        self._name = name

    def resize(self, new_length: int, fd: int = -1) -> None:
        """Grow or shrink the mapping to ``new_length`` bytes.

        For a file mapping, ``fd`` (a descriptor of the file) is set to
        ``offset + new_length`` bytes with ``ftruncate(2)``.  The order
        matters: a page of a mapping that lies past the end of its file
        cannot be read (the kernel sends SIGBUS), so the file grows *before*
        the mapping does, and shrinks only *after* the mapping has.

        The mapping itself is resized with ``mremap(2)``, which may move it
        to a new address.  Two cases cannot use ``mremap``.  A shared
        anonymous mapping cannot grow with it: its memory object keeps its
        first size, and touching the new pages would raise SIGBUS.  And while
        another holder may still be using the old addresses (see
        :class:`~pymmap.lease.Lease`), they must not move.  Then a fresh mapping of the new
        size is made, anonymous and private bytes are copied into it, and the
        old range is retired as by :meth:`close`.

        Windows has no ``mremap`` and forbids changing a file's size while a
        view of it is mapped; there the platform layer's ``resize`` does the
        whole job in the order Windows needs, and the region takes up the
        view it returns.

        Pages that :meth:`protect` changed keep their protection if they are
        still part of the mapping afterwards.  (If the resize fails, the
        whole mapping is left with its own protection, :attr:`prot`.)
        """
        with self.mutex:
            self._resize(new_length, fd)

    def _resize(self, new_length: int, fd: int) -> None:
        """Internal: :meth:`resize`, with the lock held."""
        array, base = self._mapped()
        if self._release is not backend.unmap:
            raise TypeError(f"mmap can't resize memory mapped by {self._origin}(); its size is fixed")
        if new_length == 0:
            # mremap(2) cannot make an empty mapping.  Refuse before touching
            # the file: truncating it first (as CPython does) would leave a
            # mapping longer than its file, and reading it would kill the
            # process with SIGBUS.
            raise empty_mapping()
        old_length = len(array)
        del array  # our own reference must not count as a holder
        lease = self._lease
        if _backend_resize is not None:
            # Windows: a view never grows, and a file cannot change size under
            # one.  The backend unmaps, resizes the file and maps again, in
            # the order Windows requires, and says where the view is now.  An
            # old view that someone may still read stays mapped until then.
            with lease.hold():
                busy = self._drop_views()
                if busy:
                    busy = not _wait(lambda: not lease.reached(), _WINDOWS_RESIZE_PATIENCE)
                try:
                    address, length, error = _backend_resize(
                        base, old_length, new_length, fd if fd != -1 else self.fd, self.offset, busy)
                except BaseException:
                    self._attach(lease)
                    raise
                if address == base and length == old_length:
                    self._attach(lease)  # the view stayed where it was
                elif not busy:
                    lease.forget()  # the backend unmapped the old view itself
                # (A busy old view stays mapped: the lease unmaps it when its
                # last holder lets go.)
            if address is not None and self.array is None:
                self._start(Lease(address, length, backend.unmap))
            if error is not None:
                raise error
            return
        kept = self.protection
        if kept is not None:
            # mremap(2) cannot resize a range that mprotect(2) has split into
            # pieces, and the copy below must read every page: give the whole
            # mapping its own protection back first, and the pages that stay
            # theirs again at the end.
            backend.protect(base, old_length, self.prot)
            self.protection = None
        grows = new_length > old_length
        anonymous = self.fd == -1
        private = bool(self.flags & _MAP_PRIVATE)
        if fd != -1 and grows:
            backend.truncate(fd, self.offset + new_length)
        with lease.hold():
            busy = self._drop_views()
            try:
                if not busy and backend.HAS_REMAP and not (anonymous and not private and grows):
                    new_address = backend.remap(base, old_length, new_length)
                    lease.forget()  # the kernel has moved (or cut) the old range
                else:
                    new_address = self._map(new_length, fd if fd != -1 else self.fd)
                    if anonymous or private:
                        backend.move(new_address, base, min(old_length, new_length))
                    if busy:
                        backend.placeholder(base, old_length)
                    # The old range goes at the end of the hold, or when its
                    # last holder lets go.
            except BaseException:
                self._attach(lease)  # nothing has moved
                raise
        self._start(Lease(new_address, new_length, backend.unmap))
        if self._name is not None:
            backend.set_anon_name(new_address, new_length, self._name)
        if kept is not None:
            for first, end, prot in kept.runs():
                self._protect(prot, first * _PAGESIZE, (end - first) * _PAGESIZE)
        if fd != -1 and not grows:
            backend.truncate(fd, self.offset + new_length)
