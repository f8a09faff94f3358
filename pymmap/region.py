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

import ctypes
import errno
import os
import sys
import weakref
from typing import Any, Callable, Optional, Tuple

from ._platform import backend
from .copying import bytes_at, move, store
from .protection import PageProtection, inaccessible

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
_addressof = ctypes.addressof
# How many bytes a search first looks at in a copy.  A foreign call costs a
# microsecond or more, far longer than copying a few hundred bytes, and
# most searches (the next newline, the last separator) end close to where
# they start.
_SEARCH_WINDOW = 256
# bytes([b]) for every byte value, made once.
_ONE_BYTE = [bytes((b,)) for b in range(256)]

#: The type of :attr:`MappedRegion.array`: ``ctypes.c_char * length``.  Its
#: slices are ``bytes``, which typeshed's ``ctypes.Array`` cannot express.
CharArray = Any

# CPython counts references, so it can tell whether anyone besides the region
# still holds its views.  PyPy cannot, and pymmap then assumes someone might.
_getrefcount: Optional[Callable[[Any], int]] = getattr(sys, "getrefcount", None)


def _release_when_dead(array: Any, release: Callable[[int, int], None], address: int,
                       length: int) -> "weakref.finalize[..., None]":
    """Internal: arrange for ``release(address, length)`` once ``array`` is gone.

    The finalizer can also be called early (``close()``) or detached.  It
    does not run at interpreter exit (``atexit = False``): a daemon thread
    may still be reading the memory then, and the kernel takes every
    mapping back when the process ends anyway.
    """
    finalizer = weakref.finalize(array, release, address, length)
    finalizer.atexit = False
    return finalizer


# Regions given MADV_DONTFORK (Linux): a child forked afterwards lacks those
# pages, and would die with SIGSEGV on touching them.  Right after a fork,
# the child fills each hole with zero-filled private pages (see
# backend.fill_holes), as if the parent had asked for MADV_WIPEONFORK.
_MADV_DONTFORK = backend.CONSTANTS.get("MADV_DONTFORK")
_unforked: "weakref.WeakSet[MappedRegion]" = weakref.WeakSet()


def _fill_holes_after_fork() -> None:
    """Internal: in a forked child, give every open region back the pages it was not given."""
    for region in list(_unforked):
        if region.array is not None:
            backend.fill_holes(region.address, region.length)


if _MADV_DONTFORK is not None:
    os.register_at_fork(after_in_child=_fill_holes_after_fork)


def _closed_error() -> ValueError:
    """Internal: the error every operation on a released region raises."""
    return ValueError("mmap closed or invalid")


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
        view: a ``memoryview`` (format ``'B'``) of :attr:`array`.
        protection: None while every page has the protection ``prot``;
            after :meth:`protect` changed some, a
            :class:`~pymmap.protection.PageProtection` saying which.  The
            region's methods check it; :attr:`array` and :attr:`view` do not.

    The region is released exactly once: by :meth:`close`, or when it is
    garbage-collected, or by the kernel when the process ends.  After release, ``array``
    and ``view`` are ``None`` and every method raises ``ValueError``.
    """

    __slots__ = (
        "__weakref__",
        "_finalizer",
        "_name",
        "_origin",
        "_pinned",
        "_refs",
        "_release",
        "address",
        "array",
        "fd",
        "flags",
        "length",
        "offset",
        "prot",
        "protection",
        "tagname",
        "view",
    )

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
        self.address = self._map(length, fd)
        try:
            self._attach()
        except BaseException:
            # An interrupt (or MemoryError) between mmap(2) and the views
            # that own the mapping: give the range back before raising.
            finalizer = getattr(self, "_finalizer", None)
            if finalizer is not None and finalizer.alive:
                finalizer()
            else:
                backend.unmap(self.address, length)
            raise

    def _setup(self, length: int, prot: int, flags: int, fd: int, offset: int,
               tagname: Optional[str] = None) -> None:
        """Internal: the state every region starts with, before it has memory.

        Shared by ``__init__`` and :meth:`adopt`: a new attribute belongs here.
        """
        self.length = length
        self.prot = prot
        self.flags = flags
        self.fd = fd
        self.offset = offset
        self.array: Optional[CharArray] = None
        self.view: Optional[memoryview] = None
        self._pinned = False
        self._name: Optional[bytes] = None
        self.protection: Optional[PageProtection] = None
        self._release: Callable[[int, int], None] = backend.unmap
        self._origin = "mmap"
        self.tagname = tagname

    def _map(self, length: int, fd: int) -> int:
        """Internal: map ``length`` bytes of ``fd`` (-1: anonymous) as the region says.

        A region with a :attr:`tagname` maps a named section (Windows):
        if one of that name exists, its memory is shared.
        """
        if self.tagname is None:
            return backend.map(length, self.prot, self.flags, fd, self.offset)
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
    ) -> "MappedRegion":
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
        self.address = address
        try:
            self._attach()
        except BaseException:  # pragma: no cover - only a MemoryError gets here
            release(address, length)
            raise
        return self

    def _attach(self) -> None:
        """Internal: build the ctypes array and memoryview over ``address``.

        The unmapping is tied to the array's lifetime through a finalizer, so
        the address range can never be returned to the kernel while any view
        of it is still alive in this process.
        """
        array = (ctypes.c_char * self.length).from_address(self.address)
        view = memoryview(array).cast("B")
        if not self.prot & _PROT_WRITE:
            view = view.toreadonly()
        self.array = array
        self.view = view
        self._finalizer = _release_when_dead(array, self._release, self.address, self.length)
        del array, view  # the baseline below must count only the region's own references
        self._refs = self._refcounts()

    def _refcounts(self) -> Tuple[int, int]:
        """Internal: how many references the array and view have right now."""
        if _getrefcount is None:
            return (-1, -1)
        return (_getrefcount(self.array), _getrefcount(self.view))

    def in_use(self) -> bool:
        """Return True if something besides this region still holds its views.

        Another thread in the middle of an operation, or a memoryview handed
        out, keeps a reference to :attr:`view` or :attr:`array`.  On PyPy,
        which has no reference counts, this always answers True.
        """
        if _getrefcount is None:
            return True
        return self._refcounts() != self._refs

    @property
    def closed(self) -> bool:
        """True once the region has been released."""
        return self.array is None

    def close(self) -> None:
        """Release the mapping (``munmap(2)``).  Calling it again does nothing.

        If another holder still has a view of the memory (say, a thread in
        the middle of a copy), the pages are first swapped for private
        zero-filled ones with a single ``mmap(MAP_FIXED)``: the file is let go
        at once, the holder reads zeros instead of crashing, and the address
        range itself is unmapped when the last view dies.
        """
        if self.array is not None:
            self.protection = None  # the pages go, and their protection with them
            self._retire()

    def _take_views(self) -> Tuple[Any, Any, bool]:
        """Internal: take the array and view from the region; say if anything else holds them.

        They are taken first and counted after.  Counting first would leave
        a gap: another thread could pick up the array between the count and
        the taking (the GIL can change hands there), and then find the range
        unmapped or moved under it.  Once taken, no other thread can get
        them from the region (its methods raise ``ValueError``), so the count
        is final.  The caller holds them in local variables, which count
        exactly as the region's own attributes did (see :meth:`_attach`).
        """
        array = self.array
        view = self.view
        self.array = None
        self.view = None
        if _getrefcount is None:
            return array, view, True
        busy = (_getrefcount(array), _getrefcount(view)) != self._refs
        return array, view, busy

    def _retire(self) -> None:
        """Internal: give the current address range back, now or when its last view dies."""
        # Held until the end: on PyPy nothing else may keep the array (and so
        # its finalizer) from running before the finalizer is swapped below.
        array, view, busy = self._take_views()
        if busy:
            backend.placeholder(self.address, self.length)
            if self._pinned:
                self._finalizer.detach()
            elif self._release is not backend.unmap:
                # The placeholder has replaced the adopted memory (for System
                # V memory, that detached the segment): what remains is an
                # ordinary mapping, which munmap(2) gives back.
                detached = self._finalizer.detach()
                if detached is not None:
                    self._finalizer = _release_when_dead(detached[0], backend.unmap,
                                                         self.address, self.length)
        else:
            assert view is not None
            view.release()
            self._finalizer()
        del array

    def export(self, readonly: bool, on_release: Callable[[], None]) -> memoryview:
        """Return a new memoryview of the whole mapping, for a caller to keep.

        The view is made from a ctypes array of its own, which holds the
        region's array (so the mapping cannot be unmapped under it) and whose
        death — when the view and every slice of it are released or
        collected — calls ``on_release()``.  That lets the facade count live
        exports on every interpreter, with or without reference counting.

        A view checks nothing when it is used, so while :meth:`protect` has
        made some page ``PROT_NONE`` there is no view to give (``ValueError``),
        and while some page is read-only the view is read-only too.
        """
        array = self.array
        if array is None:
            raise _closed_error()
        if self.protection is not None:
            if self.protection.forbids(write=False):
                raise inaccessible()
            readonly = readonly or self.protection.forbids(write=True)
        holder = self.export_array(on_release)
        view = memoryview(holder).cast("B")
        return view.toreadonly() if readonly or view.readonly else view

    def export_array(self, on_release: Callable[[], None]) -> CharArray:
        """Return a new ``c_char`` array over the whole mapping, for a caller to keep.

        This is the holder behind each :meth:`export` view, and what a
        ``ctypes`` record made with ``from_buffer`` aliases.  It holds the
        region's array (so the mapping cannot be unmapped under it), and its
        death calls ``on_release()``.
        """
        array = self.array
        if array is None:
            raise _closed_error()
        if _getrefcount is None:
            # PyPy's memoryviews keep neither the holder nor the array alive,
            # and PyPy never reports a release: once a view has been handed
            # out, the address range stays mapped (zero-filled after close)
            # until the process ends, so the view can never dangle.
            self._pinned = True
        holder = (ctypes.c_char * self.length).from_buffer(array)
        weakref.finalize(holder, on_release)
        return holder

    def __repr__(self) -> str:
        state = "closed" if self.array is None else f"address=0x{self.address:x}"
        return f"<pymmap.MappedRegion {state} length={self.length}>"

    # --- operations that need the address ----------------------------------
    # Callers check bounds against the size they know.  Another thread may
    # have resized the region since, so every call that hands an address to
    # C also clamps its range to the array it holds: C never sees a byte
    # outside the mapping.

    def _pin(self) -> Tuple[CharArray, int]:
        """Internal: the array and its address, after checking the region is mapped.

        The caller keeps the array in a local variable for the whole call:
        that reference keeps the address range mapped (see :meth:`close`),
        and the address is the array's own, so the two always agree.
        """
        array = self.array
        if array is None:
            raise _closed_error()
        return array, _addressof(array)

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
        array = self.array  # a view alone does not keep the mapping alive on PyPy
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
        array = self.array
        view = self.view
        if view is None or array is None:
            raise _closed_error()
        if view.readonly:
            raise TypeError("mmap can't modify a readonly memory map.")
        if self.protection is not None:
            self.protection.check(range(src, src + count), False)
            self.protection.check(range(dest, dest + count), True)
        # Overlapping ranges are copied as memmove(3) does.
        move(array, view, dest, src, count)

    def sync(self, start: int, length: int, flags: int) -> None:
        """Write dirty pages back to the file (``msync(2)``)."""
        array, base = self._pin()
        backend.sync(base + start, max(0, min(length, len(array) - start)), flags)

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
        array, base = self._pin()
        backend.advise(base + start, max(0, min(length, len(array) - start)), advice)
        if advice == _MADV_DONTFORK:
            _unforked.add(self)

    def protect(self, prot: int, start: int, length: int) -> None:
        """Change what the CPU may do with the pages of ``[start, start + length)`` (``mprotect(2)``).

        ``start`` must be a multiple of the page size; the range is rounded up
        to whole pages and clamped to the mapping.  ``prot`` should not add
        to the region's own :attr:`prot` (the caller checks).

        The kernel changes the page tables; :attr:`protection` records the
        change, so that the region's methods can refuse an access the CPU
        would fault on, instead of dying with SIGSEGV.  When every page is
        back to :attr:`prot`, :attr:`protection` is None again.

        Taking access away while something else holds :attr:`view` or
        :attr:`array` (see :meth:`in_use`) raises ``BufferError``: that holder
        would not know to check.  PyPy cannot count those holders: there,
        once a buffer has been exported (:meth:`export_array`), access can
        only be given back, and the caller must make sure that no other
        thread is using the region.
        """
        array, base = self._pin()
        pages = (len(array) + _PAGESIZE - 1) // _PAGESIZE
        del array  # our own reference must not count as "in use"
        first = start // _PAGESIZE
        end = min(pages, (start + length + _PAGESIZE - 1) // _PAGESIZE)
        if end <= first:
            return
        current = self.protection or PageProtection.uniform(self.prot, pages)
        # Taken while mprotect(2) runs (without the GIL), as in close(): a
        # thread that picked up the views after a count could be reading a
        # page just as it becomes PROT_NONE.
        array, view, busy = self._take_views()
        try:
            if _getrefcount is None:
                busy = self._pinned
            if busy and current.takes_away(prot, first, end):
                raise BufferError("mmap can't change protection while its memory is in use.")
            backend.protect(base + first * _PAGESIZE, (end - first) * _PAGESIZE, prot)
            self.protection = current.changed(prot, first, end)
        finally:
            self.array, self.view = array, view
            del array, view  # a traceback keeps this frame: its locals would count as holders

    def lock(self, start: int, length: int) -> None:
        """Keep the pages of the range in RAM (``mlock(2)``): they can no longer be swapped out.

        The kernel faults them in first.  How much one process may lock is
        limited by ``RLIMIT_MEMLOCK`` (``ulimit -l``).
        """
        array, base = self._pin()
        backend.lock(base + start, max(0, min(length, len(array) - start)))

    def unlock(self, start: int, length: int) -> None:
        """Let the pages of the range be swapped out again (``munlock(2)``)."""
        array, base = self._pin()
        backend.unlock(base + start, max(0, min(length, len(array) - start)))

    def residency(self, start: int, length: int) -> bytes:
        """Return one byte per page of ``[start, start + length)``: 1 if it is in RAM (``mincore(2)``).

        ``start`` is rounded down to a page boundary, as ``mincore`` needs.
        A page is *resident* when it is in RAM and mapped, so touching it
        causes no disk read; for a file map that means it is in the page
        cache.
        """
        array, base = self._pin()
        stop = min(start + length, len(array))
        if stop <= start:
            return b""
        first = start - start % _PAGESIZE
        return backend.residency(base + first, stop - first)

    def set_name(self, name: bytes) -> None:
        """Label an anonymous mapping for ``/proc/self/maps`` (``prctl(PR_SET_VMA)``).

        The kernel shows ``[anon:<name>]`` (``[anon_shmem:<name>]`` for shared
        memory) instead of a blank.  The name is kept and applied again if
        :meth:`resize` moves the mapping.
        """
        array, base = self._pin()
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
        :meth:`in_use`), they must not move.  Then a fresh mapping of the new
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
        array, base = self._pin()
        if self._release is not backend.unmap:
            raise TypeError(f"mmap can't resize memory mapped by {self._origin}(); its size is fixed")
        if new_length == 0:
            # mremap(2) cannot make an empty mapping.  Refuse before touching
            # the file: truncating it first (as CPython does) would leave a
            # mapping longer than its file, and reading it would kill the
            # process with SIGBUS.
            raise backend.oserror(errno.EINVAL)
        old_length = len(array)
        del array  # our own reference must not count as "in use"
        if _backend_resize is not None:
            # Windows: a view never grows, and a file cannot change size under
            # one.  The backend unmaps, resizes the file and maps again, in
            # the order Windows requires, and says where the view is now.  An
            # old view that someone may still read stays mapped until then.
            array, view, busy = self._take_views()
            try:
                outcome = _backend_resize(base, old_length, new_length,
                                          fd if fd != -1 else self.fd, self.offset, busy)
            except BaseException:
                self.array, self.view = array, view
                del array, view  # a traceback keeps this frame: its locals would count as holders
                raise
            error = self._replace(array, view, busy, *outcome)
            del array, view
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
        moved = False
        if backend.HAS_REMAP and not (anonymous and not private and grows):
            array, view, busy = self._take_views()
            if busy:
                self.array, self.view = array, view  # retired below, after the copy
            else:
                try:
                    new_address = backend.remap(base, old_length, new_length)
                except BaseException:
                    self.array, self.view = array, view
                    del array, view  # a traceback keeps this frame: its locals would count as holders
                    raise
                # The kernel has moved (or cut) the old range: forget its
                # views without unmapping anything.
                self._finalizer.detach()
                view.release()
                moved = True
            del array, view
        if not moved:
            new_address = self._map(new_length, fd if fd != -1 else self.fd)
            if anonymous or private:
                backend.move(new_address, base, min(old_length, new_length))
            self._retire()
        self.address = new_address
        self.length = new_length
        self._attach()
        if self._name is not None:
            backend.set_anon_name(new_address, new_length, self._name)
        if kept is not None:
            for first, end, prot in kept.runs():
                self.protect(prot, first * _PAGESIZE, (end - first) * _PAGESIZE)
        if fd != -1 and not grows:
            backend.truncate(fd, self.offset + new_length)

    def _replace(self, array: CharArray, view: memoryview, busy: bool, address: Optional[int],
                 length: int, error: Optional[OSError]) -> Optional[OSError]:
        """Internal: take up the view a backend's ``resize`` left; return its error, if any.

        ``array`` and ``view`` are the region's own, taken (see
        :meth:`_take_views`) before the backend was called.  If the view is
        where it was, with its size, the region keeps them.  If it moved
        while ``busy``, the backend left the old one mapped: it is retired
        as by :meth:`close`, and unmapped when its last holder lets go.
        Otherwise the backend has unmapped it: the region forgets its views
        of it and attaches to ``address``.  If no view is left (``address``
        None), the region stays closed.
        """
        if address == self.address and length == self.length:
            self.array, self.view = array, view
        elif busy:
            self.array, self.view = array, view
            self._retire()
        else:
            self._finalizer.detach()
            view.release()
        del array, view
        if address is not None and self.array is None:
            self.address = address
            self.length = length
            self._attach()
        return error
