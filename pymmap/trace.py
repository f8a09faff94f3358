"""The syscall trace: watch each call pymmap makes into the operating system.

Reading a mapped file makes no ``read(2)`` call; the memory *is* the file.
The calls a program does make, to set the mapping up, flush it, resize it and
tear it down, are few, and seeing them is the quickest way to learn what an
``mmap`` object really is.  This module prints them in the style of
``strace(1)``::

    mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_SHARED, 3, 0) = 0x7f3a2c001000
    msync(0x7f3a2c001000, 4096, MS_SYNC) = 0
    munmap(0x7f3a2c001000, 4096) = 0
    mmap(NULL, 4096, PROT_READ, MAP_SHARED, 99, 0) = -1 EBADF (Bad file descriptor)

Three ways to turn it on:

* ``with pymmap.trace():`` traces the calls made inside the block, to
  standard error; ``trace(f)`` writes to the open file ``f``, ``trace(path)``
  appends to the file at ``path``, ``trace(callback)`` calls
  ``callback(record)`` with a :class:`Syscall` record, whose ``str()`` is the
  line.
* ``PYMMAP_TRACE=1`` in the environment traces the whole program to standard
  error; ``PYMMAP_TRACE=/some/file`` appends the lines to that file instead.
  (``PYMMAP_TRACE=0`` or empty means off.)  The variable is read once, when
  ``pymmap`` is imported.
* Lower down, ``pymmap._platform.backend.set_tracer(fn)`` installs any
  ``fn(name, args, result, err)``; :func:`format_call` turns those four
  values into a line.

How it works: every system call in the platform layer goes through one
function (``_syscall`` in ``pymmap/_platform/posix.py``, ``_call_raw`` in
``windows.py``), which, when a tracer is installed, calls it after the call
returns.  On Windows the lines show kernel32's calls::

    CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 4096, NULL) = 0x1f4
    MapViewOfFile(0x1f4, FILE_MAP_WRITE, 0, 0, 4096) = 0x2a0c4d50000
    MapViewOfFile(0x1f8, FILE_MAP_WRITE, 0, 4096, 4096) = NULL (WinError 1132: The base ...)

When no tracer is installed, the cost is one ``is not None`` test per
system call, and the hot paths (indexing, ``read``, ``find``) make no
system calls at all.

The tracer is process-wide, not per thread, and a child made with
``os.fork()`` inherits it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import sys

from ._platform import backend, tables

TYPE_CHECKING = False  # typing's flag, without importing typing: see pymmap/__init__.py
if TYPE_CHECKING:
    from typing import IO, Any, Callable, Dict, List, Optional, Tuple, Union

__all__ = ["Syscall", "format_call", "trace"]


class Syscall(tuple):  # type: ignore[type-arg]
    """One traced system call, as a ``trace(callback)`` callback receives it.

    ``str(record)`` is the strace-style line; the other fields are what the
    platform layer passed to its tracer, for programs that want to inspect
    the call rather than print it.  It is a tuple ``(name, args, result,
    err, line)`` with a name for each field, as a ``NamedTuple`` would be;
    it is written out here because making a ``NamedTuple`` class means
    importing ``typing`` and running ``collections.namedtuple``, a few
    milliseconds that every ``import pymmap`` would pay.
    """

    __slots__ = ()
    _fields = ("name", "args", "result", "err", "line")

    def __new__(cls, name: str, args: Tuple[Any, ...], result: Any, err: int, line: str) -> Syscall:
        return tuple.__new__(cls, (name, args, result, err, line))

    @property
    def name(self) -> str:
        """The system call's name, e.g. ``"mmap"``."""
        return self[0]  # type: ignore[no-any-return]

    @property
    def args(self) -> Tuple[Any, ...]:
        """Its arguments, as passed to the C function (addresses are ints, NULL is None)."""
        return self[1]  # type: ignore[no-any-return]

    @property
    def result(self) -> Any:
        """What it returned (for a failed ``mmap``, ``MAP_FAILED``)."""
        return self[2]

    @property
    def err(self) -> int:
        """0 on success, else the ``errno`` it failed with."""
        return self[3]  # type: ignore[no-any-return]

    @property
    def line(self) -> str:
        """The formatted line, built when the call happened."""
        return self[4]  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        fields = ", ".join(f"{field}={value!r}" for field, value in zip(self._fields, self))
        return f"Syscall({fields})"

    def __str__(self) -> str:
        return self.line

    def __getnewargs__(self) -> Tuple[Any, ...]:
        return tuple(self)


# --- naming flags ---------------------------------------------------------------

#: Aliases that strace does not print: the same value has a longer, clearer name.
_ALIASES = frozenset({"MAP_ANON"})

#: name prefix -> [(value, name)], built on first use from the platform's table.
_names: Optional[Dict[str, List[Tuple[int, str]]]] = None


def _names_for(prefix: str) -> List[Tuple[int, str]]:
    """Internal: this platform's ``(value, name)`` pairs for one constant prefix.

    The constants come from ``backend.CONSTANTS``, which has every name a
    traced call may need (``MAP_FIXED`` and ``MREMAP_MAYMOVE`` included).
    """
    global _names
    if _names is None:
        groups: Dict[str, List[Tuple[int, str]]] = {}
        for name, value in backend.CONSTANTS.items():
            if name not in _ALIASES:
                groups.setdefault(name.split("_", 1)[0] + "_", []).append((value, name))
        _names = groups  # published whole: another thread never sees it half built
    return _names.get(prefix, [])


def _flags(value: int, prefix: str) -> str:
    """Internal: spell a bit mask as ``NAME|NAME``, as strace does.

    Names covering several bits (``MAP_SHARED_VALIDATE`` is
    ``MAP_SHARED|MAP_PRIVATE``) are tried first; bits no name covers are
    shown in hex at the end.
    """
    known = _names_for(prefix)
    if value == 0:
        zero = [name for v, name in known if v == 0]
        return zero[0] if zero else "0"
    chosen = []
    rest = value
    for v, name in sorted(known, key=lambda pair: -bin(pair[0]).count("1")):
        if v and rest & v == v:
            chosen.append((v, name))
            rest &= ~v
    parts = [name for v, name in sorted(chosen)]
    if rest:
        parts.append(hex(rest))
    return "|".join(parts)


def _enum(value: int, prefix: str) -> str:
    """Internal: the name of one value of an enumeration (``MADV_*``), or the number."""
    for v, name in _names_for(prefix):
        if v == value:
            return name
    return str(value)


# --- formatting arguments -----------------------------------------------------------


def _address(value: Optional[int]) -> str:
    """Internal: an address in hex, or ``NULL``."""
    return "NULL" if not value else hex(value)


def _string(value: bytes) -> str:
    """Internal: a C string the way strace quotes it."""
    text = repr(bytes(value))[2:-1].replace('"', '\\"')
    return f'"{text}"'


def _stat(result: Any) -> str:
    """Internal: the part of a ``struct stat`` strace shows."""
    mode = result.st_mode
    kinds = ("S_IFREG", "S_IFDIR", "S_IFCHR", "S_IFBLK", "S_IFIFO", "S_IFSOCK", "S_IFLNK")
    kind = next((k for k in kinds if stat.S_IFMT(mode) == getattr(stat, k)), "0")
    return f"{{st_mode={kind}|{stat.S_IMODE(mode):04o}, st_size={result.st_size}, ...}}"


def _vector(vec: Any) -> str:
    """Internal: mincore's result vector, one 0 or 1 per page (the first 16)."""
    bits = [str(b & 1) for b in bytes(vec)[:16]]
    more = ", ..." if len(vec) > 16 else ""
    return "[" + ", ".join(bits) + more + "]"


def _open_flags(flags: int) -> str:
    """Internal: ``shm_open``'s flags, as strace spells ``open(2)``'s."""
    names = ["O_RDWR" if flags & os.O_RDWR else "O_WRONLY" if flags & os.O_WRONLY else "O_RDONLY"]
    names += [name for name in ("O_CREAT", "O_EXCL", "O_TRUNC") if flags & getattr(os, name)]
    return "|".join(names)


def _ipc(value: int, names: Tuple[str, ...]) -> str:
    """Internal: System V flag bits by name, then the permission bits in octal.

    ``shmget(key, 4096, IPC_CREAT|IPC_EXCL|0600)``, as strace prints it.
    """
    table = tables.TABLES[tables.select()]
    parts = [name for name in names if value & table.get("_" + name, 0)]
    if value & 0o777:
        parts.append(f"0{value & 0o777:o}")
    return "|".join(parts) or "0"


def _shmctl_command(cmd: int) -> str:
    """Internal: the name of a ``shmctl`` command, or its number."""
    table = tables.TABLES[tables.select()]
    for name in ("IPC_RMID", "IPC_STAT"):
        if table.get("_" + name) == cmd:
            return name
    return str(cmd)


def _iovec(vector: Any) -> str:
    """Internal: one ``struct iovec`` (a ctypes pair: address, length), as strace shows it."""
    return f"[{{iov_base={_address(vector[0])}, iov_len={vector[1]}}}]"


def _fcntl_commands() -> Dict[int, str]:
    """Internal: the names of the ``fcntl`` commands pymmap makes (none on Windows)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return {}
    return {getattr(fcntl, name): name for name in ("F_DUPFD", "F_DUPFD_CLOEXEC") if hasattr(fcntl, name)}


_FCNTL_COMMANDS = _fcntl_commands()


def _plain(value: Any) -> str:
    """Internal: any other argument: ints in decimal, NULL for None, bytes quoted."""
    if value is None:
        return "NULL"
    if isinstance(value, (bytes, bytearray)):
        return _string(bytes(value))
    return str(value)


def _arguments(name: str, args: Tuple[Any, ...], result: Any, err: int) -> List[str]:
    """Internal: each argument of one call, spelled the way strace spells it."""
    if name == "mmap":
        addr, length, prot, flags, fd, offset = args
        return [_address(addr), str(length), _flags(prot, "PROT_"), _flags(flags, "MAP_"),
                str(fd), str(offset)]
    if name in ("munmap", "mlock", "munlock"):
        return [_address(args[0]), str(args[1])]
    if name == "msync":
        return [_address(args[0]), str(args[1]), _flags(args[2], "MS_")]
    if name == "mprotect":
        return [_address(args[0]), str(args[1]), _flags(args[2], "PROT_")]
    if name == "madvise":
        return [_address(args[0]), str(args[1]), _enum(args[2], "MADV_")]
    if name == "mremap":
        return [_address(args[0]), str(args[1]), str(args[2]), _flags(args[3], "MREMAP_")]
    if name == "mincore":
        return [_address(args[0]), str(args[1]), _vector(args[2]) if not err else "0x..."]
    if name == "shm_open":
        return [_string(args[0]), _open_flags(args[1]), f"{args[2]:04o}"]
    if name == "shmget":
        key = args[0] & 0xFFFFFFFF  # key_t is signed; keys are written in hex, unsigned
        return [hex(key), str(args[1]), _ipc(args[2], ("IPC_CREAT", "IPC_EXCL"))]
    if name == "shmat":
        return [str(args[0]), _address(args[1]), _ipc(args[2], ("SHM_RDONLY",))]
    if name == "shmdt":
        return [_address(args[0])]
    if name == "shmctl":
        shmid, cmd, info = args
        if info is None:
            shown = "NULL"
        elif err:
            shown = "0x..."
        else:
            shown = f"{{shm_segsz={info.shm_segsz}, shm_nattch={info.shm_nattch}, ...}}"
        return [str(shmid), _shmctl_command(cmd), shown]
    if name == "fstat":
        return [str(args[0]), _stat(result) if not err else "0x..."]
    if name in ("process_vm_readv", "process_vm_writev"):
        pid, local, local_count, remote, remote_count, flags = args
        return [str(pid), _iovec(local), str(local_count), _iovec(remote), str(remote_count), str(flags)]
    if name == "fcntl":
        fd, command, arg = args
        return [str(fd), _FCNTL_COMMANDS.get(command, str(command)), str(arg)]
    if name == "cachestat":
        _, fd, span, result, flags = args
        counts = ", ".join(f"{field}={getattr(result, field)}" for field, _ in result._fields_)
        shown = f"{{{counts}}}" if not err else "0x..."
        return [str(fd), f"{{off={span.off}, len={span.len}}}", shown, str(flags)]
    if name == "pread":
        return [str(args[0]), "0x...", str(args[1]), hex(args[2])]
    if name == "pwrite":
        data = bytes(args[1])
        shown = _string(data[:32]) + ("..." if len(data) > 32 else "")  # (strace's cut)
        return [str(args[0]), shown, str(len(data)), hex(args[2])]
    if name == "prctl":
        option, arg2, addr, length, pointer = args
        # PR_SET_VMA's last argument points at the mapping's new name (or is 0).
        label = _string(ctypes.string_at(pointer)) if pointer else "NULL"
        return [hex(option), str(arg2), _address(addr), str(length), label]
    return [_plain(arg) for arg in args]


# --- Windows: kernel32's calls -------------------------------------------------------

#: For each kernel32 call the Windows backend makes: what it returns and what
#: each argument is.  ``h``: a handle or an address, in hex; ``p``: a ``PAGE_*``
#: protection; ``m``: a ``FILE_MAP_*`` access; ``s``: a name; ``o``: a pointer
#: the call fills in; ``b``: a BOOL; ``d``: a number.  Results: ``h`` a handle
#: or address (NULL on failure), ``b`` a BOOL, ``v`` nothing.
_KERNEL32 = {
    "CreateFileMappingW": ("h", "hhpdds"),
    "OpenFileMappingW": ("h", "mbs"),
    "MapViewOfFile": ("h", "hmddd"),
    "UnmapViewOfFile": ("b", "h"),
    "FlushViewOfFile": ("b", "hd"),
    "CloseHandle": ("b", "h"),
    "GetCurrentProcess": ("h", ""),
    "DuplicateHandle": ("b", "hhhodbd"),
    "GetFileSizeEx": ("b", "ho"),
    "SetFilePointerEx": ("b", "hdod"),
    "SetEndOfFile": ("b", "h"),
    "GetSystemInfo": ("v", "o"),
    "VirtualProtect": ("b", "hdpo"),
    "VirtualLock": ("b", "hd"),
    "VirtualUnlock": ("b", "hd"),
    "K32QueryWorkingSetEx": ("b", "hod"),
    "PrefetchVirtualMemory": ("b", "hdod"),
    "ReadProcessMemory": ("b", "hhhdo"),
    "WriteProcessMemory": ("b", "hhhdo"),
}
# <winnt.h> and <memoryapi.h>
_PAGE_NAMES = {0x01: "PAGE_NOACCESS", 0x02: "PAGE_READONLY", 0x04: "PAGE_READWRITE",
               0x08: "PAGE_WRITECOPY", 0x20: "PAGE_EXECUTE_READ", 0x40: "PAGE_EXECUTE_READWRITE",
               0x80: "PAGE_EXECUTE_WRITECOPY"}
_FILE_MAP_NAMES = {0x1: "FILE_MAP_COPY", 0x2: "FILE_MAP_WRITE", 0x4: "FILE_MAP_READ"}
_INVALID_HANDLE_VALUE = ctypes.c_void_p(-1).value


def _windows_value(kind: str, value: Any) -> str:
    """Internal: one argument of a kernel32 call, spelled as its header names it."""
    if value is None:
        return "NULL"
    if kind == "h":
        return "INVALID_HANDLE_VALUE" if value == _INVALID_HANDLE_VALUE else hex(value)
    if kind == "p":
        return _PAGE_NAMES.get(value, hex(value))
    if kind == "m":
        return _FILE_MAP_NAMES.get(value, hex(value))
    if kind == "s":
        return _string(value.encode("utf-8", "backslashreplace"))
    if kind == "o":
        return "0x..."
    if kind == "b":
        return "TRUE" if value else "FALSE"
    return str(value)


def _windows_outcome(kind: str, result: Any, err: int) -> str:
    """Internal: what follows ``=`` for a kernel32 call: the result, or the error and its message."""
    if err:
        failed = "NULL" if kind == "h" else "FALSE"
        return f"{failed} (WinError {err}: {backend.oserror(err).strerror})"
    if kind == "v":
        return "(void)"
    return _windows_value(kind, result)


def _outcome(name: str, result: Any, err: int) -> str:
    """Internal: what follows ``=``: the result, or ``-1 ENAME (message)``."""
    if err:
        return f"-1 {errno.errorcode.get(err, str(err))} ({os.strerror(err)})"
    if name in ("mmap", "mremap", "shmat"):
        return hex(result)
    if isinstance(result, int):
        return str(result)
    return "0"  # fstat and close return an object or None when they succeed


def format_call(name: str, args: Tuple[Any, ...], result: Any, err: int) -> str:
    """Return one strace-style line for a call the platform layer made.

    ``name``, ``args``, ``result`` and ``err`` are what the backend passes to
    its tracer: ``err`` is 0 for success, else the errno (for kernel32's
    calls, the Windows error code).  Flags are named
    (``PROT_READ|PROT_WRITE``), addresses are hex, NULL stands for None.
    """
    windows = _KERNEL32.get(name)
    if windows is not None:
        kind, kinds = windows
        arguments = ", ".join(_windows_value(k, arg) for k, arg in zip(kinds, args))
        return f"{name}({arguments}) = {_windows_outcome(kind, result, err)}"
    arguments = ", ".join(_arguments(name, args, result, err))
    return f"{name}({arguments}) = {_outcome(name, result, err)}"


# --- installing a tracer --------------------------------------------------------------

if TYPE_CHECKING:
    from ._platform._common import Tracer as _Tracer

    Target = Union[None, str, "os.PathLike[str]", IO[str], Callable[[Syscall], Any]]

#: The tracer this module installed last (``trace`` blocks restore it on exit).
_installed: Optional[_Tracer] = None


def _install(tracer: Optional[_Tracer]) -> None:
    """Internal: make ``tracer`` the platform layer's tracer (None: tracing off)."""
    global _installed
    _installed = tracer
    backend.set_tracer(tracer)


def _write_to_stderr(record: Syscall) -> None:
    """Internal: the default target; looks ``sys.stderr`` up at each call, so
    ``contextlib.redirect_stderr`` and test harnesses see the lines."""
    stream = sys.stderr
    if stream is not None:
        stream.write(record.line + "\n")
        stream.flush()


def _writer(stream: IO[str]) -> Callable[[Syscall], None]:
    """Internal: a target that writes each line to an open text file."""

    def write(record: Syscall) -> None:
        stream.write(record.line + "\n")
        stream.flush()

    return write


def _make_tracer(emit: Callable[[Syscall], Any]) -> _Tracer:
    """Internal: wrap ``emit`` as the ``fn(name, args, result, err)`` the backend calls.

    A tracer must never change what the traced program does: if the target
    fails (a closed file, a buggy callback), the call it was reporting has
    already happened, and raising now would lose its result (a mapping that
    nobody could unmap).  So the failure becomes a ``RuntimeWarning``.
    """

    def tracer(name: str, args: Tuple[Any, ...], result: Any, err: int) -> None:
        try:
            emit(Syscall(name, args, result, err, format_call(name, args, result, err)))
        except Exception as exc:
            import warnings

            warnings.warn(f"pymmap.trace target failed: {exc!r}", RuntimeWarning, stacklevel=2)

    return tracer


class trace:
    """Trace pymmap's system calls inside a ``with`` block.

    ``target`` says where each line goes:

    * ``None`` (the default): standard error.
    * a ``str`` or ``os.PathLike``: a file, opened for appending on entry and
      closed on exit.
    * an object with a ``write`` method (an open text file, ``io.StringIO``):
      each line is written to it, with a newline.
    * any other callable: called with one :class:`Syscall` record per call;
      ``str(record)`` is the line, and ``record.name``, ``.args``,
      ``.result`` and ``.err`` are the raw values.

    Blocks nest: an inner ``trace`` replaces the outer one until it ends,
    then the outer one (or the ``PYMMAP_TRACE`` tracer) is back::

        with pymmap.trace(lines.append):
            m = pymmap.mmap(-1, 4096)
            m.close()
        print("\\n".join(map(str, lines)))
    """

    def __init__(self, target: Target = None) -> None:
        self.target = target
        #: (tracer to restore, file to close) for each entry not yet exited.
        self._saved: List[Tuple[Optional[_Tracer], Optional[IO[str]]]] = []

    def __enter__(self) -> trace:
        target = self.target
        opened: Optional[IO[str]] = None
        if target is None:
            emit: Callable[[Syscall], Any] = _write_to_stderr
        elif isinstance(target, (str, os.PathLike)):
            opened = open(target, "a", encoding="utf-8")
            emit = _writer(opened)
        elif hasattr(target, "write"):
            emit = _writer(target)  # type: ignore[arg-type]
        elif callable(target):
            emit = target
        else:
            raise TypeError(
                f"trace target must be a file, a path or a callable, not {type(target).__name__}"
            )
        self._saved.append((_installed, opened))
        _install(_make_tracer(emit))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        previous, opened = self._saved.pop()
        _install(previous)
        if opened is not None:
            opened.close()

    def __repr__(self) -> str:
        return f"pymmap.trace({self.target!r})"


def _trace_from_environment(value: Optional[str]) -> Optional[trace]:
    """Internal: start the process-wide trace ``PYMMAP_TRACE`` asks for, if any.

    ``1`` traces to standard error; ``0`` or an empty value means off; any
    other value names a file to append to.  A file that cannot be opened is
    reported with a warning rather than making ``import pymmap`` fail.
    """
    if not value or value == "0":
        return None
    started = trace(None if value == "1" else value)
    try:
        started.__enter__()
    except OSError as exc:
        import warnings

        warnings.warn(f"PYMMAP_TRACE: cannot open {value!r}: {exc}", RuntimeWarning, stacklevel=2)
        return None
    return started


#: The trace started by ``PYMMAP_TRACE`` when pymmap was imported, or None.
environment_trace = _trace_from_environment(os.environ.get("PYMMAP_TRACE"))
