"""What pymmap needs to know about the interpreter that runs it, said once.

pymmap runs on CPython and on PyPy.  Both run the same code; the few places
where they differ in a way that matters for memory that Python does not
own are named here, and every other module asks these names rather than
``sys.implementation`` itself.
"""

import sys

__all__ = ["CALLS_BUFFER_DUNDER", "KEEPS_EXPORTER", "PYPY"]

#: True on PyPy.
PYPY = sys.implementation.name == "pypy"

#: True where a ``memoryview`` of an object, and a ``ctypes`` object made
#: with ``from_buffer``, hold a reference to that object (CPython).  PyPy's
#: keep only the raw memory: there, an array that such a view was made from
#: may be collected while the view is still in use.
KEEPS_EXPORTER = not PYPY

#: True where C code asks a class written in Python for a buffer through
#: its ``__buffer__`` method (PEP 688: CPython 3.12 and later, and PyPy).
CALLS_BUFFER_DUNDER = PYPY or sys.version_info >= (3, 12)
