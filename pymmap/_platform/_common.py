"""What both backends share: the tracer hook, and the path for calls the ``os`` module makes.

Every call a backend makes into the operating system goes through one
function of that backend (``_syscall`` on POSIX, ``_call_raw`` on
Windows), which tells the tracer about it when one is installed
(:func:`pymmap.trace`).  The tracer itself, and the wrapper for the few
calls that Python's ``os`` module already makes for us (``fstat``, ``dup``,
``ftruncate``, ``close``), are the same on both, and live here.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's flag, without importing typing: see pymmap/__init__.py
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Tuple

    #: ``tracer(name, args, result, err)``: ``err`` is 0 on success, else the
    #: errno (POSIX) or Windows error code.
    Tracer = Callable[[str, Tuple[Any, ...], Any, int], None]

__all__ = ["OPTIONAL", "REQUIRED", "KernelCopies", "os_call", "set_tracer", "tracer"]

#: What every backend provides, with the same meaning (each is documented
#: where it is defined: ``posix.py``, ``windows.py``).  A call the system
#: lacks still exists, and raises ``OSError`` (ENOSYS or
#: ``ERROR_NOT_SUPPORTED``); the ``HAS_*`` flags say which work.
REQUIRED: Tuple[str, ...] = (
    # sizes, constants and what the system can do
    "PAGESIZE", "ALLOCATIONGRANULARITY", "CONSTANTS", "PUBLIC_CONSTANTS", "MAP_FAILED",
    "HAS_REMAP", "HAS_MADVISE", "HAS_ANON_NAME", "HAS_SHM_OPEN", "HAS_SYSV_SHM",
    # one mapping's life
    "map_memory", "unmap", "placeholder", "remap", "flush", "advise", "protect", "lock", "unlock",
    "resident", "set_anon_name", "huge_page_size",
    # files and descriptors
    "file_size", "is_regular_file", "device_size", "truncate", "dup", "close_fd",
    # copies and searches in place (not system calls)
    "move", "find", "find_byte", "rfind_byte",
    # copies the kernel makes, which report a fault as an error (checked maps)
    "kernel_copies",
    # shared memory by name
    "shm_open", "shm_unlink", "shm_get", "shm_attach", "shm_detach", "shm_stat", "shm_remove",
    # errors and the trace
    "oserror", "unsupported", "set_tracer",
)

#: What a backend may provide besides, where its system has it: the layers
#: above look these up with ``getattr``/``hasattr`` and do without them.
OPTIONAL: Dict[str, str] = {
    "map_named": "named mappings (Windows' tagname); a backend with it has handle_of and resize too",
    "handle_of": "the OS handle of a descriptor, EBADF if there is none (Windows)",
    "resize": "resize a view together with its file, in the order the system needs (Windows)",
    "RESIDENT_IS_WORKING_SET": "resident() reports the process's working set, not the file cache (Windows)",
    "fill_holes": "give a forked child zero pages where MADV_DONTFORK left it holes (Linux)",
    "UNSAFE_ADVICE": "madvise advice that makes pages fault on access, which pymmap refuses (Linux)",
    "shmid_ds": "the System V segment description shm_stat returns (Linux)",
    "page_flags": "each page's /proc/self/pagemap word: mapped, swapped, private (Linux)",
    "cachestat": "the page cache's dirty and writeback counts for a range of a file (Linux 6.5+)",
    "working_set": "each page's QueryWorkingSetEx attributes: in the working set, shared (Windows)",
}

class KernelCopies:
    """How checked maps reach their memory: copies made by the kernel (``kernel_copies()``).

    ``read(address, count)`` returns the bytes at ``address``: all ``count``
    of them, or fewer if the copy met a page it could not read (then the
    bytes before that page).  If not even the first byte can be read, it
    raises ``OSError`` with the system's error.  ``write(address, data)``
    stores the bytes of ``data`` the same way, and returns how many it
    stored.  ``name`` says which calls do it.
    """

    __slots__ = ("name", "read", "write")

    def __init__(self, name: str, read: Callable[[int, int], bytes], write: Callable[[int, bytes], int]):
        self.name = name
        self.read = read
        self.write = write

    def __repr__(self) -> str:
        return f"KernelCopies({self.name!r})"


#: The active tracer, or None.  The backends read it after every call.
tracer: Optional[Tracer] = None


def set_tracer(new: Optional[Tracer]) -> None:
    """Install ``new(name, args, result, err)``, called after every system call; None turns tracing off."""
    global tracer
    tracer = new


def os_call(name: str, fn: Callable[..., Any], args: Tuple[Any, ...]) -> Any:
    """Call ``fn(*args)``, a function of the ``os`` module, and tell the tracer.

    ``os`` raises ``OSError`` itself; the tracer sees -1 and the errno then,
    as it would from the C call.
    """
    try:
        result = fn(*args)
    except OSError as exc:
        if tracer is not None:
            tracer(name, args, -1, exc.errno or 0)
        raise
    if tracer is not None:
        tracer(name, args, 0 if result is None else result, 0)
    return result
