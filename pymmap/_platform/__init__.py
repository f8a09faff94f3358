"""The platform layer: the only code in pymmap that talks to the operating system.

The backend is chosen once, here, by ``os.name``: ``posix`` binds the C
library's ``mmap(2)`` family with ctypes.  Every backend exports the same
names (see ``posix.__all__``), so the layers above never ask which system
they run on.  Any other platform gets an ``ImportError`` naming it.
"""

import os

if os.name == "posix":
    from . import posix as backend
else:  # pragma: no cover - exercised only on other systems
    raise ImportError(f"pymmap does not support os.name == {os.name!r} yet")

__all__ = ["backend"]
