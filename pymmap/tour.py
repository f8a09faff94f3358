"""``python -m pymmap tour``: a narrated walk through memory mapping.

The tour replays the examples of the classic mmap texts (effbot's
*Python Standard Library*, the Python documentation, PyMOTW) in Python 3,
one step at a time.  Each Python line is shown as at the interactive prompt,
followed by its result, the system calls it made (from :mod:`pymmap.trace`),
and, for a line that creates a mapping, the mapping's entry in
``/proc/self/maps``.  It works in a temporary directory and removes it at
the end.

The module has two parts: :class:`Console`, a tiny REPL that runs one
snippet at a time and prints what happened, and the steps, plain functions
run in order by :func:`run`.
"""

import os
import sys
import tempfile
import textwrap
from typing import IO, Any, Callable, Dict, List, Optional, Type

from ._platform import backend
from .trace import Syscall, trace

__all__ = ["SAMPLE", "STEPS", "Console", "run"]

#: effbot's ``samples/sample.txt``: a Knuth quotation, seven lines ending in
#: CR LF, the last one indented with a tab: 302 bytes in all.
SAMPLE = (
    b"We will perhaps eventually be writing only small\r\n"
    b"modules which are identified by name as they are\r\n"
    b"used to build larger ones, so that devices like\r\n"
    b"indentation, rather than delimiters, might become\r\n"
    b"feasible for expressing local structure in the\r\n"
    b"source language.\r\n"
    b"\t-- Donald E. Knuth, December 1974\r\n"
)

_WIDTH = 72

#: Windows maps through named sections (tagnames) and has no fork(): there
#: the tour shows kernel32's calls, and a section shared by name instead.
_KERNEL32 = hasattr(backend, "map_named")


def maps_entry(address: int) -> Optional[str]:
    """Return the line of ``/proc/self/maps`` that contains ``address``, or None.

    Each line is one *VMA* (virtual memory area) of this process: the address
    range, the permissions (``r``, ``w``, ``x``, then ``s`` for shared or
    ``p`` for private), the file offset, the device, the inode and the file.
    Systems without ``/proc`` (macOS, the BSDs by default) give None.
    """
    try:
        with open("/proc/self/maps") as maps:
            lines = maps.readlines()
    except OSError:
        return None
    for line in lines:
        start, _, end = line.split(" ", 1)[0].partition("-")
        if int(start, 16) <= address < int(end, 16):
            return " ".join(line.split())
    return None


class Console:
    """Run snippets of Python the way the interactive prompt does, and narrate.

    :meth:`run` echoes a snippet with ``>>>`` and ``...`` prompts, runs it in
    one shared namespace, and prints its value (for an expression), the
    exception it raised, the system calls it made (lines starting with
    ``|``), and ``/proc/self/maps`` for each mapping it created.  A snippet
    that raises an exception it was not expected to raise is counted in
    :attr:`failures`.
    """

    def __init__(self, out: IO[str], show_trace: bool = True) -> None:
        self.out = out
        self.show_trace = show_trace
        self.namespace: Dict[str, Any] = {"__name__": "__tour__"}
        self.failures: List[str] = []
        self._pid = os.getpid()
        self._after_code = False

    def say(self, text: str) -> None:
        """Print narration: paragraphs separated by blank lines, re-wrapped."""
        if self._after_code:
            self.out.write("\n")
            self._after_code = False
        for paragraph in textwrap.dedent(text).strip().split("\n\n"):
            self.out.write(textwrap.fill(" ".join(paragraph.split()), _WIDTH) + "\n\n")

    def heading(self, title: str) -> None:
        """Print a step's title, underlined."""
        self._after_code = False
        self.out.write(f"\n{title}\n{'=' * len(title)}\n\n")

    def run(self, source: str, raises: Optional[Type[BaseException]] = None) -> Any:
        """Run ``source`` (an expression or statements) and print what happened.

        ``raises`` names the exception the snippet is meant to demonstrate.
        Returns the expression's value (None for statements or on error).
        """
        source = textwrap.dedent(source).strip()
        lines = source.split("\n")
        self.out.write(">>> " + lines[0] + "\n")
        for line in lines[1:]:
            self.out.write("... " + line + "\n")
        # Nothing may sit in the buffer if the snippet forks: the child
        # would print it a second time.
        self.out.flush()
        calls: List[Syscall] = []
        value: Any = None
        error: Optional[BaseException] = None
        with trace(calls.append):
            try:
                value = self._evaluate(source)
            except Exception as exc:
                error = exc
        if os.getpid() != self._pid:
            # A forked child that forgot os._exit() must not run the tour again.
            os._exit(0)
        self._report(calls)
        if error is not None:
            self.out.write(f"{type(error).__name__}: {error}\n")
            if raises is None or not isinstance(error, raises):
                self.failures.append(f"{source!r} raised {error!r}")
            # The traceback holds the frames the error passed through, and
            # their locals; a map's memory they still reference could not be
            # unmapped by close() (see MappedRegion.close).  Let them go.
            error.__traceback__ = None
        elif raises is not None:
            self.failures.append(f"{source!r} did not raise {raises.__name__}")
        elif value is not None:
            self.out.write(repr(value) + "\n")
        self.out.flush()
        self._after_code = True
        return value

    def pages(self, *names: str) -> None:
        """Print ``print(name.pages())`` for each map ``name``: what its pages are doing now.

        Each line reads ``  pages of m: [MM..] (legend)`` (see
        :mod:`pymmap.page_states`); looking touches no page, and the calls
        it makes to find out are left out of the trace.
        """
        for name in names:
            try:
                states = self.namespace[name].pages()
            except Exception as exc:  # (a bug in pymmap or in the tour: counted, as run() counts it)
                self.failures.append(f"{name}.pages() raised {exc!r}")
                continue
            self.out.write(f"  pages of {name}: {states}\n")
        self.out.flush()
        self._after_code = True

    def _evaluate(self, source: str) -> Any:
        """Internal: evaluate an expression, or execute statements and return None."""
        try:
            code = compile(source, "<tour>", "eval")
        except SyntaxError:
            exec(compile(source, "<tour>", "exec"), self.namespace)
            return None
        return eval(code, self.namespace)

    def _report(self, calls: List[Syscall]) -> None:
        """Internal: print the snippet's system calls and its new mappings."""
        for call in calls:
            if self.show_trace:
                self.out.write(f"  | {call}\n")
            if call.name in ("mmap", "mremap") and not call.err:
                entry = maps_entry(call.result)
                if entry is not None:
                    self.out.write(f"  maps: {entry}\n")


def write_file(name: str, data: bytes) -> int:
    """Write ``data`` to the file ``name``, and put it on disk (``fsync``): its pages start clean."""
    with open(name, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return len(data)


# --- the steps -----------------------------------------------------------------------
# Each step is a function taking the Console; its docstring is its title.


def step_read(tour: Console) -> None:
    """Map a file; read it like bytes and like a file"""
    tour.say("""
        The tour works in a fresh temporary directory.  SAMPLE holds effbot's
        samples/sample.txt: a Knuth quotation, 302 bytes with DOS line
        endings.  We write it to a file, open the file, and map it.
        (write_file() writes a file and puts it on disk at once, with
        fsync(2), so that its pages start clean.)
    """)
    if _KERNEL32:
        tour.say("""
            Lines starting with | are the kernel32 calls a line made.  A map
            on Windows takes two objects: CreateFileMappingW makes a
            section (the memory, backed by the file or by the paging file),
            and MapViewOfFile maps a view of it into our address space.
        """)
    else:
        tour.say("""
            Lines starting with | are the system calls a line made, as
            strace(1) would print them.  A "maps:" line is the new mapping's
            entry in /proc/self/maps: its address range (always whole pages),
            its permissions (r, w, x, then s for shared or p for private), the
            file offset, device, inode and file name.
        """)
    tour.run("import os, pathlib, re, sys")
    tour.run("import pymmap as mmap")
    tour.run('write_file("sample.txt", SAMPLE)')
    tour.run('f = open("sample.txt", "r+b")')
    tour.run("m = mmap.mmap(f.fileno(), 0)")
    if _KERNEL32:
        tour.say("""
            Length 0 means "the whole file".  DuplicateHandle gives the map
            its own handle of the file, so size() and resize() keep working
            after f is closed.  MapViewOfFile answered with the address where
            the file's bytes now appear in our memory.  No data was read yet.
        """)
    else:
        tour.say("""
            Length 0 means "the whole file": fstat() asked the file its size.
            fcntl(F_DUPFD_CLOEXEC), a dup() whose copy no program started
            from here inherits, gives the map its own copy of the
            descriptor, so size() and resize() keep working after f is
            closed.  mmap() answered with the address where the file's bytes
            now appear in our memory.  No data was read yet.
        """)
    tour.say("""
        A "pages of m:" line shows what each page of the map is doing, as
        print(m.pages()) draws it: one character per page.  The file was
        just written, so its one page is in memory (r), but this process
        has not mapped it yet: mmap() only reserved the addresses.
    """)
    tour.pages("m")
    tour.run("len(m)")
    tour.run("m[:10]")
    tour.pages("m")
    tour.run("m[38:58]")
    tour.say("""
        Slicing made no system call: the bytes are copied straight out of
        memory.  The first touch of the page did trap into the kernel (a
        page fault, which found the page in the page cache), but a fault is
        not a system call; the last step shows them.  The map is also a file,
        with a position of its own:
    """)
    tour.run("m.read(10)")
    tour.run("m.read(10)")
    tour.run("m.tell()")
    tour.run("m.readline()")


def step_write(tour: Console) -> None:
    """Change it by assigning to slices; flush() it to disk"""
    tour.say("""
        The map was made with MAP_SHARED (the default, ACCESS_WRITE): its
        pages are the kernel's page cache pages of the file.  A store to
        the map is a store to the file, visible at once to every process
        that reads it.  A slice assignment must keep the size.
    """)
    tour.pages("m")
    tour.run('m[:7] = b"WE WILL"')
    tour.run('m[0] = ord("w")')
    tour.run('m[:3] = b"too long"', raises=IndexError)
    tour.pages("m")
    tour.run('pathlib.Path("sample.txt").read_bytes()[:16]')
    tour.say(f"""
        The file already shows the change, although nothing wrote it.  The
        page is only "dirty" in memory, though (D{"" if not _KERNEL32 else ", where the system can tell"}):
        flush() runs {"FlushViewOfFile" if _KERNEL32 else "msync(2)"} to put it on disk now
        instead of whenever the kernel gets to it, and the page is clean again.
    """)
    tour.run("m.flush()")
    tour.pages("m")


def step_search(tour: Console) -> None:
    """Search with find() and regular expressions"""
    tour.say("""
        find() searches the memory in place, with the C library's memmem(3);
        no system call, no copy.  Like the C module, find() without a start
        argument begins at the current position, not at 0.
    """)
    tour.run("m.seek(0)")
    tour.run('m.find(b"small")')
    tour.run("m.seek(50)")
    tour.run('m.find(b"small")')
    tour.run('m.find(b"small", 0)')
    tour.say("""
        Regular expressions accept the map itself, with no copy: re asks it
        for its memory through the buffer protocol (see pymmap/exports.py
        for how a class written in Python lends it, on every version).
    """)
    tour.run(r're.search(rb"D\w+ E\. Knuth", m)')
    tour.say("""
        close() closes the map's own descriptor and unmaps the memory.
    """)
    tour.run("m.close()")
    tour.run("f.close()")


def step_access(tour: Console) -> None:
    """ACCESS_READ, ACCESS_WRITE and ACCESS_COPY side by side"""
    tour.say("""
        The access argument picks the protection and the kind of mapping:
        ACCESS_READ is PROT_READ with MAP_SHARED, ACCESS_WRITE is
        PROT_READ|PROT_WRITE with MAP_SHARED, and ACCESS_COPY is
        PROT_READ|PROT_WRITE with MAP_PRIVATE: copy-on-write, where the first
        store to a page gives this process its own copy of it.  Three files,
        same text, one map each:
    """)
    tour.run("""
        for name in ("read.txt", "write.txt", "copy.txt"):
            write_file(name, b"original text\\n")
    """)
    tour.run('fds = [os.open(name, os.O_RDWR) for name in ("read.txt", "write.txt", "copy.txt")]')
    tour.run("r = mmap.mmap(fds[0], 0, access=mmap.ACCESS_READ)")
    tour.run("w = mmap.mmap(fds[1], 0, access=mmap.ACCESS_WRITE)")
    tour.run("c = mmap.mmap(fds[2], 0, access=mmap.ACCESS_COPY)")
    tour.run('r[:8] = b"CHANGED!"', raises=TypeError)
    tour.run('w[:8] = b"CHANGED!"')
    tour.run("c[0]  # a read: c maps the file's own page")
    tour.pages("c")
    tour.run('c[:8] = b"CHANGED!"')
    tour.pages("c")
    tour.run("r[:], w[:], c[:]")
    tour.run('[pathlib.Path(name).read_bytes() for name in ("read.txt", "write.txt", "copy.txt")]')
    tour.say("""
        In memory, w and c both changed; on disk, only write.txt did.  c's
        first store copied the page (P: a private copy); its change lives
        in that copy, which no one else can see
        and that is thrown away when the map closes, which is why flush()
        has nothing to do for it (no call below):
    """)
    tour.run("c.flush()")
    tour.run("""
        for each in (r, w, c):
            each.close()
    """)
    tour.run("""
        for fd in fds:
            os.close(fd)
    """)


def step_fork(tour: Console) -> None:
    """Anonymous memory, shared with a child process"""
    tour.say("""
        With -1 instead of a file descriptor, the map is anonymous memory,
        filled with zeros.  MAP_SHARED anonymous memory (the default) stays
        shared with the children this process forks; MAP_PRIVATE memory is
        copied on write, like all other memory of the process.  This is the
        Python documentation's fork example, with a private map beside it.
    """)
    tour.run("shared = mmap.mmap(-1, 13)")
    tour.run("private = mmap.mmap(-1, 13, flags=mmap.MAP_PRIVATE)")
    tour.say("""
        The kernel backs shared anonymous memory with a deleted file in its
        internal shmem file system, which is why /proc/self/maps names it
        "/dev/zero (deleted)".  Private anonymous memory has no name.
    """)
    tour.run('shared.write(b"Hello world!")')
    tour.run('private.write(b"Hello world!")')
    tour.run("""
        pid = os.fork()
        if pid == 0:  # in the child: change both maps, then leave at once
            shared[:5] = private[:5] = b"HELLO"
            os._exit(0)
    """)
    tour.run("os.waitpid(pid, 0)[1]  # the child's exit status")
    tour.run("shared[:]")
    tour.run("private[:]")
    tour.pages("shared", "private")
    tour.say("""
        The child's store to the shared map reached the parent; its store to
        the private map went to the child's own copy of the page.  The
        parent's private page is its own copy too (P), and stays as it was;
        the shared page is shmem's, mapped by both processes (M).
    """)
    tour.run("shared.close()")
    tour.run("private.close()")


def step_named(tour: Console) -> None:
    """Memory shared by name with another process"""
    tour.say("""
        With -1 instead of a file descriptor, the map is anonymous memory
        from the paging file, filled with zeros.  Windows has no fork(); two
        processes share memory by naming its section instead: every map
        made with the same tagname, in any process, is the same memory.
        The child below is another Python running the standard library's
        own mmap module.
    """)
    tour.run("import subprocess")
    tour.run('name = f"pymmap-tour-{os.getpid()}"')
    tour.run("shared = mmap.mmap(-1, 13, tagname=name)")
    tour.run('shared.write(b"Hello world!")')
    tour.run("""
        child = subprocess.run([sys.executable, "-c",
            "import mmap, sys; m = mmap.mmap(-1, 13, tagname=sys.argv[1]); "
            "print(m[:12]); m[:5] = b'HELLO'", name], capture_output=True, text=True)
    """)
    tour.run("child.stdout  # what the child read")
    tour.run("shared[:]")
    tour.say("""
        The child found our bytes, and its store reached us.  The section
        lives while any process holds a view or a handle of it; its name
        goes with the last one.
    """)
    tour.run("shared.close()")


def step_resize(tour: Console) -> None:
    """Resize a map, and the file behind it"""
    if _KERNEL32:
        tour.say("""
            A section never changes size, and a file cannot change size
            while a view of it is mapped.  So resize() unmaps the view, sets
            the file's size (SetFilePointerEx, SetEndOfFile), makes a new
            section and maps a new view.  New bytes read as zeros.
        """)
    else:
        tour.say("""
            resize() changes the size of the file first (ftruncate(2)) and
            then of the mapping (mremap(2) on Linux, which may move it to a
            new address: MREMAP_MAYMOVE).  New bytes read as zeros.
        """)
    tour.run('f = open("grow.txt", "w+b")')
    tour.run('f.write(b"0123456789")')
    tour.run("f.flush()")
    tour.run("m = mmap.mmap(f.fileno(), 0)")
    tour.run("m.resize(2 * mmap.PAGESIZE)")
    tour.run('len(m), m.size(), os.path.getsize("grow.txt")')
    tour.run("m[:12]")
    tour.run("m.resize(4)")
    tour.run('os.path.getsize("grow.txt")')
    tour.run("m.close()")
    tour.run("f.close()")
    if _KERNEL32:
        tour.say("""
            Memory from the paging file grows the same way: a new, larger
            section and view, the bytes copied over, the old view unmapped.
        """)
    else:
        tour.say("""
            Shared anonymous memory cannot grow that way: the memory object
            behind it keeps its first size, and touching the new pages would
            kill the process with SIGBUS (CPython 3.8 to 3.13.0 crash exactly
            like that).  pymmap makes a new, larger mapping instead, copies
            the bytes over, and unmaps the old one:
        """)
    tour.run("a = mmap.mmap(-1, mmap.PAGESIZE)")
    tour.run('a[:5] = b"kept!"')
    tour.run("a.resize(3 * mmap.PAGESIZE)")
    tour.pages("a")
    tour.run("a[:5], a[-1]")
    tour.pages("a")
    tour.run("a.close()")


def step_pages(tour: Console) -> None:
    """Pages: the unit of mapping, and offset alignment"""
    tour.say("""
        The kernel maps memory in pages.  A mapping always covers whole
        pages, and a file can only be mapped from an offset that is a
        multiple of ALLOCATIONGRANULARITY: the page size on POSIX, 64 KiB on
        Windows.
    """)
    tour.run("mmap.PAGESIZE, mmap.ALLOCATIONGRANULARITY")
    tour.run("G = mmap.ALLOCATIONGRANULARITY")
    tour.run('write_file("pages.bin", b"A" * G + b"B" * mmap.PAGESIZE)')
    tour.run('f = open("pages.bin", "r+b")')
    tour.run("second = mmap.mmap(f.fileno(), 10, offset=G)")
    tour.run("len(second), second[:]")
    tour.say("""
        We asked for 10 bytes at offset G; the system mapped a whole page
        (a "maps:" line, where there is one, shows it).  pymmap only lets us
        see the 10 bytes.  An offset that is not a multiple of
        ALLOCATIONGRANULARITY is refused (EINVAL; on Windows
        ERROR_MAPPED_ALIGNMENT):
    """)
    tour.run("mmap.mmap(f.fileno(), 10, offset=100)", raises=OSError)
    tour.say("""
        To reach an arbitrary byte, map from the start of its page and index
        from there:
    """)
    tour.run("want = G + 100")
    tour.run("start = want - want % mmap.ALLOCATIONGRANULARITY")
    tour.run("near = mmap.mmap(f.fileno(), want - start + 10, offset=start)")
    tour.run("start, near[want - start:]")
    tour.run("near.close()")
    tour.run("second.close()")
    tour.run("f.close()")


def step_faults(tour: Console) -> None:
    """Page faults: memory arrives when it is first touched"""
    tour.say("""
        mmap() only reserves addresses.  The first access to each page
        traps into the kernel (a page fault), which finds or makes the page
        and maps it; the instruction then runs again.  getrusage(2) counts
        the faults: ru_minflt for those served from memory, ru_majflt for
        those that had to wait for the disk.
    """)
    tour.run("import resource")
    tour.run("""
        def touch_every_page(m, store):
            usage = resource.getrusage(resource.RUSAGE_SELF)
            for i in range(0, len(m), mmap.PAGESIZE):
                if store:
                    m[i] = 1
                else:
                    m[i]
            now = resource.getrusage(resource.RUSAGE_SELF)
            return now.ru_minflt - usage.ru_minflt, now.ru_majflt - usage.ru_majflt
    """)
    tour.run("pages = mmap.mmap(-1, 256 * mmap.PAGESIZE, flags=mmap.MAP_PRIVATE)")
    tour.pages("pages")
    tour.run("touch_every_page(pages, store=True)")
    tour.pages("pages")
    tour.run("touch_every_page(pages, store=True)")
    tour.say("""
        About one minor fault per page the first time, none the second:
        the pages are now mapped.  madvise(MADV_DONTNEED) hands them back to
        the kernel; private anonymous pages then read as zeros, and fault
        again when touched.
    """)
    tour.run("pages.madvise(mmap.MADV_DONTNEED)")
    tour.pages("pages")
    tour.run("pages[0]")
    tour.run("touch_every_page(pages, store=True)")
    tour.run("pages.close()")
    tour.say("""
        A file's pages that are already in the page cache cost no disk
        read, so they are minor faults too; and on a read fault Linux maps
        up to 16 neighbouring cached pages at once ("fault-around"), so
        reading 256 pages usually takes far fewer faults than 256.
    """)
    tour.run('write_file("big.bin", bytes(256 * mmap.PAGESIZE))')
    tour.run('f = open("big.bin", "rb")')
    tour.run("big = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)")
    tour.run("big[0]  # one byte")
    tour.pages("big")
    tour.say("""
        One byte mapped 16 pages: the kernel's fault-around.  MADV_DONTNEED
        on a file's pages only unmaps them from this process; they stay in
        the page cache (r), and the next touch maps them again cheaply:
    """)
    tour.run("big.madvise(mmap.MADV_DONTNEED, 0, 4 * mmap.PAGESIZE)")
    tour.pages("big")
    tour.run("touch_every_page(big, store=False)")
    tour.run("big.close()")
    tour.run("f.close()")


def step_working_set(tour: Console) -> None:
    """Pages arrive when they are first touched"""
    tour.say("""
        Mapping only reserves addresses.  The first access to each page
        traps into the kernel (a page fault), which finds or makes the page
        and maps it; the instruction then runs again.  resident() asks
        Windows which pages are in this process's working set, mapped in
        RAM (QueryWorkingSetEx): none at first, every touched one after.
    """)
    tour.run("pages = mmap.mmap(-1, 256 * mmap.PAGESIZE)")
    tour.run("pages.resident().count(1)")
    tour.run("""
        for i in range(0, len(pages), mmap.PAGESIZE):
            pages[i] = 1
    """)
    tour.run("pages.resident().count(1)")
    tour.run("pages.close()")


def step_who_sees(tour: Console) -> None:
    """Who sees my write? MAP_SHARED, MAP_PRIVATE and read()"""
    tour.say("""
        One file, three ways to look at it: a shared map, a private
        (copy-on-write, ACCESS_COPY) map, and plain reads and writes of the
        file.  First the file itself is written (as another program
        would), through write(2):
    """)
    tour.run('write_file("seen.txt", b"A" * mmap.PAGESIZE + b"B" * mmap.PAGESIZE)')
    tour.run('f = open("seen.txt", "r+b", buffering=0)')
    tour.run("""
        def write_at(offset, data):
            f.seek(offset)
            f.write(data)

        def read_at(offset):
            f.seek(offset)
            return f.read(1)
    """)
    tour.run("shared = mmap.mmap(f.fileno(), 0)")
    tour.run("private = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)")
    tour.run('write_at(0, b"1")')
    tour.run("shared[:1], private[:1], read_at(0)")
    tour.say("""
        Everyone sees it: until a private map writes to a page, that page
        is the file's own page in the page cache, the same one read()
        copies from.  Now the private map writes to the first page:
    """)
    tour.run('private[1:2] = b"p"')
    tour.pages("private")
    tour.run('write_at(0, b"2")')
    tour.run('write_at(mmap.PAGESIZE, b"2")')
    tour.run("shared[:1], private[:1], read_at(0)")
    tour.run("shared[mmap.PAGESIZE], private[mmap.PAGESIZE]")
    tour.say("""
        The private map's first page is its own copy now (P): it no longer
        sees the file's changes there, and the file never sees its own.
        Its second page, never written, still shows the file.  The shared
        map is the file: its stores are everyone's, at once.
    """)
    tour.run("shared.close(); private.close(); f.close()")


def step_dirty(tour: Console) -> None:
    """Dirty pages and flush()"""
    tour.say("""
        A store to a shared map changes the page in the page cache, and
        marks it dirty: it differs from the disk.  The kernel writes dirty
        pages back by itself, within about 30 seconds; flush() (msync(2),
        MS_SYNC) writes them now, and waits.  m.pages() sees dirty pages
        with cachestat(2) (Linux 6.5+; "None" before).
    """)
    tour.say("""
        The kernel keeps a file's pages in folios: one page each, or (on
        newer kernels) several, when the file was written in large pieces.
        A store dirties its whole folio.  This file is written a page at a
        time, so that each page is a folio of its own:
    """)
    tour.run("""
        with open("dirty.bin", "wb", buffering=0) as f:  # (unbuffered: one write(2) per page)
            for page in range(16):
                f.write(bytes(mmap.PAGESIZE))
            os.fsync(f.fileno())
    """)
    tour.run('f = open("dirty.bin", "r+b")')
    tour.run("m = mmap.mmap(f.fileno(), 0)")
    tour.pages("m")
    tour.run("""
        for page in (2, 3, 9):
            m[page * mmap.PAGESIZE] = 1
    """)
    tour.pages("m")
    tour.run("m.flush()")
    tour.pages("m")
    tour.say("""
        Three pages dirty after the stores, none after the msync.
    """)
    tour.say("""
        msync writes the map's pages to the file.  os.fsync(fd) goes
        further: it writes the file's metadata too (its size, its block
        list) and asks the disk to empty its own write cache, so that the
        data survives a power cut.  A program that must not lose a write
        calls both (or fsync alone, which covers the file's dirty pages
        however they were written).
    """)
    tour.run("m.close()")
    tour.run("f.close()")


def step_read_vs_mmap(tour: Console) -> None:
    """read() vs mmap, with a cold and a warm page cache"""
    tour.say("""
        Reading a file with read(2) copies it from the page cache into our
        buffer, one system call per chunk.  A map copies nothing up front:
        each first touch of a page faults, and the kernel maps the cached
        page (a minor fault) or reads it from disk first (a major fault).
        posix_fadvise(POSIX_FADV_DONTNEED) drops a clean file from the
        page cache, so we can time both cold (from disk) and warm.
    """)
    tour.run("import resource, time")
    tour.run('write_file("data.bin", os.urandom(1024 * mmap.PAGESIZE))')
    tour.run("""
        def measure(how, cold):
            fd = os.open("data.bin", os.O_RDONLY)
            if cold:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            before, start, calls = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter(), 0
            if how == "read":
                while os.read(fd, 65536):
                    calls += 1
            else:
                seen = []
                with mmap.trace(seen.append):  # (counts the map's calls: fstat, fcntl, mmap, munmap, close)
                    with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as m:
                        for i in range(0, len(m), mmap.PAGESIZE):
                            m[i]
                calls = len(seen)
            seconds = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_SELF)
            os.close(fd)
            minor, major = after.ru_minflt - before.ru_minflt, after.ru_majflt - before.ru_majflt
            # (read()'s few faults are its own buffer's, not the file's)
            per_fault = f"{1024 / (minor + major):5.1f}" if how == "mmap" and minor + major else "    -"
            return (f"{how:4} {'cold' if cold else 'warm'}: {calls:3} calls, {minor:4} minor + "
                    f"{major:3} major faults, {per_fault} pages per fault, {seconds * 1000:6.2f} ms")
    """)
    tour.run("""
        for how in ("read", "mmap"):
            for cold in (True, False):
                print(measure(how, cold))
    """)
    tour.say("""
        read() makes a system call per 64 KiB and faults little (its buffer
        only); the map makes almost no calls, and takes its faults instead,
        several pages per fault (fault-around maps up to 16 cached pages at
        a time; on a cold cache the kernel's read-ahead brings many pages
        per disk read, so major faults stay few).  Warm, both are fast;
        which wins depends on the sizes, the access pattern, and whether
        the data is used in place (the map) or needs its own copy anyway.
    """)


#: What the child of :func:`step_truncated` runs: an ordinary map of a file
#: that it then cuts short, and a read past the new end.
TRUNCATING_CHILD = """\
import os, sys
import pymmap
f = open(sys.argv[1], "r+b")
m = pymmap.mmap(f.fileno(), 0)
os.truncate(sys.argv[1], pymmap.PAGESIZE)
print(m[pymmap.PAGESIZE])
"""


def step_truncated(tour: Console) -> None:
    """A file cut short: SIGBUS, or an error with checked=True"""
    tour.say("""
        If the file behind a map gets shorter (another program truncates
        it, or shrinks shared memory), its pages past the new end are gone.
        Touching one is a load instruction with nothing to load: the CPU
        faults, the kernel finds no page to give, and it can return no
        error code to a plain memory access, so it sends the process
        SIGBUS, which kills it.  Every mmap does this, the stdlib's too.
        A child process shows it: it maps a two-page file, cuts the file to
        one page, and reads the second page.
    """)
    tour.namespace["CHILD"] = TRUNCATING_CHILD
    tour.namespace["CHILD_ENV"] = dict(
        os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    tour.run("import signal, subprocess")
    tour.run('write_file("short.bin", b"a" * mmap.PAGESIZE + b"b" * mmap.PAGESIZE)')
    tour.run("print(CHILD)")
    tour.run("""
        child = subprocess.run([sys.executable, "-c", CHILD, "short.bin"], env=CHILD_ENV,
                               capture_output=True)
    """)
    tour.run("child.returncode, signal.Signals(-child.returncode).name")
    tour.say("""
        A map made with checked=True reads and writes its memory only
        through the kernel: process_vm_readv(2) and process_vm_writev(2)
        aimed at our own process.  A page that is gone makes that copy fail
        with an error code, and the map raises OSError instead of dying.
        Each access costs one system call; and the map lends no buffers
        (memoryview, re), since code reading them directly would not be
        checked.
    """)
    tour.run('write_file("short.bin", b"a" * mmap.PAGESIZE + b"b" * mmap.PAGESIZE)')
    tour.run('f = open("short.bin", "r+b")')
    tour.run("m = mmap.mmap(f.fileno(), 0, checked=True)")
    tour.say("""
        (The first checked map tries both calls on a few bytes of its own,
        to see that this system allows them.)
    """)
    tour.run("m[mmap.PAGESIZE:mmap.PAGESIZE + 3]")
    tour.run('os.truncate("short.bin", mmap.PAGESIZE)')
    tour.run("m[mmap.PAGESIZE]", raises=OSError)
    tour.run("m[:3]")
    tour.say("""
        The first page is still there; the second one raised, and we are
        still here.
    """)
    tour.run("m.close()")
    tour.run("f.close()")


#: The tour's steps, in order.  Where the system has neither fork() nor
#: madvise() (Windows), a section shared by name and the working set stand
#: in for the fork and the page-fault counts.
STEPS: List[Callable[[Console], None]] = [
    step_read,
    step_write,
    step_search,
    step_access,
    step_named if _KERNEL32 else step_fork,
    step_resize,
    step_pages,
    step_working_set if _KERNEL32 else step_faults,
    step_who_sees,
    # (Windows cannot cut a mapped file short, has no fork(), no dirty-page
    # counts and no posix_fadvise: these steps need Linux; the tour says so.)
    *([] if _KERNEL32 else [step_dirty, step_read_vs_mmap, step_truncated]),
]


def _pause(out: IO[str]) -> bool:
    """Internal: wait for Enter; return False if the user wants no more pauses."""
    out.write("-- press Enter for the next step (q to quit) --")
    out.flush()
    try:
        answer = input()
    except EOFError:
        out.write("\n")
        return False
    if answer.strip().lower().startswith("q"):
        raise KeyboardInterrupt
    return True


def run(out: Optional[IO[str]] = None, show_trace: bool = True, step: bool = False) -> int:
    """Run the tour, printing to ``out`` (standard output); return the exit status.

    ``show_trace=False`` hides the system calls; ``step=True`` waits for
    Enter between steps.  The exit status is 1 if a snippet raised an
    exception it was not meant to (a bug in pymmap or in the tour).
    """
    out = sys.stdout if out is None else out
    tour = Console(out, show_trace=show_trace)
    tour.namespace["SAMPLE"] = SAMPLE
    tour.namespace["write_file"] = write_file
    home = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="pymmap-tour-") as workdir:
        os.chdir(workdir)
        try:
            out.write(f"pymmap tour, in {workdir}\n")
            if _KERNEL32:
                out.write("(On Windows; four steps of the tour need Linux: fork(), dirty pages and flush(), "
                          "read() vs mmap on a cold cache, and a file cut short under a map.)\n")
            for number, function in enumerate(STEPS, 1):
                title = (function.__doc__ or function.__name__).strip()
                tour.heading(f"Step {number} of {len(STEPS)}: {title}")
                function(tour)
                if step and number < len(STEPS):
                    step = _pause(out)
        except KeyboardInterrupt:
            out.write("\n")
        finally:
            tour.namespace.clear()  # close what the steps left open
            os.chdir(home)
    tour.say("""
        End of the tour.  To watch the system calls of your own program,
        run it with PYMMAP_TRACE=1 in the environment, or wrap part of it in
        "with pymmap.trace():".  The examples/ directory holds the classic
        mmap examples, ported to Python 3 and pymmap.
    """)
    if tour.failures:
        out.write("The tour went wrong; unexpected results:\n")
        for failure in tour.failures:
            out.write(f"  {failure}\n")
        return 1
    return 0
