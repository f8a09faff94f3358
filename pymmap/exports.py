"""Buffer exports: lending a map's memory to C code, and knowing when it comes back.

``re.search(pattern, m)``, ``hashlib.sha256(m)``, ``struct.unpack_from(fmt,
m, 8)``, ``numpy.frombuffer(m)``: none of these copy the map.  They use the
*buffer protocol*, the way C code borrows another object's memory.  A C type
that has memory to lend fills two function pointers in its type object
(``tp_as_buffer``, a ``PyBufferProcs``):

- ``bf_getbuffer(obj, view, flags)`` fills a ``Py_buffer`` ``view``: the
  address of the memory, its length, whether it is read-only, and a new
  reference to the lender in ``view->obj``.  If it cannot lend (the caller
  wants to write read-only memory, or the object is closed), it sets an
  exception and returns -1.
- ``bf_releasebuffer(obj, view)`` is called when the borrower is done.

Between the two, the memory must stay where it is.  So the stdlib's
``mmap`` counts its *exports* (one more in ``bf_getbuffer``, one less in
``bf_releasebuffer``), and ``close()`` and ``resize()`` raise ``BufferError``
("cannot close exported pointers exist") while the count is not zero.

How pymmap lends, per interpreter
---------------------------------
**CPython.**  Every export is an export of one ``memoryview`` of the map's
memory, the map's *lending view*.  A memoryview counts its own exports
exactly, in C (its ``release()`` raises ``BufferError`` while any is
alive): that count is the map's export count, with no bookkeeping in
Python.  The lending view is made from the region's ctypes array, so even
a borrower that outlives every rule keeps the memory mapped (see
:class:`~pymmap.lease.Lease`).

- On 3.12 and later (PEP 688), C code asks a class written in Python for a
  buffer through its ``__buffer__`` method; ``pymmap.mmap.__buffer__``
  returns an export of the lending view, a memoryview of the borrower's own
  (:meth:`Exports.buffer`): the lending view itself is shared, and another
  thread could release it before the borrower has borrowed from it.
- Before 3.12 a class written in Python cannot lend a buffer at all... except
  that every class *has* a ``PyBufferProcs`` (a heap type carries one inside
  its type object), empty for a Python class.  :func:`lends` fills it with the
  two functions of ``pickle.PickleBuffer``, a C type whose ``bf_getbuffer``
  lends whatever object its ``view.obj`` field points to.  The object's
  first two slots (:class:`Lender`) sit exactly where a PickleBuffer keeps
  ``view.buf`` and ``view.obj``: the map's ``_lent`` slot holds its
  :class:`Exports`, whose own ``_lent`` slot holds the lending view.  So
  ``memoryview(m)`` runs C code only: PickleBuffer's function asks the
  Exports object, which asks the lending view.  Errors are real Python
  exceptions, raised in C (a callback written with ctypes could not do
  that: an exception in a ctypes callback is printed and lost).  Nothing
  is assumed: :func:`lends` checks every offset it uses on live objects
  first, and leaves the class alone (``memoryview(m)`` then raises
  ``TypeError``, as before) if any check fails.

**Threads.**  On CPython 3.12+ every buffer handed out is a memoryview of
its borrower's own, an export of the lending view: none can be released
by another thread, and each is counted the moment it exists, so a
``resize()`` or ``close()`` in another thread either sees it
(``BufferError``) or happened first.  (On 3.8-3.11 C code borrows from the
lending view in C, through the slots; a borrow made while another thread
resizes the map finds it released, and raises ``ValueError``: README,
Threads.)  What a borrower then reads or writes through it is raw
memory, not a step of the map's.  The lending views themselves are made,
replaced and released only with the map's lock held (by :meth:`start`
and :meth:`stop`, which the map calls from ``resize()``, ``close()`` and
``protect()``), or under this module's lock when first made.

**PyPy** calls ``__buffer__`` but never ``__release_buffer__``, so there
``close()`` cannot wait for the views it lent.  Instead, the map's address
range is *pinned* once it has lent anything: it stays mapped (zero-filled
after ``close()``) until the process ends, so that a borrower can never
reach unmapped memory (PyPy's memoryviews keep no array alive).  A view
lent is made over cffi's objects (see :func:`pymmap.copying.view_of`),
which the JIT reads at full speed.  A record gets a ctypes array of its own
(a *holder*), which it keeps in an attribute, and ``close()`` waits for it
as for an export (the collector runs first, so that a dropped record
counts no longer).
"""

import ctypes
import gc
import os
import pickle
import sys
import threading
import weakref
from itertools import count
from typing import Any, Dict, List, Optional, Set, Tuple, Type, TypeVar

from ._interpreter import CALLS_BUFFER_DUNDER, PYPY
from .copying import view_of
from .errors import closed, inaccessible
from .region import MappedRegion

# One lock for every map's export state (each critical section is short):
# start, stop and renew must not interleave.  (A child forked while another
# thread held it gets a new one.)
_LOCK = threading.Lock()


def _new_lock_after_fork() -> None:
    global _LOCK
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):  # (not on Windows, which has no fork)
    os.register_at_fork(after_in_child=_new_lock_after_fork)

# CPython before 3.12.7: the lending views of every map that lends, kept
# reachable from here.  Those versions' garbage collector can clear a
# memoryview that still has borrowers (memoryview's tp_clear drops its
# buffer and a later release touches freed memory: SIGSEGV), which happens
# when a map and a buffer borrowed from it end up in the same garbage
# cycle.  A view reachable from this module is never in that garbage: it is
# let go by stop(), or by the Exports' finalizer, and then freed in the
# ordinary way, once its last borrower is gone.  (Fixed in CPython 3.12.7
# and 3.13: python/cpython#77894, a memoryview is cleared only when
# nothing borrows from it.)
_KEPT: Dict[int, Tuple[memoryview, memoryview]] = {}
_KEEPS_VIEWS = not PYPY and sys.version_info < (3, 12, 7)

__all__ = ["LENDS_FROM_C", "Exports", "Lender", "lends", "quiet_subclass"]

_PYBUF_WRITABLE = 0x1  # inspect.BufferFlags.WRITABLE
_PickleBuffer = pickle.PickleBuffer
#: CPython 3.12+: every buffer the map lends is an export of its lending view.
_EXPORTS_ITS_VIEW = CALLS_BUFFER_DUNDER and not PYPY


def _is_released(view: memoryview) -> bool:
    """Internal: True if ``view.release()`` has been called (memoryview has no flag for it)."""
    try:
        view.readonly  # noqa: B018 - every attribute of a released view raises ValueError
    except ValueError:
        return True
    return False


def _released_view() -> memoryview:
    """Internal: a released memoryview: lending it fails with ``ValueError``."""
    view = memoryview(b"")
    view.release()
    return view


#: What a closed map lends: nothing (``ValueError``).
_NOTHING = _released_view()


def _released_borrow() -> pickle.PickleBuffer:
    """Internal: a released PickleBuffer: ``memoryview()`` of it raises ``ValueError``."""
    borrow = _PickleBuffer(b"")
    borrow.release()
    return borrow


_NO_BORROW = _released_borrow()


class Lender:
    """Base class of the objects that lend memory through CPython 3.8-3.11's buffer slots.

    Its two slots come first in every instance, at the places where a
    ``pickle.PickleBuffer`` keeps its ``Py_buffer``'s ``buf`` and ``obj``
    fields: ``_lent`` is the object to lend instead (see :func:`lends`);
    ``_buffer`` stands for ``buf`` and is never used.
    """

    __slots__ = ("_buffer", "_lent")


class Exports(Lender):
    """The buffers one map has lent out, and whether any is still alive.

    The map asks it for a buffer (:meth:`export`, :meth:`buffer`,
    :meth:`record_source`), and asks it one question before it closes,
    resizes or changes protection (:meth:`stop`).  :meth:`start` tells it
    what to lend from then on.

    On CPython, ``_view`` is a view of the whole map (read-only for an
    ``ACCESS_READ`` map), and ``_lent`` what C code may borrow: the same
    view; a read-only view of it while some page is read-only; or a
    released view, which lends nothing, while the map is closed or some
    page is ``PROT_NONE``.  Each counts the exports made from it.  A record
    over pages it may use borrows from ``_view``: it checks its own bytes.

    On CPython 3.12+, ``_borrow`` is a ``pickle.PickleBuffer`` over the
    lending view, kept while the view lends: a PickleBuffer hands every
    borrower a new export of the object it was made from, so
    ``memoryview(self._borrow)`` is a counted export of the lending view in
    one C call (making the PickleBuffer anew for each borrower took twice as
    long).  It holds one export of its own, which :meth:`stop` gives back
    before it asks the lending view whether anyone else still borrows.
    """

    __slots__ = ("_borrow", "_holders", "_readonly", "_region", "_view")

    def __init__(self) -> None:
        self._buffer = None
        self._lent: memoryview = _NOTHING
        self._view: memoryview = _NOTHING
        self._borrow: pickle.PickleBuffer = _NO_BORROW
        self._region: Optional[MappedRegion] = None
        self._readonly = True
        # PyPy: one key per holder still alive (a set, so that a release
        # reported by the collector from another thread is never lost).
        self._holders: Set[int] = set()

    def start(self, region: MappedRegion, readonly: bool) -> None:
        """Lend ``region``'s memory from now on, read-only if ``readonly``.

        While :meth:`MappedRegion.protect` has made some page ``PROT_NONE``,
        nothing can be lent (a borrower would not check before reading it),
        and while some page is read-only, buffers are read-only too.  Where
        ``__buffer__`` is asked first (PEP 688), the lending view is made at
        the first export; the C slots of 3.8-3.11 read it directly, so there
        it is made now.
        """
        pages = region.protection
        with _LOCK:
            self._region = region
            self._readonly = readonly or (pages is not None and pages.forbids(write=True))
            if not CALLS_BUFFER_DUNDER:
                view = region.view
                if view is None:
                    raise closed()
                self._view = view[:]  # a view of its own: the region's may be released without it
                self._lent = self._lent_from(self._view, region)
                self._keep()

    @staticmethod
    def _lendable(region: MappedRegion) -> bool:
        """Internal: True unless some page of the region cannot be read."""
        return region.protection is None or not region.protection.forbids(write=False)

    def _lent_from(self, view: memoryview, region: MappedRegion) -> memoryview:
        """Internal: what C code may borrow, given the map's counting ``view`` (CPython)."""
        if not self._lendable(region):
            return _NOTHING
        if self._readonly and not view.readonly:
            return view.toreadonly()
        return view

    def _keep(self) -> None:
        """Internal: keep the current views reachable from this module, where needed (see ``_KEPT``)."""
        if _KEEPS_VIEWS:
            _KEPT[id(self)] = (self._view, self._lent)

    def stop(self, message: str) -> None:
        """Stop lending; raise ``BufferError(message)`` instead if a buffer is still out.

        Call :meth:`start` again to lend once more (after a resize, say).
        """
        if PYPY and self._holders:
            # A dropped view lives until the collector runs: let it.
            gc.collect()
        with _LOCK:
            if PYPY and self._holders:
                raise BufferError(message)
            if not PYPY:  # (PyPy's borrowers hold views of _lent: see _holder_view)
                self._borrow.release()  # its own export: the lending view counts the others
                try:
                    self._lent.release()
                    self._view.release()
                except BufferError:
                    if _EXPORTS_ITS_VIEW and not _is_released(self._lent):
                        self._borrow = _PickleBuffer(self._lent)
                    raise BufferError(message) from None
            self._view = self._lent = _NOTHING
            self._borrow = _NO_BORROW
            self._region = None
            _KEPT.pop(id(self), None)

    if _KEEPS_VIEWS:
        # (See _KEPT.)  Nothing else to do: the views go when their
        # borrowers do.  Defined only where needed: on PyPy an object with
        # a finalizer delays what it holds (the region's array) by one more
        # garbage collection.
        def __del__(self) -> None:
            _KEPT.pop(id(self), None)

    def export(self, flags: int) -> memoryview:
        """Return what :meth:`buffer` lends from: the lending view (CPython 3.12+, PyPy).

        ``ValueError`` if the map is closed, ``BufferError`` if ``flags``
        ask for a writable buffer of read-only memory (the C module's
        checks, in its order).  On CPython 3.12+ the view is shared by every
        borrower: it is never handed out itself, only exports of it
        (:meth:`buffer`).
        """
        if PYPY:
            view = self._holder_view()
        elif not CALLS_BUFFER_DUNDER:
            # CPython 3.8-3.11: C code borrows through the buffer slots, so
            # only Python code calls __buffer__; it gets an export of its
            # own, counted while it lives, as the stdlib's would be.
            region = self._region
            if region is None:
                raise closed()
            if not self._lendable(region):
                raise inaccessible()
            view = memoryview(pickle.PickleBuffer(self._lent))
        else:
            view = self._lent
            try:
                view.readonly  # noqa: B018 - every attribute of a released view raises ValueError
            except ValueError:
                # Not made yet (the first export makes it), or closed.
                view = self._renew(lend=True)
        if flags & _PYBUF_WRITABLE and view.readonly:
            raise BufferError("Object is not writable.")
        return view

    def _renew(self, lend: bool) -> memoryview:
        """Internal: the counting view (``lend``: the lent one) after someone released it.

        ``ValueError`` if the map is closed, or (``lend``) if a page is
        ``PROT_NONE``.
        """
        with _LOCK:
            region = self._region
            if region is None or region.view is None:
                raise closed()
            if lend and not self._lendable(region):
                raise inaccessible()
            if _is_released(self._view):
                self._view = region.view[:]
            if _is_released(self._lent):
                self._lent = self._lent_from(self._view, region)
                if _EXPORTS_ITS_VIEW and not _is_released(self._lent):
                    self._borrow = _PickleBuffer(self._lent)
            self._keep()
            return self._lent if lend else self._view

    def buffer(self, flags: int = 0) -> memoryview:
        """Return a memoryview of the whole map, counted as an export until it is released.

        What ``memoryview(m)`` gives where the buffer protocol works, on
        every version: a ``PickleBuffer`` borrows from the lending view, and
        the memoryview borrows through it (the PickleBuffer itself is
        dropped at once; the memoryview's export is the one that counts).
        The view is its borrower's alone: no other thread can release it.
        ``flags`` are checked as :meth:`export` checks them.
        """
        if _EXPORTS_ITS_VIEW:
            # The common case first, without a call: the view is made and
            # lendable, and the PickleBuffer over it exports it anew.
            try:
                view = memoryview(self._borrow)
            except ValueError:
                # Released: not made yet, or closed (export() says which).
                return memoryview(_PickleBuffer(self.export(flags)))
            if flags & _PYBUF_WRITABLE and view.readonly:
                view.release()
                raise BufferError("Object is not writable.")
            return view
        if PYPY:
            # A view of its own, which its owner may release.
            return memoryview(self.export(flags))
        return self.export(flags)  # CPython 3.8-3.11: already an export of its own

    def record_source(self) -> Any:
        """Return the object a ``ctypes`` record made with ``from_buffer`` must keep: an export.

        The record has checked its own bytes against the pages'
        protection, so this lends even while some other page is
        ``PROT_NONE``.  A counted memoryview on CPython (the record keeps a
        view of it, and so the export, alive); on PyPy a holder array,
        which the record must keep in an attribute of its own (see
        :func:`pymmap.records.alias`).
        """
        if PYPY:
            return self._holder()
        view = self._view
        if _is_released(view):
            view = self._renew(lend=False)
        return memoryview(pickle.PickleBuffer(view))

    # --- PyPy: one holder per export ------------------------------------------------

    def _holder(self) -> Any:
        """Internal: a new ``c_char`` array over the map, counted as an export while it lives.

        For a record, which has checked its own bytes against the pages'
        protection: no page check here.
        """
        region = self._region
        if region is None:
            raise closed()
        key = next(_holder_keys)
        # The key goes in first: the holder may be collected (and the key
        # discarded) as soon as it is made.
        self._holders.add(key)
        try:
            holder = region.new_array()
            weakref.finalize(holder, self._holders.discard, key)
        except BaseException:
            self._holders.discard(key)
            raise
        # Whatever a borrower makes of a record (a memoryview of it, say:
        # PyPy's memoryviews keep nothing alive) may outlive the record and
        # its holder: the range must stay mapped for as long as that might
        # live, which no one can tell.
        region.pin()
        return holder

    def _holder_view(self) -> memoryview:
        """Internal: the map's lending view (PyPy); it does not count as an export.

        PyPy never says when a borrower is done with a view, so ``close()``
        does not wait for views: the range is pinned instead (see
        :meth:`_holder`), and a view lent earlier reads zeros once the map
        is closed.  So one view serves every borrower until the map closes,
        resizes or changes protection (:meth:`stop`): PyPy hands each
        ``__buffer__`` caller a new memoryview of it, never the view itself.
        It is made over cffi's objects (see :func:`pymmap.copying.view_of`),
        which the JIT reads at full speed, and making it costs a ctypes
        array: ``struct.unpack_from(fmt, m, off)`` would pay that at every
        call.
        """
        region = self._region
        if region is None:
            raise closed()
        if not self._lendable(region):
            raise inaccessible()
        view = self._lent
        if view is _NOTHING or _is_released(view):
            # (Released: someone called __buffer__ himself, and released
            # what it gave: ``with m.__buffer__(0) as v:``.)
            view = view_of(region.new_array())
            if self._readonly:
                view = view.toreadonly()
            region.pin()
            with _LOCK:
                if self._region is region:  # (not closed meanwhile)
                    self._lent = view
        return view


_holder_keys = count()

_L = TypeVar("_L", bound=Type[Lender])


# --- CPython 3.8-3.11: filling a Python class's buffer slots ------------------------------

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
    procs = _pointer_at(_address(pickle.PickleBuffer) + _TP_AS_BUFFER)
    if not procs:
        return 0, 0
    return _pointer_at(procs), _pointer_at(procs + _POINTER)


def _install(cls: type) -> bool:
    """Internal: give ``cls`` PickleBuffer's buffer functions, if every check passes (3.8-3.11)."""
    source = bytearray(b"x")
    # Where a PickleBuffer keeps view.obj, and where instances of cls keep _lent.
    probe: Any = object.__new__(cls)
    probe._lent = source
    if _field_offset(pickle.PickleBuffer(source), source) != _field_offset(probe, source):
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
        _quiet_release(cls)
    elif _install(cls):
        _LENDING_CLASSES.append(cls)
    return cls


def quiet_subclass(cls: type) -> None:
    """Give a new subclass of a lending class the same C release slot (``__init_subclass__``).

    A subclass that defines its own ``__release_buffer__`` keeps it.
    """
    if not PYPY and CALLS_BUFFER_DUNDER and "__release_buffer__" not in cls.__dict__:
        _quiet_release(cls)


_LENDING_CLASSES: List[type] = []

lends(Exports)

#: True where a map lends its memory through the buffer protocol: PEP 688's
#: ``__buffer__`` (CPython 3.12+, PyPy), or the buffer slots that
#: :func:`lends` filled (CPython 3.8-3.11, when its checks pass).
LENDS_FROM_C = CALLS_BUFFER_DUNDER or Exports in _LENDING_CLASSES
