"""``python -m pymmap pages FILE...``: which pages of a file are in the page cache now.

The kernel keeps recently used file data in RAM, in the *page cache*, one
page at a time.  Reading a cached page costs no disk access, which is why a
program runs faster the second time.  This command shows, for each file, how
much of it is cached and where, in the way ``fincore(1)`` and ``vmtouch(8)``
do::

    $ python -m pymmap pages big.bin
    big.bin: 12/245 pages resident (4.9%)
    [##+.............................#]

How: the file is mapped read-only, and ``mincore(2)``
(:meth:`pymmap.mmap.resident`) reports one byte per page of the mapping.
Mapping a file reads nothing, so looking does not change the answer.  In
the picture each character stands for a group of pages: ``#`` all cached,
``+`` some, ``.`` none.

``--touch`` then reads one byte of every page (:meth:`pymmap.mmap.load`),
which brings the whole file into the cache, and shows the result;
``--dirty`` adds how many cached pages are *dirty* (changed by some
program, not yet written to the disk) and how many are being written
right now, from ``cachestat(2)`` (Linux 6.5+; "unknown" elsewhere, and
where the kernel will not tell this user): run it while another program
writes to a file, and watch its writes wait in the page cache until the
kernel (or an ``fsync``/``msync``) writes them out.  ``--json`` prints the
same facts for programs.  ``--states`` adds what :meth:`pymmap.mmap.pages`
says of each page of the (read-only) map the command made: a strip with a
legend, or in JSON one object per page.

Two limits come from the kernel.  Since Linux 5.2, for a file you neither
own nor may write, ``mincore`` reports only the pages your own process has
mapped, not the whole page cache (a note on stderr says so).  And, as for any
map, a file that another process truncates while ``--touch`` reads it can
end the process with SIGBUS.
"""

import errno
import json
import os
import shutil
import stat
import sys
from typing import IO, Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from ._platform import backend
from .facade import ACCESS_READ, mmap
from .page_states import PageStates

__all__ = ["Residency", "Writeback", "dirty_pages", "measure", "picture", "run", "summary"]


class Residency(NamedTuple):
    """How much of one file is in the page cache."""

    #: The path as given on the command line.
    path: str
    #: The file's size in bytes.
    size: int
    #: One byte per page: 1 if the page is in the page cache, else 0.
    pages: bytes

    @property
    def resident(self) -> int:
        """The number of resident pages."""
        return self.pages.count(1)


def measure(m: mmap, path: str) -> Residency:
    """Return the residency of the file mapped by ``m`` (``mincore(2)``)."""
    return Residency(path, len(m), m.resident())


def summary(residency: Residency) -> str:
    """Return the summary line, e.g. ``big.bin: 12/245 pages resident (4.9%)``."""
    total = len(residency.pages)
    percent = 100.0 * residency.resident / total
    return f"{residency.path}: {residency.resident}/{total} pages resident ({percent:.1f}%)"


def picture(pages: bytes, width: int) -> str:
    """Return ``[#+..]``: one character per group of pages, ``width`` characters in all.

    A file with fewer pages than that gets one character per page.  ``#``
    means every page of the group is resident, ``+`` some, ``.`` none.
    """
    total = len(pages)
    count = min(total, max(width - 2, 1))
    chars = []
    for j in range(count):
        first, end = j * total // count, (j + 1) * total // count
        resident = pages.count(1, first, end)
        chars.append("#" if resident == end - first else "+" if resident else ".")
    return "[" + "".join(chars) + "]"


def _ranges(pages: bytes) -> List[Tuple[int, int]]:
    """Internal: the runs of resident pages, as ``(first, end)`` page numbers."""
    ranges = []
    first = pages.find(1)
    while first >= 0:
        end = pages.find(0, first)
        if end < 0:
            end = len(pages)
        ranges.append((first, end))
        first = pages.find(1, end)
    return ranges


def _facts(residency: Residency) -> Dict[str, Any]:
    """Internal: the residency as plain data, for ``--json``."""
    total = len(residency.pages)
    return {
        "resident": residency.resident,
        "percent": round(100.0 * residency.resident / total, 1),
        "resident_ranges": [list(r) for r in _ranges(residency.pages)],
    }


class _Refused(Exception):
    """Internal: a file that cannot be looked at; the message is the reason."""


def _open(path: str) -> Tuple[int, os.stat_result]:
    """Internal: open ``path`` read-only; return the descriptor and its status.

    Raises :class:`_Refused` with a one-line reason for anything that cannot
    be mapped: a missing file, no permission, a directory, a device, an
    empty file.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise _Refused(exc.strerror) from None
    st = os.fstat(fd)
    reason = None
    if stat.S_ISDIR(st.st_mode):
        reason = os.strerror(errno.EISDIR)
    elif not stat.S_ISREG(st.st_mode):
        reason = "not a regular file"
    elif st.st_size == 0:
        reason = "empty file (no pages to map)"
    if reason is not None:
        os.close(fd)
        raise _Refused(reason)
    return fd, st


#: Windows reports residency for this process's working set only (QueryWorkingSetEx).
_WORKING_SET_ONLY = getattr(backend, "RESIDENT_IS_WORKING_SET", False)


def _sees_page_cache(path: str, st: os.stat_result) -> bool:
    """Internal: True if ``mincore`` reports the page cache for this file, not just our mappings."""
    if _WORKING_SET_ONLY:
        return False
    return st.st_uid == os.geteuid() or os.access(path, os.W_OK)


class Writeback(NamedTuple):
    """What ``cachestat(2)`` says of a whole file: pages changed and not yet on disk, and being written."""

    dirty: int
    writeback: int


def dirty_pages(fd: int) -> Optional[Writeback]:
    """Return the file's dirty and writeback page counts (``cachestat``), or None if unknown."""
    cachestat = getattr(backend, "cachestat", None)
    if cachestat is None:
        return None
    try:
        counts = cachestat(fd, 0, 0)  # (length 0: to the end of the file)
    except OSError:
        return None  # (ENOSYS before Linux 6.5; EPERM where the kernel will not tell this user)
    return Writeback(int(counts.nr_dirty), int(counts.nr_writeback))


class _Examined(NamedTuple):
    """Internal: what was found out about one file."""

    before: Optional[Residency]  # before --touch
    now: Residency
    exact: bool  # mincore sees the page cache, not just our own mappings
    writeback: Optional[Writeback]  # --dirty (None: unknown, or not asked)
    states: Optional[PageStates]  # --states


def _examine(path: str, touch: bool, dirty: bool = False, states: bool = False) -> _Examined:
    """Internal: map ``path`` read-only, and look."""
    fd, st = _open(path)
    try:
        writeback = dirty_pages(fd) if dirty else None
        with mmap(fd, 0, access=ACCESS_READ) as m:
            before = None
            if touch:
                before = measure(m, path)
                m.load()
            return _Examined(before, measure(m, path), _sees_page_cache(path, st), writeback,
                             m.pages() if states else None)
    except OSError as exc:
        raise _Refused(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)


def run(paths: Sequence[str], touch: bool = False, as_json: bool = False,
        out: Optional[IO[str]] = None, err: Optional[IO[str]] = None,
        width: Optional[int] = None, dirty: bool = False, states: bool = False) -> int:
    """Report the page-cache residency of each file; return the exit status.

    Text goes to ``out`` (default: standard output), one error line per
    file that cannot be examined to ``err`` (standard error).  ``width`` is
    the width of the picture (default: the terminal's).  The status is 0 if
    every file could be examined, else 1.
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    if width is None:
        width = shutil.get_terminal_size().columns
    status = 0
    files: List[Dict[str, Any]] = []
    for path in paths:
        try:
            before, now, exact, writeback, page_states = _examine(path, touch, dirty, states)
        except _Refused as exc:
            print(f"pymmap pages: {path}: {exc}", file=err)
            files.append({"file": path, "error": str(exc)})
            status = 1
            continue
        if as_json:
            facts: Dict[str, Any] = {"file": path, "size": now.size, "pages": len(now.pages)}
            facts.update(_facts(now))
            if before is not None:
                facts["before_touch"] = _facts(before)
            facts["page_cache_visible"] = exact
            if dirty:
                facts["dirty"] = None if writeback is None else writeback.dirty
                facts["writeback"] = None if writeback is None else writeback.writeback
            if page_states is not None:
                facts["states"] = page_states.as_json()
            files.append(facts)
            continue
        if not exact:
            why = ("the system reports residency for this process's working set" if _WORKING_SET_ONLY
                   else "you neither own nor may write this file, so the kernel reports")
            print(f"pymmap pages: note: {path}: {why} only the pages this process has mapped",
                  file=err)
        if before is not None:
            print(summary(before), file=out)
            print(picture(before.pages, width), file=out)
            print(f"--touch read {len(now.pages)} pages: "
                  f"{now.resident - before.resident} more now resident", file=out)
        print(summary(now), file=out)
        print(picture(now.pages, width), file=out)
        if dirty:
            if writeback is None:
                print(f"{path}: dirty: unknown, writeback: unknown (cachestat(2) needs Linux 6.5+, "
                      "and a kernel may refuse it for a file you may not write)", file=out)
            else:
                print(f"{path}: dirty: {writeback.dirty} pages, writeback: {writeback.writeback} pages "
                      "(changed in the page cache, not yet on disk / being written now)", file=out)
        if page_states is not None:
            print(f"{path}: {page_states}", file=out)
    if as_json:
        json.dump({"page_size": backend.PAGESIZE, "files": files}, out)
        out.write("\n")
    return status
