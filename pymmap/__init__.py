"""pymmap: Python's ``mmap`` module, written in Python on top of ctypes.

``import pymmap as mmap`` gives the same ``mmap`` class, constants and
errors as the standard library's C module, with no compiler needed and
every step from ``m[0]`` down to the ``mmap(2)`` system call readable in
Python.  See the README for the tour (``python -m pymmap tour``).

The layers, from the top:

* :class:`pymmap.mmap` (``facade.py``): the stdlib-compatible object —
  slicing, the file position, ``find``, access modes.
* :class:`pymmap.MappedRegion` (``region.py``): owns one mapping and
  exposes it as a ctypes array.
* ``pymmap._platform``: the system calls, bound with ctypes.
"""

from __future__ import annotations

import sys

from ._platform import backend as _backend
from .facade import ACCESS_COPY, ACCESS_DEFAULT, ACCESS_READ, ACCESS_WRITE, mmap
from .region import MappedRegion
from .shm import shm_open, shm_unlink, sysv_attach, sysv_remove
from .trace import trace

# ``typing`` is for type checkers only: no module that ``import pymmap``
# loads imports it at run time (it would cost more than pymmap's own code
# to load).  Each such module says ``TYPE_CHECKING = False`` and imports
# its typing names under ``if TYPE_CHECKING:``, which type checkers read as
# true (they treat any name TYPE_CHECKING as typing's), and its annotations
# stay unevaluated strings (``from __future__ import annotations``).
# tests/test_import.py holds it to that.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict

__version__ = "0.1.0"

#: ``mmap.error`` is ``OSError``, as in the stdlib.
error = OSError

#: The size of a memory page in bytes.
PAGESIZE: int = _backend.PAGESIZE
#: Offsets given to mmap() must be multiples of this (the page size on POSIX,
#: 64 KiB on Windows).
ALLOCATIONGRANULARITY: int = _backend.ALLOCATIONGRANULARITY

#: This platform's PROT_*, MAP_*, MADV_* and MS_* constants, by name (none on
#: Windows, as in the stdlib).
CONSTANTS: Dict[str, int] = dict(_backend.PUBLIC_CONSTANTS)
globals().update(CONSTANTS)

if TYPE_CHECKING:
    # The same constants as a type checker sees them: their names, per
    # platform, as typeshed's mmap.pyi declares the stdlib's (never run:
    # the values come from the platform's table above, their one source).
    # On Linux the set is every architecture's (MAP_32BIT is x86's, MAP_SYNC
    # is missing on a few); tests/test_typing.py keeps this list and the
    # tables in step.
    if sys.platform != "win32":
        MADV_DONTNEED: int
        MADV_FREE: int
        MADV_NORMAL: int
        MADV_RANDOM: int
        MADV_SEQUENTIAL: int
        MADV_WILLNEED: int
        MAP_ANON: int
        MAP_ANONYMOUS: int
        MAP_FIXED: int
        MAP_PRIVATE: int
        MAP_SHARED: int
        MS_ASYNC: int
        MS_INVALIDATE: int
        MS_SYNC: int
        PROT_EXEC: int
        PROT_NONE: int
        PROT_READ: int
        PROT_WRITE: int
    if sys.platform == "linux":
        MADV_COLD: int
        MADV_DODUMP: int
        MADV_DOFORK: int
        MADV_DONTDUMP: int
        MADV_DONTFORK: int
        MADV_HUGEPAGE: int
        MADV_HWPOISON: int
        MADV_KEEPONFORK: int
        MADV_MERGEABLE: int
        MADV_NOHUGEPAGE: int
        MADV_PAGEOUT: int
        MADV_POPULATE_READ: int
        MADV_POPULATE_WRITE: int
        MADV_REMOVE: int
        MADV_SOFT_OFFLINE: int
        MADV_UNMERGEABLE: int
        MADV_WIPEONFORK: int
        MAP_32BIT: int
        MAP_DENYWRITE: int
        MAP_EXECUTABLE: int
        MAP_GROWSDOWN: int
        MAP_HUGETLB: int
        MAP_LOCKED: int
        MAP_NONBLOCK: int
        MAP_NORESERVE: int
        MAP_POPULATE: int
        MAP_SHARED_VALIDATE: int
        MAP_STACK: int
        MAP_SYNC: int
        MREMAP_MAYMOVE: int
    if sys.platform == "darwin":
        MADV_CAN_REUSE: int
        MADV_FREE_REUSABLE: int
        MADV_FREE_REUSE: int
        MADV_PAGEOUT: int
        MADV_ZERO: int
        MADV_ZERO_WIRED_PAGES: int
        MAP_32BIT: int
        MAP_HASSEMAPHORE: int
        MAP_JIT: int
        MAP_NOCACHE: int
        MAP_NOEXTEND: int
        MAP_NORESERVE: int
        MAP_RESILIENT_CODESIGN: int
        MAP_RESILIENT_MEDIA: int
        MAP_TPRO: int
        MAP_TRANSLATED_ALLOW_EXECUTE: int
        MAP_UNIX03: int
    if sys.platform.startswith("freebsd"):
        MADV_AUTOSYNC: int
        MADV_CORE: int
        MADV_NOCORE: int
        MADV_NOSYNC: int
        MADV_PROTECT: int
        MAP_32BIT: int
        MAP_ALIGNED_SUPER: int
        MAP_EXCL: int
        MAP_GUARD: int
        MAP_HASSEMAPHORE: int
        MAP_NOCORE: int
        MAP_NOSYNC: int
        MAP_PREFAULT_READ: int
        MAP_STACK: int

__all__ = [
    "mmap",
    "MappedRegion",
    "shm_open",
    "shm_unlink",
    "sysv_attach",
    "sysv_remove",
    "trace",
    "error",
    "PAGESIZE",
    "ALLOCATIONGRANULARITY",
    "ACCESS_DEFAULT",
    "ACCESS_READ",
    "ACCESS_WRITE",
    "ACCESS_COPY",
    "CONSTANTS",
    *sorted(CONSTANTS),
]
