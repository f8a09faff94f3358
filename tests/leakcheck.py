"""Leak checks: what a piece of test code leaves behind in this process.

A map owns two kinds of resources that outlive any Python object if they
leak: a *file descriptor* (the duplicate the map keeps of its file) and a
*mapping* (a range of addresses, listed in ``/proc/self/maps``).  The
safety tests run their code inside :func:`no_leaks`, which compares, before
and after, with the garbage collector run first each time:

* the open descriptors (``/proc/self/fd``), exactly;
* the mappings: the number of lines of ``/proc/self/maps``, the lines that
  name one of the test's files (exactly: none may stay), and the total
  mapped size (``VmSize``, which catches leaked anonymous mappings even
  when the kernel merges neighbours into one line);
* a ledger of pymmap's own system calls, kept with ``pymmap.trace``: every
  address range ``mmap(2)`` handed out must be back with ``munmap(2)``, and
  every descriptor ``dup(2)`` made must be closed.

PyPy frees objects only when its collector runs, and its heap grows in
steps, so there the collector runs several times and the two whole-process
counts get a small allowance (the ledger and the descriptors stay exact).

Linux only (``/proc``).
"""

import collections
import contextlib
import gc
import os
import sys
from typing import Any, Callable, Deque, Dict, Iterator, List, NamedTuple, Sequence, Tuple

from emulation import EMULATOR

import pymmap

PYPY = sys.implementation.name == "pypy"

#: How many mapping lines (and KiB of address space) a run may add on PyPy,
#: whose garbage-collected heap grows by whole arenas.  CPython's allocator
#: grows by arenas too (256 KiB before 3.10, 1 MiB since), mapped with its
#: own mmap(2) calls, so a few arenas of address space are allowed there,
#: and a new line that is one arena is not counted (:func:`compare`);
#: pymmap's own mappings are still checked exactly, by the ledger.
SLACK_LINES = 16 if PYPY else 0
SLACK_KIB = 64 * 1024 if PYPY else 4 * 1024


#: The size of one arena of CPython's small-object allocator.
_ARENA = (1 << 20) if sys.version_info >= (3, 10) else (256 << 10)


def _is_allocator_arena(line: str) -> bool:
    """True for a /proc/self/maps line that is an arena of CPython's allocator (see SLACK_LINES)."""
    fields = line.split()
    if PYPY or len(fields) != 5 or fields[1] != "rw-p" or fields[4] != "0":
        return False  # (a line with a path, a file's, or not read-write private)
    start, _, end = fields[0].partition("-")
    return int(end, 16) - int(start, 16) == _ARENA


def collect() -> None:
    """Run the garbage collector until finalizers have run (PyPy needs several passes)."""
    for _ in range(4 if PYPY else 1):
        gc.collect()


def open_fds() -> Dict[str, str]:
    """Return ``{fd: what it refers to}`` for this process's open descriptors.

    The descriptor ``os.listdir`` itself opens is listed too, but the same
    way every time, so two snapshots still compare equal.
    """
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[name] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the listing's own descriptor, already closed
            pass
    return fds


def mapping_lines() -> List[str]:
    """Return the lines of ``/proc/self/maps``: one per mapping (VMA)."""
    with open("/proc/self/maps") as f:
        return f.read().splitlines()


def mapped_kib() -> int:
    """Return the process's total mapped address space in KiB (``VmSize``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1])
    raise AssertionError("no VmSize in /proc/self/status")  # pragma: no cover


class Snapshot(NamedTuple):
    """The process's descriptors and mappings at one moment."""

    fds: Dict[str, str]
    maps: List[str]
    kib: int


def snapshot() -> Snapshot:
    """Collect garbage, then record descriptors and mappings."""
    collect()
    return Snapshot(open_fds(), mapping_lines(), mapped_kib())


class Ledger:
    """pymmap's mappings and descriptors, kept from its traced system calls.

    :meth:`record` is a ``pymmap.trace`` callback.  :attr:`live` holds the
    address ranges ``mmap``/``mremap`` handed out and ``munmap`` did not give
    back (lengths rounded up to whole pages, as the kernel rounds them), and
    :attr:`fds` the descriptors ``dup`` made and ``close`` did not close.

    The callback can be re-entered: on PyPy the collector may run a
    finalizer, and its ``munmap``, while the callback for another call is
    still at work.  So each call is queued first, and only the outermost
    callback works through the queue, in order.  Nothing is kept per call
    but the last few trace lines (for the failure message), so that the
    ledger itself does not make the process grow.
    """

    def __init__(self) -> None:
        self.live: List[Tuple[int, int]] = []
        self.fds: Dict[int, str] = {}
        self.calls: Dict[str, int] = {}
        self.recent: Deque[str] = collections.deque(maxlen=50)
        self._queue: Deque[Any] = collections.deque()
        self._busy = False

    def record(self, call: Any) -> None:
        """Take one ``pymmap.trace`` record (a ``Syscall``) into account."""
        self._queue.append(call)
        if self._busy:
            return  # re-entered: the outer call will get to it
        self._busy = True
        try:
            while self._queue:
                self._apply(self._queue.popleft())
        finally:
            self._busy = False

    def _remove(self, start: int, end: int) -> None:
        """Internal: cut ``[start, end)`` out of the live ranges."""
        kept = []
        for lo, hi in self.live:
            if hi <= start or end <= lo:
                kept.append((lo, hi))
                continue
            if lo < start:
                kept.append((lo, start))
            if end < hi:
                kept.append((end, hi))
        self.live = kept

    def _apply(self, call: Any) -> None:
        """Internal: update the ledger for one successful call."""
        name, args, result, err = call.name, call.args, call.result, call.err
        if err:
            return
        if name == "fcntl":
            name = "dup"  # (pymmap duplicates a descriptor with fcntl(F_DUPFD_CLOEXEC): a dup)
        self.calls[name] = self.calls.get(name, 0) + 1
        page = pymmap.PAGESIZE
        if name == "mmap":
            address, length = int(result), -(-int(args[1]) // page) * page
            self._remove(address, address + length)  # MAP_FIXED replaces what was there
            self.live.append((address, address + length))
        elif name == "munmap":
            address, length = int(args[0]), -(-int(args[1]) // page) * page
            self._remove(address, address + length)
        elif name == "mremap":
            old, old_length = int(args[0]), -(-int(args[1]) // page) * page
            self._remove(old, old + old_length)
            new_length = -(-int(args[2]) // page) * page
            self.live.append((int(result), int(result) + new_length))
        elif name == "dup":
            self.fds[int(result)] = str(call)
        elif name == "close":
            self.fds.pop(int(args[0]), None)
        if name in ("mmap", "munmap", "mremap"):
            self.recent.append(str(call))

    def assert_balanced(self) -> None:
        """Fail if a traced mapping or descriptor is still alive."""
        assert not self.live, (
            f"{len(self.live)} mapping(s) made by pymmap were never unmapped: "
            + ", ".join(f"0x{lo:x}-0x{hi:x}" for lo, hi in self.live[:5])
            + "\nthe last mapping calls:\n" + "\n".join(self.recent)
        )
        assert not self.fds, f"descriptors made by pymmap were never closed: {self.fds}"


def _naming(lines: Sequence[str], paths: Sequence[str]) -> List[str]:
    return [line for line in lines if any(path in line for path in paths)]


def compare(before: Snapshot, after: Snapshot, watch: Sequence[str] = (),
            what: str = "the block", process_wide: bool = True) -> None:
    """Assert that ``after`` holds nothing that ``before`` did not.

    ``process_wide=False`` skips the two whole-process counts (lines of
    /proc/self/maps, VmSize): with threads, glibc keeps per-thread malloc
    arenas (64 MiB reserved each) and cached thread stacks whose number
    varies from run to run.  Descriptors, the watched files and pymmap's own
    ledger are still checked exactly.
    """
    new_fds = {fd: target for fd, target in after.fds.items() if before.fds.get(fd) != target}
    gone_fds = {fd: target for fd, target in before.fds.items() if after.fds.get(fd) != target}
    assert not new_fds and not gone_fds, (
        f"{what} changed the open descriptors: new {new_fds}, gone {gone_fds}"
    )
    stale = _naming(after.maps, watch)
    assert len(stale) <= len(_naming(before.maps, watch)), (
        f"{what} left mappings of its files:\n" + "\n".join(stale[:10])
    )
    if not process_wide:
        return
    # A new arena of CPython's own allocator is a line of its own (when the
    # kernel does not merge it with a neighbour): an anonymous read-write
    # mapping of exactly one arena, which no map of these tests is.
    arenas = sum(1 for line in set(after.maps) - set(before.maps) if _is_allocator_arena(line))
    grown = len(after.maps) - len(before.maps) - arenas
    assert grown <= SLACK_LINES, (
        f"{what} left {grown} more lines in /proc/self/maps:\n"
        + "\n".join(sorted(set(after.maps) - set(before.maps))[:20])
    )
    if EMULATOR is not None:
        return  # (VmSize is the emulator's own process: tests/emulation.py)
    kib = after.kib - before.kib
    assert kib <= SLACK_KIB, f"{what} left {kib} KiB more address space mapped"


@contextlib.contextmanager
def no_leaks(watch: Sequence[str] = (), what: str = "the block",
             process_wide: bool = True) -> Iterator[Ledger]:
    """Run the block, then assert that it leaked no descriptor and no mapping.

    ``watch`` lists paths (files or a directory) whose mappings must all be
    gone afterwards.  The block's own local variables still refer to
    whatever it made, so a block that only *drops* maps should delete its
    references (or keep them in a function) before it ends.
    """
    before = snapshot()
    ledger = Ledger()
    with pymmap.trace(ledger.record):
        yield ledger
        collect()  # finalizers run while the ledger still listens
    after = snapshot()
    ledger.assert_balanced()
    compare(before, after, watch, what, process_wide)


def checked_twice(run: Callable[[], Any], watch: Sequence[str] = (),
                  what: str = "the block", process_wide: bool = True) -> Ledger:
    """Run ``run()`` once to warm up, then again under :func:`no_leaks`.

    The first run lets Python allocate what it keeps for good (an arena of
    small objects, a thread's malloc arena, a lazily imported module), so
    that the second run's before/after comparison sees only what ``run``
    itself leaks.  Returns the second run's :class:`Ledger`.
    """
    run()
    with no_leaks(watch, what, process_wide) as ledger:
        run()
    return ledger
