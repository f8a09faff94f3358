"""A Python class that lends memory to C code on CPython 3.8-3.11, through its type object.

C code borrows another object's memory through the *buffer protocol*: the
object's type has two function pointers, ``bf_getbuffer`` and
``bf_releasebuffer``, in a ``PyBufferProcs`` that its type object points
to (``tp_as_buffer``).  From CPython 3.12 on (PEP 688), a class written in
Python fills them by defining ``__buffer__`` and ``__release_buffer__``.
Before 3.12, a class written in Python cannot lend a buffer at all...
except that every class *has* a ``PyBufferProcs`` (a heap type carries one
inside its type object), empty for a Python class.

:func:`lends` fills it with the two functions of ``pickle.PickleBuffer``, a
C type whose ``bf_getbuffer`` lends whatever object its ``view.obj`` field
points to.  The object's first two slots (:class:`Lender`) sit exactly
where a PickleBuffer keeps ``view.buf`` and ``view.obj``, so
``memoryview(obj)`` lends ``obj._lent``'s buffer, and runs C code only.
Errors are real Python exceptions, raised in C (a callback written with
ctypes could not do that: an exception in a ctypes callback is printed and
lost).  Nothing is assumed: :func:`lends` checks every offset it uses on
live objects first, and leaves the class alone (``memoryview(obj)`` then
raises ``TypeError``, as before) if any check fails.

On CPython 3.12+ the same slots serve a smaller purpose: the release
(:func:`quiet_subclass`).  PyPy's classes have no such layout, and are left
as they are.  What a map lends, and when, is :mod:`pymmap.exports`' story.
"""

from __future__ import annotations

import ctypes
import weakref

from ._interpreter import CALLS_BUFFER_DUNDER, PYPY, pickle_buffer_type

TYPE_CHECKING = False  # typing's flag, without importing typing: see pymmap/__init__.py
if TYPE_CHECKING:
    from typing import Any, List, Tuple, Type, TypeVar

__all__ = ["LENDING_CLASSES", "Lender", "lends", "quiet_pending", "quiet_subclass"]


class Lender:
    """Base class of the objects that lend memory through CPython 3.8-3.11's buffer slots.

    Its two slots come first in every instance, at the places where a
    ``pickle.PickleBuffer`` keeps its ``Py_buffer``'s ``buf`` and ``obj``
    fields: ``_lent`` is the object to lend instead (see :func:`lends`);
    ``_buffer`` stands for ``buf`` and is never used.
    """

    __slots__ = ("_buffer", "_lent")


#: The classes whose slots :func:`lends` filled (CPython 3.8-3.11, when its checks pass).
LENDING_CLASSES: List[type] = []

if TYPE_CHECKING:
    _L = TypeVar("_L", bound=Type[Lender])


_POINTER = ctypes.sizeof(ctypes.c_void_p)
# Where tp_as_buffer lies in a PyTypeObject: after the object header
# (``object.__basicsize__`` bytes: ob_refcnt and ob_type, and on a
# free-threaded build the owning thread, flags and a second count as well),
# ob_size, and 17 pointer-sized fields (tp_name, tp_basicsize, tp_itemsize,
# tp_dealloc, tp_vectorcall_offset, tp_getattr, tp_setattr, tp_as_async,
# tp_repr, tp_as_number, tp_as_sequence, tp_as_mapping, tp_hash, tp_call,
# tp_str, tp_getattro, tp_setattro).  Checked before use.  (PyPy's objects
# have no such layout, and no __basicsize__: it never reads this.)
_TP_AS_BUFFER = getattr(object, "__basicsize__", 2 * _POINTER) + 18 * _POINTER


def _pointer_at(address: int) -> int:
    """Internal: the pointer stored at ``address`` (0 for NULL)."""
    return ctypes.c_void_p.from_address(address).value or 0


def _address(obj: object) -> int:
    """Internal: the address of an object (CPython documents ``id()`` as exactly that)."""
    return id(obj)


def _basicsize(kind: type) -> int:
    """Internal: the size of a ``kind`` instance's fixed part, in bytes (``tp_basicsize``)."""
    return int(kind.__basicsize__)


def _field_offset(obj: object, value: object) -> int:
    """Internal: the offset in ``obj`` of the first pointer field that holds ``value``, or -1."""
    base = _address(obj)
    target = _address(value)
    for offset in range(0, _basicsize(type(obj)), _POINTER):
        if _pointer_at(base + offset) == target:
            return offset
    return -1


def _slot_procs(cls: type, lends_already: bool) -> int:
    """Internal: the address of ``cls``'s own ``PyBufferProcs``, or 0 if it cannot be found.

    It must lie inside the type object, and hold what the class body gave
    it: nothing (``lends_already`` False), or, for a class with PEP 688's
    ``__buffer__`` and ``__release_buffer__``, CPython's two slot functions.
    """
    base = _address(cls)
    procs = _pointer_at(base + _TP_AS_BUFFER)
    inside = base < procs and procs + 2 * _POINTER <= base + _basicsize(type(cls))
    if not inside:
        return 0
    filled = (bool(_pointer_at(procs)), bool(_pointer_at(procs + _POINTER)))
    return procs if filled == (lends_already, lends_already) else 0


def _picklebuffer_functions() -> Tuple[int, int]:
    """Internal: ``pickle.PickleBuffer``'s ``bf_getbuffer`` and ``bf_releasebuffer`` (0 if not found)."""
    procs = _pointer_at(_address(pickle_buffer_type()) + _TP_AS_BUFFER)
    if not procs:
        return 0, 0
    return _pointer_at(procs), _pointer_at(procs + _POINTER)


def _install(cls: type) -> bool:
    """Internal: give ``cls`` PickleBuffer's buffer functions, if every check passes (3.8-3.11)."""
    source = bytearray(b"x")
    # Where a PickleBuffer keeps view.obj, and where instances of cls keep _lent.
    probe: Any = object.__new__(cls)
    probe._lent = source
    if _field_offset(pickle_buffer_type()(source), source) != _field_offset(probe, source):
        return False
    getbuffer, releasebuffer = _picklebuffer_functions()
    procs = _slot_procs(cls, lends_already=False)
    if not (getbuffer and releasebuffer and procs):
        return False
    ctypes.c_void_p.from_address(procs).value = getbuffer
    # PickleBuffer's bf_releasebuffer does nothing (its buffers are released
    # by the object they came from); it is there so that borrowers such as
    # numpy know that a buffer must be held, not just its pointer copied.
    ctypes.c_void_p.from_address(procs + _POINTER).value = releasebuffer
    ctypes.pythonapi.PyType_Modified(ctypes.py_object(cls))
    return bytes(memoryview(probe)) == b"x"


def _quiet_release(cls: type) -> bool:
    """Internal: on CPython 3.12+, release ``cls``'s buffers in C, without ``__release_buffer__``.

    A class with ``__release_buffer__`` gets a C slot that calls it for
    every export given back.  The lending view has counted the release
    already, so the call only costs time; and at interpreter shutdown the
    collector may have cleared the class's dictionary before the last
    buffer goes, and then the call fails ("Exception ignored in
    __release_buffer__").  PickleBuffer's C function, which does nothing,
    takes the slot's place; the slot stays filled, which is what borrowers
    such as numpy look at.  Returns False (and changes nothing) if the
    checks fail: ``__release_buffer__`` then keeps doing the job.
    """
    _, releasebuffer = _picklebuffer_functions()
    procs = _slot_procs(cls, lends_already=True)
    if not (releasebuffer and procs):
        return False
    ctypes.c_void_p.from_address(procs + _POINTER).value = releasebuffer
    ctypes.pythonapi.PyType_Modified(ctypes.py_object(cls))
    return True


def lends(cls: _L) -> _L:
    """Class decorator: let instances of ``cls`` (a :class:`Lender`) lend ``self._lent``'s buffer.

    On CPython 3.8-3.11 this fills ``cls``'s buffer slots (see the module
    docstring); subclasses inherit them.  On CPython 3.12+ ``__buffer__``
    lends, and this only makes the release a C no-op (:func:`_quiet_release`).
    PyPy's classes are left as they are.
    """
    if PYPY:
        return cls
    if CALLS_BUFFER_DUNDER:
        # (Subclasses get CPython's Python-calling release slot again, since
        # they find the method in their MRO: see quiet_subclass.)
        _quiet_later(cls)
    elif _install(cls):
        LENDING_CLASSES.append(cls)
    return cls


def quiet_subclass(cls: type) -> None:
    """Give a new subclass of a lending class the same C release slot (``__init_subclass__``).

    A subclass that defines its own ``__release_buffer__`` keeps it.
    """
    if not PYPY and CALLS_BUFFER_DUNDER and "__release_buffer__" not in cls.__dict__:
        _quiet_later(cls)


#: The classes whose release slot waits for :func:`quiet_pending` (3.12+):
#: weakly held, as before this wait a subclass made and dropped was let go.
_QUIET_PENDING: weakref.WeakSet[type] = weakref.WeakSet()
#: True once :func:`quiet_pending` has run: later classes are made quiet at once.
_quieted = False


def _quiet_later(cls: type) -> None:
    """Internal: make ``cls``'s release slot quiet when a buffer is first lent (or now, if one has been).

    The quiet function is PickleBuffer's, and importing PickleBuffer costs
    milliseconds that ``import pymmap`` should not pay for programs that
    lend no buffer.  Until then, ``__release_buffer__`` does the job, as it
    does where the checks fail.  Making a class quiet twice (two threads
    here at once) writes the same function twice: harmless, so no lock.
    """
    if not _quieted:
        _QUIET_PENDING.add(cls)
    if _quieted:  # (also when quiet_pending ran meanwhile, and may have missed cls)
        _quiet_release(cls)


def quiet_pending() -> None:
    """Make the release slots of the classes :func:`lends` saw quiet (exports calls it at the first lend)."""
    global _quieted
    _quieted = True  # (first: a class added from now on is made quiet by _quiet_later itself)
    for cls in list(_QUIET_PENDING):
        _quiet_release(cls)
