"""``python -m pymmap pages FILE...``: which pages of a file are in the page cache now.

The kernel keeps recently used file data in RAM, in the *page cache*, one
page at a time.  Reading a cached page costs no disk access, which is why a
program runs faster the second time.  This command shows, for each file, how
much of it is cached and where, in the way ``fincore(1)`` and ``vmtouch(8)``
do::

    $ python -m pymmap pages big.bin
    big.bin: 12/245 pages resident (4.9%), 48.0 KiB of 976.6 KiB
    [##+.............................#]

How: the file is mapped read-only, and ``mincore(2)``
(:meth:`pymmap.mmap.resident`) reports one byte per page of the mapping.
Mapping a file reads nothing, so looking does not change the answer.  In
the picture each character stands for a group of pages: ``#`` all cached,
``+`` some, ``.`` none.

**What the kernel will not tell.**  Since Linux 5.2, ``mincore`` answers
truthfully only for a file the caller owns or may write (or for root): for
any other file it says 1 for every page, to hide what other users read.
Then ``pages`` asks ``cachestat(2)`` instead (Linux 6.5+), which gives the
number of cached pages but not which; and where the kernel refuses that too
(it may, on the same grounds), the count is "unknown" and the picture all
``?``.  ``pages`` never prints a number the kernel did not give.

``--touch`` then reads every page (:meth:`pymmap.mmap.load`), which brings
the whole file into the cache, and shows the result (with progress on a
terminal); the map it reads through is a checked one where the system
allows (:mod:`pymmap.checked`), so a file that another program truncates
meanwhile is an error, not a crash.  ``--dirty`` adds how many cached pages
are *dirty* (changed by some program, not yet written to the disk) and how
many are being written right now, from ``cachestat(2)``: run it while
another program writes to a file, and watch its writes wait in the page
cache until the kernel (or an ``fsync``/``msync``) writes them out.
``--states`` adds what :meth:`pymmap.mmap.pages` says of each page of the
command's own map.  ``--json`` prints the same facts for programs.

An empty file has 0 pages (as with ``fincore``).  A directory, a FIFO, a
device or a socket is refused at once with a one-line message (a FIFO is
opened without waiting for a writer).  Exit status: 0 if every file could
be examined, 1 if some could not, 2 for a usage error, 130 when
interrupted.
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

__all__ = ["Residency", "Writeback", "dirty_pages", "human", "measure", "picture", "run", "summary"]


class Residency(NamedTuple):
    """How much of one file is in the page cache (what the kernel would tell)."""

    #: The path as given on the command line.
    path: str
    #: The file's size in bytes.
    size: int
    #: One byte per page, 1 if the page is in the page cache, else 0; None
    #: where the kernel will not say which pages (see the module docstring).
    pages: Optional[bytes]
    #: How many pages are cached, where only the count is known (``cachestat``);
    #: None when the pages are known (then it is their count) or nothing is.
    cached: Optional[int] = None

    @property
    def total(self) -> int:
        """The number of pages of the file."""
        return -(-self.size // backend.PAGESIZE)

    @property
    def resident(self) -> Optional[int]:
        """The number of resident pages, or None if the kernel will not tell."""
        if self.pages is not None:
            return self.pages.count(1)
        return self.cached


def human(size: float) -> str:
    """Return ``size`` bytes in binary units: ``976.6 KiB``, ``0 B``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover - (the loop returns)


def _cachestat(fd: int) -> Any:
    """Internal: ``cachestat(2)`` of the whole file, or None if the kernel will not say.

    (ENOSYS before Linux 6.5; EPERM where the kernel will not tell this user.)
    """
    cachestat = getattr(backend, "cachestat", None)
    if cachestat is None:
        return None
    try:
        return cachestat(fd, 0, 0)  # (length 0: to the end of the file)
    except OSError:
        return None


def _cached_count(fd: int) -> Optional[int]:
    """Internal: how many pages of ``fd`` are cached, by ``cachestat``; None if the kernel will not say."""
    counts = _cachestat(fd)
    return None if counts is None else int(counts.nr_cache)


def measure(m: mmap, path: str, fd: int = -1, trusted: bool = True) -> Residency:
    """Return the residency of the file mapped by ``m`` (``mincore(2)``, or ``cachestat(2)``).

    ``trusted`` False: ``mincore`` would answer 1 for every page (a file
    this user neither owns nor may write), so only ``cachestat``'s count of
    ``fd`` is given, or nothing.
    """
    if trusted:
        return Residency(path, len(m), m.resident())
    return Residency(path, len(m), None, _cached_count(fd))


def summary(residency: Residency) -> str:
    """Return the summary line, e.g. ``big.bin: 12/245 pages resident (4.9%), 48.0 KiB of 976.6 KiB``."""
    total = residency.total
    resident = residency.resident
    size = human(residency.size)
    if total == 0:
        return f"{residency.path}: 0/0 pages resident (empty file)"
    if resident is None:
        return f"{residency.path}: unknown/{total} pages resident (the kernel will not tell), {size}"
    cached = human(min(residency.size, resident * backend.PAGESIZE))
    return (f"{residency.path}: {resident}/{total} pages resident ({100.0 * resident / total:.1f}%), "
            f"{cached} of {size}")


def picture(pages: Optional[bytes], width: int, total: int = 0) -> str:
    """Return ``[#+..]``: one character per group of pages, ``width`` characters in all.

    A file with fewer pages than that gets one character per page.  ``#``
    means every page of the group is resident, ``+`` some, ``.`` none;
    ``?`` that the kernel will not say (``pages`` None: ``total`` pages).
    """
    if pages is None:
        return "[" + "?" * min(total, max(width - 2, 1)) + "]"
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
    """Internal: the residency as plain data, for ``--json`` (None where the kernel will not tell)."""
    total = residency.total
    resident = residency.resident
    return {
        "resident": resident,
        "percent": None if resident is None else round(100.0 * resident / total, 1) if total else 0.0,
        "resident_ranges": None if residency.pages is None else [list(r) for r in _ranges(residency.pages)],
    }


class _Refused(Exception):
    """Internal: a file that cannot be looked at; the message is the reason."""


def _kind(mode: int) -> Optional[str]:
    """Internal: what a file that is not a regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, name in ((stat.S_ISDIR, None), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name or os.strerror(errno.EISDIR)
    return "not a regular file"  # pragma: no cover - (every kind is named above)


def _open(path: str) -> Tuple[int, os.stat_result]:
    """Internal: open ``path`` read-only; return the descriptor and its status.

    Raises :class:`_Refused` with a one-line reason for anything that cannot
    be looked at: a missing file, no permission, a directory, a FIFO, a
    device, a socket.  ``O_NONBLOCK``: opening a FIFO for reading must not
    wait for a writer.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise _Refused(exc.strerror) from None
    st = os.fstat(fd)
    kind = _kind(st.st_mode)
    if kind is not None:
        os.close(fd)
        if kind == os.strerror(errno.EISDIR):
            raise _Refused(kind)
        raise _Refused(f"not a regular file ({kind}): pages looks at regular files only")
    return fd, st


#: Windows reports residency for this process's working set only (QueryWorkingSetEx).
_WORKING_SET_ONLY = getattr(backend, "RESIDENT_IS_WORKING_SET", False)


def _sees_page_cache(path: str, st: os.stat_result) -> bool:
    """Internal: True if ``mincore`` reports the page cache for this file (see the module docstring)."""
    if _WORKING_SET_ONLY:
        return False
    euid = os.geteuid() if hasattr(os, "geteuid") else 0
    return euid == 0 or st.st_uid == euid or os.access(path, os.W_OK)


class Writeback(NamedTuple):
    """What ``cachestat(2)`` says of a whole file: pages changed and not yet on disk, and being written."""

    dirty: int
    writeback: int


def dirty_pages(fd: int) -> Optional[Writeback]:
    """Return the file's dirty and writeback page counts (``cachestat``), or None if unknown."""
    counts = _cachestat(fd)
    return None if counts is None else Writeback(int(counts.nr_dirty), int(counts.nr_writeback))


class _Examined(NamedTuple):
    """Internal: what was found out about one file."""

    before: Optional[Residency]  # before --touch
    now: Residency
    exact: bool  # mincore sees the page cache, not just our own mappings
    writeback: Optional[Writeback]  # --dirty (None: unknown, or not asked)
    states: Optional[PageStates]  # --states


#: --touch reads this much at a time, and reports progress between.
_TOUCH_STEP = 64 << 20


def _touch(m: mmap, path: str, progress: Optional[IO[str]]) -> None:
    """Internal: read every page of ``m``, a step at a time, saying how far on ``progress``."""
    size = len(m)
    for start in range(0, size, _TOUCH_STEP):
        m.load(start, _TOUCH_STEP)
        if progress is not None:
            done = min(size, start + _TOUCH_STEP)
            progress.write(f"\r{path}: touching, {human(done)} of {human(size)} ({100 * done // size}%)")
            progress.flush()
    if progress is not None:
        progress.write("\r\x1b[K")  # (the line cleared again)
        progress.flush()


def _map(fd: int) -> mmap:
    """Internal: the read-only map the command reads through: a checked one where the system allows."""
    try:
        backend.kernel_copies()
    except OSError:
        return mmap(fd, 0, access=ACCESS_READ)
    return mmap(fd, 0, access=ACCESS_READ, checked=True)


def _examine(path: str, touch: bool, dirty: bool = False, states: bool = False,
             progress: Optional[IO[str]] = None) -> _Examined:
    """Internal: map ``path`` read-only, and look."""
    fd, st = _open(path)
    try:
        exact = _sees_page_cache(path, st)
        writeback = dirty_pages(fd) if dirty else None
        if st.st_size == 0:  # (no page to map: 0 pages, as fincore says)
            empty = Residency(path, 0, b"")
            return _Examined(empty if touch else None, empty, exact, writeback,
                             PageStates(()) if states else None)
        with _map(fd) as m:
            before = None
            if touch:
                before = measure(m, path, fd, exact or _WORKING_SET_ONLY)
                _touch(m, path, progress)
            return _Examined(before, measure(m, path, fd, exact or _WORKING_SET_ONLY), exact, writeback,
                             m.pages() if states else None)
    except OSError as exc:
        raise _Refused(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)


def _total(examined: List[Residency]) -> str:
    """Internal: the total line for several files."""
    pages = sum(r.total for r in examined)
    size = sum(r.size for r in examined)
    counts = [r.resident for r in examined]
    if any(count is None for count in counts):
        return f"total: unknown/{pages} pages resident, {human(size)} in {len(examined)} files"
    resident = sum(c for c in counts if c is not None)
    percent = f"{100.0 * resident / pages:.1f}%" if pages else "empty"
    cached = sum(min(r.size, (r.resident or 0) * backend.PAGESIZE) for r in examined)
    return (f"total: {resident}/{pages} pages resident ({percent}), {human(cached)} of {human(size)} "
            f"in {len(examined)} files")


def run(paths: Sequence[str], touch: bool = False, as_json: bool = False,
        out: Optional[IO[str]] = None, err: Optional[IO[str]] = None,
        width: Optional[int] = None, dirty: bool = False, states: bool = False) -> int:
    """Report the page-cache residency of each file; return the exit status.

    Text goes to ``out`` (default: standard output), one error line per
    file that cannot be examined to ``err`` (standard error), and with
    ``touch``, progress to ``err`` if it is a terminal.  ``width`` is the
    width of the picture (default: the terminal's).  The status is 0 if
    every file could be examined, else 1.
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    if width is None:
        width = shutil.get_terminal_size().columns
    progress = err if touch and not as_json and getattr(err, "isatty", lambda: False)() else None
    status = 0
    files: List[Dict[str, Any]] = []
    examined: List[Residency] = []
    for path in paths:
        try:
            before, now, exact, writeback, page_states = _examine(path, touch, dirty, states, progress)
        except _Refused as exc:
            print(f"pymmap pages: {path}: {exc}", file=err)
            files.append({"file": path, "error": str(exc)})
            status = 1
            continue
        examined.append(now)
        if as_json:
            facts: Dict[str, Any] = {"file": path, "size": now.size, "pages": now.total}
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
        if not exact and now.total:
            if _WORKING_SET_ONLY:
                why = "the system reports residency for this process's working set only"
            elif now.resident is None:
                why = ("you neither own nor may write this file, and the kernel will not say which of "
                       "its pages are cached (mincore would say all of them; cachestat refused)")
            else:
                why = ("you neither own nor may write this file: the kernel gives the number of cached "
                       "pages (cachestat), not which ones")
            print(f"pymmap pages: note: {path}: {why}", file=err)
        if before is not None:
            print(summary(before), file=out)
            print(picture(before.pages, width, before.total), file=out)
            if now.resident is not None and before.resident is not None:
                gained = f"{now.resident - before.resident} more now resident"
            else:
                gained = "how many more: unknown"
            print(f"--touch read {now.total} pages: {gained}", file=out)
        print(summary(now), file=out)
        print(picture(now.pages, width, now.total), file=out)
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
    elif len(examined) > 1:
        print(_total(examined), file=out)
    return status
