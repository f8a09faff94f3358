"""Checked maps: a page that is gone raises ``OSError`` instead of killing the process.

Why a truncated file kills a program that maps it
-------------------------------------------------
A map promises bytes at addresses, and the CPU reads them with ordinary
load instructions: no system call, no error code.  When a load reaches a
page the process has not touched yet, the CPU stops and asks the kernel
(a *page fault*), which finds the page in the file and maps it.  But if the
file has been cut short since the map was made (by this program, another
one, or a C program shrinking shared memory), the page lies past the end of
the file and there is nothing to map.  The faulting instruction cannot be
given an error code: it is a ``mov``, halfway through some C function
(``memcpy`` inside ``m[a:b]``).  So the kernel sends the process a signal,
SIGBUS, whose default action ends it (exit status 135 in a shell, -7 from
:mod:`subprocess`).  A disk that fails to read the page ends the same way.
CPython, PyPy, numpy, Rust's memmap2 and Go's mmap packages all die there:
catching the signal would leave the interrupted C code in an unknown state.

What a checked map does instead
-------------------------------
The kernel will also copy memory *for* a process, with a system call:
``process_vm_readv(2)``/``process_vm_writev(2)`` aimed at the process's own
pid, or ``pread``/``pwrite`` on ``/proc/self/mem`` (Linux), or
``ReadProcessMemory``/``WriteProcessMemory`` (Windows).  Then the fault
happens inside the kernel's own copy, which stops and reports it: a short
count, or -1 with ``EFAULT`` (``EIO`` through ``/proc/self/mem``).  A map
made with ``checked=True`` reaches its memory only that way, in every one
of its methods: ``m[i]``, ``m[a:b]`` and their assignment, ``read``,
``read_byte``, ``readline``, ``write``, ``write_byte``, ``find``/``rfind``
(over copied chunks), ``move``, ``load``, ``unpack_from``/``pack_into`` and
the ``typed()`` accessors.  A fault raises ``OSError`` with the kernel's
errno, and a message that says which bytes could not be reached and why that
usually happens; the position does not move, and the process lives.

The price is one system call per access (a few microseconds for a small
one; ``benchmarks/README.md`` has the numbers), and what a checked map
cannot watch, it does not hand out: buffers (``memoryview(m)``,
``re.search(p, m)``, ``numpy.frombuffer(m)``, ``struct.unpack_from(fmt,
m)``) and ``record()`` would let other code load from the pages directly,
so a checked map refuses them with ``BufferError``.  Copy what such code
needs (``m[a:b]``, ``m.read()``), or use the map's own ``find``,
``unpack_from`` and ``typed()``.

The kernel copies are chosen once, by the platform layer
(``backend.kernel_copies()``); a system that allows none of them makes
``mmap(..., checked=True)`` raise ``OSError`` at once, saying why.

The pieces
----------
:class:`CheckedRegion` is a :class:`~pymmap.region.MappedRegion` whose
methods copy through the kernel.  The facade's hot paths index a cached
array and view (see :mod:`pymmap.facade`); for a checked map it caches a
:class:`CheckedArray` and a :class:`CheckedView`, which do the same through
the region, so the hot paths themselves are unchanged.
"""

from __future__ import annotations

from ctypes import addressof as _addressof

from ._platform import backend
from .errors import readonly, refused
from .region import MappedRegion

TYPE_CHECKING = False  # typing's flag, without importing typing: see pymmap/__init__.py
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Tuple, TypeVar

    _T = TypeVar("_T")

__all__ = ["CheckedArray", "CheckedRegion", "CheckedView"]

_PAGESIZE = backend.PAGESIZE
_PROT_WRITE = backend.CONSTANTS["PROT_WRITE"]

#: The bytes a search copies at a time: large enough that the system call
#: costs little next to the copy, small enough to stay in the CPU's cache.
_SEARCH_CHUNK = 1 << 18
_ONE_BYTE = [bytes((b,)) for b in range(256)]


class CheckedRegion(MappedRegion):
    """A :class:`MappedRegion` that reads and writes its memory only through kernel copies.

    Made as a region is (``CheckedRegion(length, fd=...)``, or
    :meth:`~MappedRegion.adopt`).  ``copies`` are the kernel's copies
    (:func:`backend.kernel_copies`): if the system allows none, making the
    region raises ``OSError`` before anything is mapped.  ``file`` is a
    descriptor of the mapped file that the owner keeps open (-1 if none),
    asked for the file's size when a fault is explained.

    Every method that reaches the memory copies instead: those overridden
    here, and the region's ``find``, ``rfind`` and ``load``, whose checks
    stay the region's and whose reads are the hooks ``_find_in``,
    ``_rfind_in`` and ``_touch``.  The memory itself (:attr:`array`,
    :attr:`view`) still keeps the range mapped, and is still what the lease
    and ``close()`` manage, but nothing reads or writes through it.
    :meth:`memory_for`, which hands out the view, refuses.
    """

    __slots__ = ("copies", "file")

    checked = True

    def _setup(self, length: int, prot: int, flags: int, fd: int, offset: int,
               tagname: Optional[str] = None) -> None:
        self.copies = backend.kernel_copies()  # (first: a system without them maps nothing)
        self.file = -1
        super()._setup(length, prot, flags, fd, offset, tagname)

    # --- the two copies, and what a fault means ------------------------------------

    def get(self, array: Any, start: int, stop: int) -> bytes:
        """Return bytes ``[start, stop)`` of the mapping that ``array`` covers; ``OSError`` on a fault.

        The caller holds ``array``, which keeps the range mapped; the range
        is clamped to it.
        """
        stop = min(stop, len(array))
        if stop <= start:
            return b""
        try:
            data = self.copies.read(_addressof(array) + start, stop - start)
            if len(data) == stop - start:
                return data
        except OSError as exc:
            if start // _PAGESIZE == (stop - 1) // _PAGESIZE:  # (one page: nothing to narrow down)
                raise self._fault(exc, start, stop, start, False) from None
        data, fault = self.readable_prefix(array, start, stop)
        if fault is not None:
            raise fault
        return data  # (readable after all: the file grew back meanwhile)

    def put(self, array: Any, start: int, data: bytes) -> None:
        """Write ``data`` at ``start`` of the mapping that ``array`` covers; ``OSError`` on a fault.

        The bytes before a page that cannot be written may have been written.
        """
        address = _addressof(array)
        try:
            if self.copies.write(address + start, data) == len(data):
                return
        except OSError:
            pass
        # The long way, to find where it stops: as readable_prefix does.
        stop = start + len(data)
        where = start
        while where < stop:
            end = stop
            while True:
                try:
                    done = self.copies.write(address + where, data[where - start:end - start])
                    break
                except OSError as exc:
                    page_end = (where // _PAGESIZE + 1) * _PAGESIZE
                    if end <= page_end:
                        raise self._fault(exc, start, stop, where, True) from None
                    end = page_end
            where += done

    def readable_prefix(self, array: Any, start: int, stop: int) -> Tuple[bytes, Optional[OSError]]:
        """Return the bytes from ``start`` up to the first that cannot be read (or ``stop``), and that error.

        For searches (a match before a page that is gone is still found),
        and to say where a copy failed.  A copy that fails as a whole
        (Windows reports no partial copy) is narrowed to its first page.
        """
        stop = min(stop, len(array))
        address = _addressof(array)
        parts: List[bytes] = []
        where = start
        while where < stop:
            end = stop
            while True:
                try:
                    piece = self.copies.read(address + where, end - where)
                    break
                except OSError as exc:
                    page_end = (where // _PAGESIZE + 1) * _PAGESIZE
                    if end <= page_end:
                        return b"".join(parts), self._fault(exc, start, stop, where, False)
                    end = page_end
            parts.append(piece)
            where += len(piece)
        return b"".join(parts), None

    def _fault(self, exc: OSError, start: int, stop: int, where: int, write: bool) -> OSError:
        """Internal: ``exc``, the system's error, its message saying what could not be reached, and why."""
        verb = "written" if write else "read"
        what = f"byte {start}" if stop - start == 1 else f"bytes {start}..{stop - 1}"
        page = where - where % _PAGESIZE
        detail = (f"mmap {what} cannot be {verb}: the page of bytes {page}..{page + _PAGESIZE - 1} "
                  "cannot be reached")
        size = None
        if self.file >= 0:
            try:
                size = backend.file_size(self.file)
            except OSError:
                size = None
        end_in_file = self.offset + self.length
        if size is not None and size < end_in_file:
            detail += (f". The file is {size} bytes long now, shorter than the map "
                       f"(bytes {self.offset}..{end_in_file - 1} of the file): it was cut short "
                       "after the map was made, and the pages past its end are gone")
        else:
            detail += (". The usual cause: the file (or shared memory) behind the map was made "
                       "shorter than the map, or the device behind it failed")
        exc.strerror = f"{exc.strerror}: {detail}"
        return exc

    # --- what MappedRegion's methods do, through the copies -------------------------

    def memory_for(self, offset: int, size: int, write: bool) -> Tuple[memoryview, Any]:
        """Refuse: a checked region hands out no view of its memory."""
        raise refused()

    def _checked_range(self, offset: int, size: int, write: bool) -> Any:
        """Internal: ``memory_for``'s checks; return the array (which keeps the range mapped)."""
        array = self._mapped()[0]
        if write and not self.prot & _PROT_WRITE:
            raise readonly()
        if offset < 0 or len(array) - offset < size:
            raise IndexError(f"mmap offset out of range: {size} bytes at {offset} in a map of {len(array)}")
        if self.protection is not None:
            self.protection.check(range(offset, offset + size), write)
        return array

    def read_at(self, read: Callable[[Any, int], _T], offset: int, size: int) -> _T:
        """``read(copy, 0)`` on a copy of bytes ``[offset, offset + size)``: one step."""
        array = self._checked_range(offset, size, False)
        return read(self.get(array, offset, offset + size), 0)

    def pack_at(self, pack_into: Callable[[Any, int, Any], None], offset: int, size: int,
                value: Any) -> None:
        """``pack_into`` into a buffer, then the buffer into the memory: one step, with the lock."""
        buf = bytearray(size)
        pack_into(buf, 0, value)
        with self.mutex:
            array = self._checked_range(offset, size, True)
            self.put(array, offset, bytes(buf))

    def store_at(self, offset: int, data: Any) -> None:
        """Copy the bytes-like ``data`` to ``offset``: one step, with the lock."""
        if data.__class__ is not bytes:
            data = bytes(data)
        with self.mutex:
            array = self._checked_range(offset, len(data), True)
            self.put(array, offset, data)

    def read(self, start: int, stop: int) -> bytes:
        array = self._mapped()[0]
        if self.protection is not None:
            self.protection.check(range(start, min(stop, len(array))), False)
        return self.get(array, start, stop)

    def write(self, start: int, data: Any) -> None:
        array = self._mapped()[0]
        if self.protection is not None:
            self.protection.check(range(start, min(start + len(data), len(array))), True)
        self.put(array, start, bytes(data))

    def _find_in(self, array: Any, needle: bytes, start: int, stop: int) -> int:
        """Search copies of the range, a chunk at a time; a fault before a match raises."""
        n = len(needle)
        lo = start
        while stop - lo >= n:
            hi = min(stop, lo + max(_SEARCH_CHUNK, 2 * n))  # (more than a needle: progress)
            data, fault = self.readable_prefix(array, lo, hi)
            hit = data.find(needle)
            if hit >= 0:
                return lo + hit
            if fault is not None:
                raise fault
            if hi == stop:
                return -1
            lo = hi - n + 1  # (a match may straddle the chunks)
        return -1

    def _rfind_in(self, array: Any, needle: bytes, start: int, stop: int) -> int:
        """Search copies of the range from its end, a chunk at a time; a fault before a match raises."""
        n = len(needle)
        hi = stop
        while hi - start >= n:
            lo = max(start, hi - max(_SEARCH_CHUNK, 2 * n))
            data, fault = self.readable_prefix(array, lo, hi)
            if fault is not None:
                # Past the fault, nothing can be read: a match nearer the
                # end would have to be seen first.
                raise fault
            hit = data.rfind(needle)
            if hit >= 0:
                return lo + hit
            if lo == start:
                return -1
            hi = lo + n - 1
        return -1

    def move(self, dest: int, src: int, count: int) -> None:
        """Copy ``count`` bytes from ``src`` to ``dest`` (a copy out, then in: overlaps are fine)."""
        array = self._mapped()[0]
        if not self.prot & _PROT_WRITE:
            raise readonly()
        if self.protection is not None:
            self.protection.check(range(src, src + count), False)
            self.protection.check(range(dest, dest + count), True)
        self.put(array, dest, self.get(array, src, src + count))

    def _touch(self, array: Any, first: int, stop: int) -> None:
        """Read the pages of ``[first, stop)`` for :meth:`~MappedRegion.load`: copies, a chunk at a time."""
        for lo in range(first, stop, _SEARCH_CHUNK):
            self.get(array, lo, min(stop, lo + _SEARCH_CHUNK))


class CheckedArray:
    """Stands in for a checked region's ``c_char`` array in the facade's hot paths.

    ``a[i]`` gives a 1-byte ``bytes`` and ``a[i:j:k]`` a ``bytes``, as the
    ctypes array would, through the region's kernel copies.  It holds the
    array, which keeps the memory mapped while the stand-in is in use.
    """

    __slots__ = ("_array", "_length", "_region")

    def __init__(self, region: CheckedRegion, array: Any) -> None:
        self._region = region
        self._array = array
        self._length = len(array)

    def __len__(self) -> int:
        return self._length

    def _byte(self, i: int) -> bytes:
        if i < 0:
            i += self._length
        if not 0 <= i < self._length:
            raise IndexError("index out of range")
        return self._region.get(self._array, i, i + 1)

    def _slice(self, item: slice) -> bytes:
        start, stop, step = item.indices(self._length)
        if step == 1:
            return self._region.get(self._array, start, stop)
        indices = range(start, stop, step)
        if not indices:
            return b""
        lo = min(indices[0], indices[-1])
        span = self._region.get(self._array, lo, max(indices[0], indices[-1]) + 1)
        return span[indices[0] - lo::step]

    def __getitem__(self, item: Any) -> bytes:
        if item.__class__ is slice:
            return self._slice(item)
        return self._byte(item)


class CheckedView(CheckedArray):
    """Stands in for a checked region's memoryview: ``v[i]`` is an int, and stores go through the kernel.

    ``v[i] = byte`` and ``v[a:b:c] = data`` check what a memoryview of
    format ``'B'`` checks (a read-only view raises ``TypeError``; an index
    out of range ``IndexError``; a byte outside 0-255, or data of another
    length, ``ValueError``) before anything is written.
    """

    __slots__ = ("_readonly",)

    def __init__(self, region: CheckedRegion, array: Any, readonly: bool) -> None:
        super().__init__(region, array)
        self._readonly = readonly

    def __getitem__(self, item: Any) -> Any:
        if item.__class__ is slice:
            return self._slice(item)
        return self._byte(item)[0]

    def __setitem__(self, item: Any, value: Any) -> None:
        if self._readonly:
            raise TypeError("cannot modify read-only memory")
        region = self._region
        if item.__class__ is not slice:
            if value.__class__ is not int:
                raise TypeError("memoryview: invalid type for format 'B'")
            if not 0 <= value <= 255:
                raise ValueError("memoryview: invalid value for format 'B'")
            i = item.__index__()
            if i < 0:
                i += self._length
            if not 0 <= i < self._length:
                raise IndexError("index out of bounds on dimension 1")
            region.put(self._array, i, _ONE_BYTE[value])
            return
        if value.__class__ is bytes:
            data = value
        else:
            with memoryview(value) as source:
                if source.format not in ("B", "b", "c") or source.ndim > 1:
                    raise ValueError("memoryview assignment: lvalue and rvalue have different structures")
                data = source.tobytes()
        start, stop, step = item.indices(self._length)
        indices = range(start, stop, step)
        if len(indices) != len(data):
            raise ValueError("memoryview assignment: lvalue and rvalue have different structures")
        if not indices:
            return
        if step == 1:
            region.put(self._array, start, data)
            return
        lo = min(indices[0], indices[-1])
        hi = max(indices[0], indices[-1]) + 1
        span = bytearray(region.get(self._array, lo, hi))
        span[indices[0] - lo::step] = data
        region.put(self._array, lo, bytes(span))
