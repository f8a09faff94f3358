"""The platform layer: the only code in pymmap that talks to the operating system.

The backend is chosen once, here, by ``os.name``: ``posix`` binds the C
library's ``mmap(2)`` family with ctypes (``posix.py``), ``nt`` binds
kernel32's file mappings (``windows.py``, which reaches Windows only on its
first call).  The backends export the same names where the meaning is the
same (:data:`REQUIRED`), and each has a few of its own (:data:`OPTIONAL`);
the layers above ask the backend what it can do (``hasattr``, the ``HAS_*``
flags), never which system they run on.  Any other platform gets an
``ImportError`` naming it.  ``tests/test_platform_contract.py`` holds both
backends to this.
"""

import os
from typing import Dict, Tuple

#: What every backend provides, with the same meaning (each is documented
#: where it is defined: ``posix.py``, ``windows.py``).  A call the system
#: lacks still exists, and raises ``OSError`` (ENOSYS or
#: ``ERROR_NOT_SUPPORTED``); the ``HAS_*`` flags say which work.
REQUIRED: Tuple[str, ...] = (
    # sizes, constants and what the system can do
    "PAGESIZE", "ALLOCATIONGRANULARITY", "CONSTANTS", "PUBLIC_CONSTANTS", "MAP_FAILED",
    "HAS_REMAP", "HAS_MADVISE", "HAS_ANON_NAME", "HAS_SHM_OPEN", "HAS_SYSV_SHM",
    # one mapping's life
    "map", "unmap", "placeholder", "remap", "sync", "advise", "protect", "lock", "unlock",
    "residency", "set_anon_name", "huge_page_size",
    # files and descriptors
    "file_size", "is_regular_file", "device_size", "truncate", "dup", "close_fd",
    # copies and searches in place (not system calls)
    "move", "find", "find_byte", "rfind_byte",
    # shared memory by name
    "shm_open", "shm_unlink", "shm_get", "shm_attach", "shm_detach", "shm_stat", "shm_remove",
    # errors and the trace
    "oserror", "set_tracer",
)

#: What a backend may provide besides, where its system has it: the layers
#: above look these up with ``getattr``/``hasattr`` and do without them.
OPTIONAL: Dict[str, str] = {
    "map_named": "named mappings (Windows' tagname); a backend with it has handle_of and resize too",
    "handle_of": "the OS handle of a descriptor, EBADF if there is none (Windows)",
    "resize": "resize a view together with its file, in the order the system needs (Windows)",
    "RESIDENCY_IS_WORKING_SET": "residency() reports the process's working set, not the file cache (Windows)",
    "fill_holes": "give a forked child zero pages where MADV_DONTFORK left it holes (Linux)",
    "UNSAFE_ADVICE": "madvise advice that makes pages fault on access, which pymmap refuses (Linux)",
    "shmid_ds": "the System V segment description shm_stat returns (Linux)",
}

if os.name == "posix":
    from . import posix as backend
elif os.name == "nt":
    from . import windows as backend  # type: ignore[no-redef]
else:  # pragma: no cover - exercised only on other systems
    raise ImportError(f"pymmap does not support os.name == {os.name!r}")

__all__ = ["OPTIONAL", "REQUIRED", "backend"]
