"""The platform layer: the only code in pymmap that talks to the operating system.

The backend is chosen once, here, by ``os.name``: ``posix`` binds the C
library's ``mmap(2)`` family with ctypes (``posix.py``), ``nt`` binds
kernel32's file mappings (``windows.py``, which reaches Windows only on its
first call).  The backends export the same names where the meaning is the
same (:data:`REQUIRED`, in ``_common.py``), and each has a few of its own
(:data:`OPTIONAL`);
the layers above ask the backend what it can do (``hasattr``, the ``HAS_*``
flags), never which system they run on.  Any other platform gets an
``ImportError`` naming it.  ``tests/test_platform_contract.py`` holds both
backends to this.
"""

import os

from ._common import OPTIONAL, REQUIRED

if os.name == "posix":
    from . import posix as backend
elif os.name == "nt":
    from . import windows as backend  # type: ignore[no-redef]
else:  # pragma: no cover - exercised only on other systems
    raise ImportError(f"pymmap does not support os.name == {os.name!r}")

__all__ = ["OPTIONAL", "REQUIRED", "backend"]
