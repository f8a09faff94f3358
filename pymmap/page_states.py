"""What each page of a map is doing: in memory, mapped, a private copy, dirty, swapped.

``m.pages()`` answers, one :class:`PageState` per page, with what the
kernel tells an ordinary user about the pages of its own map:

- **resident** (``mincore(2)``): the page is in RAM, in the page cache for
  a file.  Nothing to read from disk.
- **mapped** (``/proc/self/pagemap``, bit 63): this process's page table
  points at the page, so touching it costs no page fault.  Mapping a file
  maps nothing; the first touch of each page does (and on a read, Linux
  maps up to 16 cached neighbours at once: *fault-around*).
- **private** (pagemap bit 61 clear, on a page that is mapped or swapped):
  the page is this process's own anonymous memory, not the file's page nor
  shared memory.  For a ``MAP_PRIVATE``/``ACCESS_COPY`` map of a file, the
  first store to a page copies it (*copy-on-write*): from then on the map
  sees its copy, and never again the file.
- **dirty** (``cachestat(2)``, Linux 6.5+, one page at a time): the file's
  page holds changes that have not reached the disk yet.  ``flush()``
  (``msync``) writes them and the page is clean again; so does the kernel,
  by itself, within about 30 seconds.
- **swapped** (pagemap bit 62): the page was written out to swap.

A state the kernel will not tell this user here is ``None``, never a
guess: ``dirty`` for anonymous memory (there is no file to write back to),
on kernels before 6.5, or with ``trackfd=False`` (no descriptor to ask);
``resident`` where Linux answers ``mincore`` for a file this user may
neither write nor owns (it then says 1 for every page, whatever the truth).
On Windows, ``QueryWorkingSetEx`` tells ``mapped`` (in the working set)
and, for those pages, ``private`` (not shareable); ``resident`` is True
for them and None otherwise (a page out of the working set may still sit
in the system's cache), and ``dirty`` and ``swapped`` are None.  Under
Wine 8 (what CI runs) the same holds: an untouched page is not in the
working set, a touched one is, shared (a page of the section: anonymous
memory too lives in a pagefile-backed section), and the first store to an
``ACCESS_COPY`` page makes it private.

``str()`` of the result is a one-line strip, one character per page
(grouped when there are many), with a legend; in a notebook it draws a
coloured grid (``_repr_html_``); :meth:`PageStates.as_json` gives the data.
"""

import os
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from ._platform import backend

__all__ = ["LEGEND", "PageState", "PageStates", "read_states"]

_PRESENT = 1 << 63
_SWAPPED = 1 << 62
_FILE_OR_SHARED = 1 << 61
_WS_VALID = 1
_WS_SHARED = 1 << 15


class PageState(NamedTuple):
    """The state of one page of a map (see :mod:`pymmap.page_states`)."""

    offset: int
    resident: Optional[bool]
    mapped: Optional[bool]
    private: Optional[bool]
    dirty: Optional[bool]
    swapped: Optional[bool]

    @property
    def symbol(self) -> str:
        """The page's character in the strip (see :data:`LEGEND`): its most telling state."""
        if self.swapped:
            return "S"
        if self.private:
            return "P"
        if self.dirty:
            return "D"
        if self.mapped:
            return "M"
        if self.resident:
            return "r"
        if self.resident is None:
            return "?"  # (not mapped here, and whether it is in memory, no one says)
        return "."


PageState.offset.__doc__ = "The page's first byte, counted from the start of the map."
PageState.resident.__doc__ = "In RAM (for a file: in the page cache), so reading it needs no disk."
PageState.mapped.__doc__ = "In this process's page table: touching it causes no page fault."
PageState.private.__doc__ = "This process's own copy (copy-on-write, or private memory), not the file's page."
PageState.dirty.__doc__ = "Changed, and not yet written back to the file: flush() would write it."
PageState.swapped.__doc__ = "Written out to swap space, to be read back when touched."

#: The strip's characters, strongest first: a group of pages shows the
#: strongest state among them.
LEGEND: Dict[str, str] = {
    "S": "swapped out",
    "P": "private copy",
    "D": "dirty",
    "M": "mapped",
    "r": "in memory, not mapped",
    ".": "not in memory",
    "?": "unknown",
}
_RANK = {symbol: rank for rank, symbol in enumerate(LEGEND)}
_COLOURS = {"S": "#7b4fa0", "P": "#e08a1e", "D": "#d0312d", "M": "#2a7ab8", "r": "#9cc7e8",
            ".": "#eeeeee", "?": "#bbbbbb"}

#: At most this many characters in a strip; more pages share a character.
STRIP_WIDTH = 64


class PageStates(Tuple[PageState, ...]):
    """The states of consecutive pages of a map: a tuple of :class:`PageState` that draws itself."""

    __slots__ = ()

    def count_of(self, name: str) -> Optional[int]:
        """How many pages have state ``name`` (``"dirty"``, ...) True; None if any is unknown."""
        values = [getattr(state, name) for state in self]
        if any(value is None for value in values):
            return None
        return sum(1 for value in values if value)

    def groups(self, width: int = STRIP_WIDTH) -> Tuple[int, List[str]]:
        """Return ``(pages per character, characters)`` for a strip at most ``width`` wide."""
        per = max(1, -(-len(self) // width))
        symbols = [state.symbol for state in self]
        cells = [min(symbols[i:i + per], key=_RANK.__getitem__) for i in range(0, len(symbols), per)]
        return per, cells

    def __str__(self) -> str:
        per, cells = self.groups()
        shown = [symbol for symbol in LEGEND if symbol in cells]
        legend = ", ".join(f"{symbol} {LEGEND[symbol]}" for symbol in shown)
        scale = f"{len(self)} page{'' if len(self) == 1 else 's'}"
        if per > 1:
            scale += f", {per} per character"
        return f"[{''.join(cells)}] ({scale}: {legend})"

    def __repr__(self) -> str:
        return f"<PageStates {self}>"

    def as_json(self) -> List[Dict[str, Any]]:
        """The states as a list of plain dicts (``json.dumps`` takes it): one per page."""
        return [state._asdict() for state in self]

    def _repr_html_(self) -> str:
        """A coloured grid, one cell per page (with the legend): what a notebook shows."""
        import html

        cells = []
        for state in self:
            facts = ", ".join(f"{name}={getattr(state, name)}" for name in PageState._fields[1:])
            cells.append(f'<span title="page at byte {state.offset}: {html.escape(facts)}" '
                         f'style="display:inline-block;width:10px;height:10px;margin:1px;'
                         f'background:{_COLOURS[state.symbol]}"></span>')
        legend = "".join(
            f'<span style="margin-right:1em"><span style="display:inline-block;width:10px;height:10px;'
            f'background:{_COLOURS[symbol]}"></span> {html.escape(symbol)} {html.escape(text)}</span>'
            for symbol, text in LEGEND.items())
        return (f'<div class="pymmap-pages"><div style="line-height:0;max-width:{12 * 64}px">'
                f'{"".join(cells)}</div><div style="font-size:smaller">{legend}</div></div>')


def _can_trust_mincore(fd: int) -> bool:
    """Internal: True unless Linux would answer ``mincore`` with all ones for this file.

    Since Linux 5.2, ``mincore`` reports the page cache only for anonymous
    memory and for files the caller owns or may write (or as root); for any
    other file it fills the whole vector with 1, to hide what other users
    read.
    """
    if fd < 0 or os.name != "posix":
        return True
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    euid = os.geteuid()
    if euid == 0 or st.st_uid == euid:
        return True
    try:
        return os.access(f"/proc/self/fd/{fd}", os.W_OK, effective_ids=os.access in os.supports_effective_ids)
    except OSError:
        return False


def _dirty_pages(fd: int, file_offset: int, count: int, page: int) -> Optional[List[bool]]:
    """Internal: for ``count`` pages of ``fd`` from ``file_offset``, which are dirty; None if unknown.

    One ``cachestat`` for the whole range, then halves of the ranges that
    hold dirty pages, down to single pages: a clean map costs one call.
    """
    cachestat = getattr(backend, "cachestat", None)
    if cachestat is None or fd < 0:
        return None
    dirty = [False] * count

    def walk(first: int, n: int) -> None:
        if cachestat(fd, file_offset + first * page, n * page).nr_dirty == 0:
            return
        if n == 1:
            dirty[first] = True
            return
        half = n // 2
        walk(first, half)
        walk(first + half, n - half)

    try:
        walk(0, count)
    except OSError:
        return None  # (ENOSYS before Linux 6.5; EPERM where the kernel will not tell this user)
    return dirty


def read_states(address: int, first: int, count: int, fd: int, file_offset: int,
                anonymous: bool) -> PageStates:
    """Return the states of ``count`` pages of a mapping at ``address``, from its page ``first``.

    ``fd`` is a descriptor of the mapped file (-1: none to ask) and
    ``file_offset`` where the mapping starts in it; ``anonymous`` says the
    mapping has no file (then nothing is ever dirty in the file sense:
    ``dirty`` is None).  The caller keeps the mapping alive meanwhile.
    """
    page = backend.PAGESIZE
    start = address + first * page
    length = count * page
    offsets = [(first + i) * page for i in range(count)]
    working_set = getattr(backend, "working_set", None)
    if working_set is not None:  # Windows
        states = []
        for offset, attributes in zip(offsets, working_set(start, length)):
            valid = bool(attributes & _WS_VALID)
            states.append(PageState(offset, True if valid else None, valid,
                                    (not attributes & _WS_SHARED) if valid else None, None, None))
        return PageStates(states)
    resident: List[Optional[bool]] = [bool(b) for b in backend.resident(start, length)]
    if not anonymous and not _can_trust_mincore(fd):
        resident = [None] * count
    try:
        flags: Optional[Tuple[int, ...]] = backend.page_flags(start, length)
    except (AttributeError, OSError):
        flags = None
    dirty = None if anonymous else _dirty_pages(fd, file_offset + first * page, count, page)
    states = []
    for i, offset in enumerate(offsets):
        if flags is None:
            mapped = private = swapped = None
        else:
            word = flags[i]
            mapped = bool(word & _PRESENT)
            swapped = bool(word & _SWAPPED)
            private = bool(word & (_PRESENT | _SWAPPED)) and not word & _FILE_OR_SHARED
        states.append(PageState(offset, resident[i], mapped, private, None if dirty is None else dirty[i],
                                swapped))
    return PageStates(states)
