"""What pymmap needs to know about the interpreter that runs it, said once.

pymmap runs on CPython and on PyPy.  Both run the same code; the few places
where they differ in a way that matters for memory that Python does not
own, or for threads, are named here, and every other module asks these
names rather than ``sys.implementation`` itself.
"""

import _thread
import sys

__all__ = [
    "CALLS_BUFFER_DUNDER", "FREES_AT_ONCE", "FREE_THREADED", "KEEPS_EXPORTER", "PYPY", "Lock", "RLock",
    "pickle_buffer_type",
]

#: ``threading.Lock`` and ``threading.RLock``, taken from the C module that
#: ``threading`` wraps (on CPython 3.8 and later and on PyPy,
#: ``threading.RLock()`` makes exactly this type).  Importing ``threading``
#: itself, with the warnings, weak sets and itertools it brings, would be a
#: tenth of ``import pymmap``; pymmap needs only its two locks.
Lock = _thread.allocate_lock
RLock = _thread.RLock

#: True on PyPy.
PYPY = sys.implementation.name == "pypy"

#: True where a ``memoryview`` of an object, and a ``ctypes`` object made
#: with ``from_buffer``, hold a reference to that object (CPython).  PyPy's
#: keep only the raw memory: there, an array that such a view was made from
#: may be collected while the view is still in use.
KEEPS_EXPORTER = not PYPY


def pickle_buffer_type() -> type:
    """``pickle.PickleBuffer``, whose C buffer functions pymmap lends through (buffer_slots, exports).

    Imported when a map first lends a buffer, not with pymmap: even
    CPython's C module ``_pickle`` (which spares us pickle.py, and ``re``
    with it) imports ``functools`` and ``collections`` as it starts, a few
    milliseconds that a program lending no buffer should not pay.  PyPy
    has no ``_pickle``; its pickle gives its own type.
    """
    try:
        from _pickle import PickleBuffer
    except ImportError:  # pragma: no cover - PyPy
        from pickle import PickleBuffer
    return PickleBuffer

#: True where C code asks a class written in Python for a buffer through
#: its ``__buffer__`` method (PEP 688: CPython 3.12 and later, and PyPy).
CALLS_BUFFER_DUNDER = PYPY or sys.version_info >= (3, 12)


def _free_threaded() -> bool:
    """Internal: True on a free-threaded build of CPython (``--disable-gil``, 3.13 and later).

    The build decides, not whether the GIL happens to be on now: a
    free-threaded interpreter may turn its GIL on while it runs (to import
    an extension module that needs it), but code written for that build
    must not count on it.  ``sys.abiflags`` carries a ``t`` on such builds
    (``sysconfig`` says the same, but costs milliseconds to import); where
    the attribute is missing (Windows before 3.14), ``sysconfig`` is asked.
    """
    if sys.version_info < (3, 13) or PYPY:
        return False
    abiflags = getattr(sys, "abiflags", None)
    if abiflags is not None:
        return "t" in abiflags
    import sysconfig  # pragma: no cover - Windows before 3.14

    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))  # pragma: no cover


#: True on a free-threaded CPython: threads run Python code truly at the
#: same time, and no C call is a step that other threads cannot interrupt.
#: Every other interpreter pymmap runs on has a global interpreter lock: a
#: C function that does not let it go (a ``memcpy`` inside a ctypes slice,
#: a memoryview store) runs while no other Python thread does.  That is
#: what makes each method of the C module one step on such builds, and
#: what lets pymmap read without a lock there (see :mod:`pymmap.facade`).
FREE_THREADED = _free_threaded()

#: True where an object is freed the moment its last reference goes
#: (CPython's reference counting).  PyPy frees objects when its collector
#: runs.  Nothing unsafe follows from either: this only says whether it is
#: worth waiting a moment for a reference to go (see
#: :meth:`pymmap.region.MappedRegion.close`).
FREES_AT_ONCE = not PYPY
