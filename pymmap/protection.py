"""Page protection: what ``mmap.protect()`` changed, and guards that honour it.

``mprotect(2)`` changes what the CPU may do with some pages of a mapping:
``PROT_READ|PROT_WRITE`` (everything), ``PROT_READ`` (look, don't touch) or
``PROT_NONE`` (nothing at all, the classic *guard page*).  The kernel does not
check each access for us.  A load from a ``PROT_NONE`` page, or a store to a
page without ``PROT_WRITE``, makes the CPU fault, and the kernel answers the
fault by killing the process with SIGSEGV.  C code must simply never try.

pymmap checks first, against its own record of each page's protection,
:class:`PageProtection`.  A :class:`~pymmap.region.MappedRegion` keeps one only
while some page differs from the protection the mapping was made with;
otherwise its ``protection`` is None and nothing is ever checked.

The facade's hot paths (``m[i]``, ``m[a:b]``, ``read``, ``write``, ...) index a
ctypes array and a memoryview that it caches.  While some page is protected,
it caches a :class:`GuardedArray` and a :class:`GuardedView` in their place.
These stand-ins check every access against the record before passing it on,
so the hot paths stay exactly as they are, and cost nothing extra when no
page is protected.
"""

from __future__ import annotations

from bisect import bisect_left

from ._platform import backend
from .errors import inaccessible, readonly

TYPE_CHECKING = False  # typing's flag, without importing typing: see pymmap/__init__.py
if TYPE_CHECKING:
    from typing import Any, Iterator, Optional, Tuple

__all__ = ["GuardedArray", "GuardedView", "PageProtection"]

PAGESIZE = backend.PAGESIZE
_PROT_READ = backend.CONSTANTS["PROT_READ"]
_PROT_WRITE = backend.CONSTANTS["PROT_WRITE"]

# Translation tables from a page's PROT_* bits to 1 where an access would
# fault, else 0: ``pages.translate(_NO_READ)`` maps every page at C speed.
_NO_READ = bytes(0 if prot & _PROT_READ else 1 for prot in range(256))
_NO_WRITE = bytes(0 if prot & _PROT_WRITE else 1 for prot in range(256))


def _first_hit(mask: bytes, indices: range) -> int:
    """Internal: the lowest index in ``indices`` on a page marked 1 in ``mask``, or -1.

    Works for any slice's indices, steps included: each run of marked pages
    is a byte range ``[lo, hi)``, and ``bisect`` finds the first index at or
    after ``lo`` without walking the indices one by one.
    """
    if indices.step < 0:
        indices = indices[::-1]
    if not indices:
        return -1
    page = indices[0] // PAGESIZE
    last = min(indices[-1] // PAGESIZE + 1, len(mask))
    while True:
        page = mask.find(1, page, last)
        if page < 0:
            return -1
        end = mask.find(0, page, last)
        if end < 0:
            end = last
        k = bisect_left(indices, page * PAGESIZE)
        if k < len(indices) and indices[k] < end * PAGESIZE:
            return indices[k]
        page = end


class PageProtection:
    """The protection of every page of one mapping, after ``mprotect(2)`` changed some.

    ``pages`` holds one byte per page: its ``PROT_*`` bits.  ``base`` is the
    protection the mapping was made with.  An instance never changes;
    :meth:`changed` returns a new one, so a reader that holds the old record
    always sees a consistent one.
    """

    __slots__ = ("_no_read", "_no_write", "base", "pages")

    def __init__(self, base: int, pages: bytes) -> None:
        self.base = base
        self.pages = pages
        self._no_read = pages.translate(_NO_READ)
        self._no_write = pages.translate(_NO_WRITE)

    @classmethod
    def uniform(cls, base: int, count: int) -> PageProtection:
        """Return the record of ``count`` pages that all have protection ``base``."""
        return cls(base, bytes((base,)) * count)

    def changed(self, prot: int, first: int, end: int) -> Optional[PageProtection]:
        """Return the record after pages ``[first, end)`` get ``prot``.

        Returns None when every page is back to ``base``: then there is
        nothing left to check.
        """
        pages = bytearray(self.pages)
        pages[first:end] = bytes((prot,)) * (end - first)
        if pages.count(self.base) == len(pages):
            return None
        return PageProtection(self.base, bytes(pages))

    def takes_away(self, prot: int, first: int, end: int) -> bool:
        """Return True if giving pages ``[first, end)`` ``prot`` removes some access."""
        return any(old & ~prot for old in set(self.pages[first:end]))

    def runs(self) -> Iterator[Tuple[int, int, int]]:
        """Yield ``(first, end, prot)`` for each run of pages whose protection is not ``base``."""
        pages = self.pages
        first = 0
        while first < len(pages):
            prot = pages[first]
            end = first + 1
            while end < len(pages) and pages[end] == prot:
                end += 1
            if prot != self.base:
                yield first, end, prot
            first = end

    def check(self, indices: range, write: bool) -> None:
        """Raise unless every byte offset in ``indices`` may be read (or written).

        ``ValueError`` for a ``PROT_NONE`` page, ``TypeError`` for a store to a
        read-only page.
        """
        if _first_hit(self._no_read, indices) >= 0:
            raise inaccessible()
        if write and _first_hit(self._no_write, indices) >= 0:
            raise readonly()

    def check_span(self, start: int, stop: int, write: bool) -> None:
        """Raise unless every byte of ``[start, stop)`` may be read (or written).

        The common case of :meth:`check` (a slice without a step): one
        search of the page masks, at C speed.
        """
        if stop > start:
            first, end = start // PAGESIZE, (stop - 1) // PAGESIZE + 1
            if self._no_read.find(1, first, end) >= 0:
                raise inaccessible()
            if write and self._no_write.find(1, first, end) >= 0:
                raise readonly()

    def check_index(self, i: int, length: int, write: bool) -> None:
        """Raise unless byte ``i`` (negative counts from ``length``) may be accessed.

        An index out of range passes: the array or view then raises
        ``IndexError`` itself, without touching memory.
        """
        if i < 0:
            i += length
        if 0 <= i < length:
            page = i // PAGESIZE
            if self._no_read[page]:
                raise inaccessible()
            if write and self._no_write[page]:
                raise readonly()

    def readable_prefix(self, start: int, stop: int) -> int:
        """Return the first offset in ``[start, stop)`` that cannot be read, or ``stop``."""
        hit = _first_hit(self._no_read, range(start, stop))
        return stop if hit < 0 else hit

    def readable_suffix(self, start: int, stop: int) -> int:
        """Return the lowest offset from which ``[offset, stop)`` can all be read.

        That is ``start`` when nothing in the range is protected.
        """
        if stop <= start:
            return start
        page = self._no_read.rfind(1, start // PAGESIZE, (stop - 1) // PAGESIZE + 1)
        return start if page < 0 else max(start, (page + 1) * PAGESIZE)

    def forbids(self, write: bool) -> bool:
        """Return True if some page cannot be read, or (``write``) cannot be written."""
        return 1 in self._no_read or (write and 1 in self._no_write)


def _check_slice(pages: PageProtection, item: slice, length: int, write: bool) -> None:
    """Internal: check the bytes a slice of a ``length``-byte mapping touches."""
    start, stop, step = item.indices(length)
    if step == 1:
        pages.check_span(start, stop, write)
    else:
        pages.check(range(start, stop, step), write)


class GuardedArray:
    """Stands in for a region's ``c_char`` array while some pages are protected.

    ``guarded[i]`` and ``guarded[a:b:c]`` give what the array gives (1-byte
    ``bytes``, or ``bytes``) after checking the pages they read.
    """

    __slots__ = ("_pages", "_raw")

    def __init__(self, raw: Any, pages: PageProtection) -> None:
        self._raw = raw
        self._pages = pages

    def __len__(self) -> int:
        return len(self._raw)

    def __getitem__(self, item: Any) -> Any:
        if item.__class__ is slice:
            _check_slice(self._pages, item, len(self._raw), False)
        else:
            self._pages.check_index(item, len(self._raw), False)
        return self._raw[item]


class GuardedView(GuardedArray):
    """Stands in for a region's memoryview while some pages are protected.

    Reads (``view[i]``, as for :class:`GuardedArray`) and stores
    (``view[i] = v``, ``view[a:b] = data``) are checked against the pages
    they touch, then passed on to the memoryview.
    """

    __slots__ = ()

    def __setitem__(self, item: Any, value: Any) -> None:
        if item.__class__ is slice:
            _check_slice(self._pages, item, len(self._raw), True)
        else:
            self._pages.check_index(item, len(self._raw), True)
        self._raw[item] = value
