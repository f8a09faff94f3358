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

from typing import Dict

from ._platform import backend as _backend
from .facade import ACCESS_COPY, ACCESS_DEFAULT, ACCESS_READ, ACCESS_WRITE, mmap
from .region import MappedRegion
from .shm import shm_open, shm_unlink, sysv_attach, sysv_remove
from .trace import trace

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
