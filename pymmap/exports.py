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

The interface, and one model per interpreter
--------------------------------------------
A map asks its :class:`Exports` for a buffer (``export``, ``buffer``,
``record_source``), and asks it one question before it closes, resizes or
changes protection (``stop``); ``start`` tells it what to lend from then
on.  How that is done depends on the interpreter, so a map makes an
:data:`ExportsModel`, one of three subclasses chosen once at import (as
``pymmap._platform`` picks a backend).  A reader of one interpreter reads
one class.

**CPython** (:class:`_CountedExports`, the two models' common part).
Every export is an export of one ``memoryview`` of the map's memory, the
map's *lending view*.  A memoryview counts its own exports exactly, in C
(its ``release()`` raises ``BufferError`` while any is alive): that count
is the map's export count, with no bookkeeping in Python.  The lending view
is made from the region's ctypes array, so even a borrower that outlives
every rule keeps the memory mapped (see :class:`~pymmap.lease.Lease`).

- 3.12 and later (:class:`_DunderExports`): C code asks a class written in
  Python for a buffer through its ``__buffer__`` method (PEP 688), which
  returns an export of the lending view, a memoryview of the borrower's
  own: the lending view itself is shared, and another thread could release
  it before the borrower has borrowed from it.
- 3.8-3.11 (:class:`_SlotExports`): no ``__buffer__``; C code borrows
  through the map's buffer slots, which :mod:`pymmap.buffer_slots` fills
  so that ``memoryview(m)`` lends the Exports' ``_lent`` slot, the lending
  view, in C.

**Threads.**  On CPython 3.12+ every buffer handed out is a memoryview of
its borrower's own, an export of the lending view: none can be released
by another thread, and each is counted the moment it exists, so a
``resize()`` or ``close()`` in another thread either sees it
(``BufferError``) or happened first.  (On 3.8-3.11 C code borrows from the
lending view in C, through the slots; a borrow made while another thread
resizes the map finds it released, and raises ``ValueError``: README,
Threads.)  What a borrower then reads or writes through it is raw
memory, not a step of the map's.  The lending views themselves are made,
replaced and released only with the map's lock held (by ``start`` and
``stop``, which the map calls from ``resize()``, ``close()`` and
``protect()``), or under this module's lock when first made.

**PyPy** (:class:`_PyPyExports`) calls ``__buffer__`` but never
``__release_buffer__``, so there ``close()`` cannot wait for the views it
lent.  Instead, the map's address range is *pinned* once it has lent
anything: it stays mapped (zero-filled after ``close()``) until the
process ends, so that a borrower can never reach unmapped memory (PyPy's
memoryviews keep no array alive).  A view lent is made over cffi's objects
(see :func:`pymmap.copying.view_of`), which the JIT reads at full speed.
A record gets a ctypes array of its own (a *holder*), which it keeps in an
attribute, and ``close()`` waits for it as for an export (the collector
runs first, so that a dropped record counts no longer).
"""

from __future__ import annotations

import gc
import os
import sys
import weakref
from itertools import count

from ._interpreter import CALLS_BUFFER_DUNDER, PYPY, Lock, pickle_buffer_type
from .buffer_slots import LENDING_CLASSES, Lender, lends, quiet_pending
from .copying import view_of
from .errors import closed, inaccessible, refused
from .region import MappedRegion

TYPE_CHECKING = False  # typing's flag, without importing typing: see pymmap/__init__.py
if TYPE_CHECKING:
    from pickle import PickleBuffer
    from typing import Any, Dict, Optional, Set, Tuple, Type, Union

# One lock for every map's export state (each critical section is short):
# start, stop and renew must not interleave.  (A child forked while another
# thread held it gets a new one.)
_LOCK = Lock()


def _new_lock_after_fork() -> None:
    global _LOCK
    _LOCK = Lock()


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

__all__ = ["LENDS_FROM_C", "REFUSED_FROM_C", "Exports", "ExportsModel", "RefusedExports"]

_PYBUF_WRITABLE = 0x1  # inspect.BufferFlags.WRITABLE
_PickleBuffer: Optional[type] = None  # pickle.PickleBuffer, once a map has lent a buffer


def _borrow_of(view: memoryview) -> PickleBuffer:
    """Internal: a ``pickle.PickleBuffer`` over ``view``: each ``memoryview()`` of it exports ``view`` anew.

    The type is imported at the first call (see ``_interpreter.pickle_buffer_type``),
    which is also when the lending classes get their quiet release slot
    (``buffer_slots.quiet_pending``): every buffer a map lends comes here first.
    """
    global _PickleBuffer
    if _PickleBuffer is None:
        _PickleBuffer = pickle_buffer_type()
        quiet_pending()
    return _PickleBuffer(view)  # type: ignore[no-any-return]


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

#: What a map that lends nothing borrows through: a released view, which
#: (like a released PickleBuffer) raises ``ValueError`` when borrowed from.
_NO_BORROW = _released_view()


class Exports(Lender):
    """The interface: the buffers one map has lent out, and whether any is still alive.

    ``_region`` is the map's region while it lends (None once it stops),
    ``_readonly`` whether buffers must be read-only, ``_lent`` (the
    :class:`~pymmap.buffer_slots.Lender` slot) the lending view, and
    ``_view`` the view records borrow from.
    """

    __slots__ = ("_readonly", "_region", "_view")

    def __init__(self) -> None:
        self._buffer = None
        self._lent: memoryview = _NOTHING
        self._view: memoryview = _NOTHING
        self._region: Optional[MappedRegion] = None
        self._readonly = True

    def start(self, region: MappedRegion, readonly: bool) -> None:
        """Lend ``region``'s memory from now on, read-only if ``readonly``.

        While :meth:`MappedRegion.protect` has made some page ``PROT_NONE``,
        nothing can be lent (a borrower would not check before reading it),
        and while some page is read-only, buffers are read-only too.
        """
        pages = region.protection
        with _LOCK:
            self._region = region
            self._readonly = readonly or (pages is not None and pages.forbids(write=True))
            self._started(region)

    def _started(self, region: MappedRegion) -> None:
        """Internal: what a model does at :meth:`start`, under the lock (nothing, by default)."""

    @staticmethod
    def _lendable(region: MappedRegion) -> bool:
        """Internal: True unless some page of the region cannot be read."""
        return region.protection is None or not region.protection.forbids(write=False)

    def stop(self, message: str) -> None:
        """Stop lending; raise ``BufferError(message)`` instead if a buffer is still out.

        Call :meth:`start` again to lend once more (after a resize, say).
        (Step 1 of a map's end: :mod:`pymmap.lease`, "The lifetime of a map".)
        """
        raise NotImplementedError

    def export(self, flags: int) -> memoryview:
        """Return what :meth:`buffer` lends from (``__buffer__`` of Python code calls it).

        ``ValueError`` if the map is closed (or a page is ``PROT_NONE``),
        ``BufferError`` if ``flags`` ask for a writable buffer of read-only
        memory (the C module's checks, in its order).
        """
        raise NotImplementedError

    def buffer(self, flags: int = 0) -> memoryview:
        """Return a memoryview of the whole map, its borrower's own, counted as an export while it lives.

        ``flags`` are checked as :meth:`export` checks them.
        """
        raise NotImplementedError

    def record_source(self) -> Any:
        """Return the object a ``ctypes`` record made with ``from_buffer`` must keep: an export.

        The record has checked its own bytes against the pages'
        protection, so this lends even while some other page is
        ``PROT_NONE``.
        """
        raise NotImplementedError


def _writable_or_refuse(view: memoryview, flags: int) -> memoryview:
    """Internal: ``view``, unless ``flags`` ask to write and it is read-only (the C module's error)."""
    if flags & _PYBUF_WRITABLE and view.readonly:
        raise BufferError("Object is not writable.")
    return view


class _CountedExports(Exports):
    """CPython: the lending view counts the exports (see the module docstring).

    ``_view`` is a view of the whole map (read-only for an ``ACCESS_READ``
    map), and ``_lent`` what C code may borrow: the same view; a read-only
    view of it while some page is read-only; or a released view, which
    lends nothing, while the map is closed or some page is ``PROT_NONE``.
    Each counts the exports made from it.  A record over pages it may use
    borrows from ``_view``: it checks its own bytes.
    """

    __slots__ = ()

    def _lent_from(self, view: memoryview, region: MappedRegion) -> memoryview:
        """Internal: what C code may borrow, given the map's counting ``view``."""
        if not self._lendable(region):
            return _NOTHING
        if self._readonly and not view.readonly:
            return view.toreadonly()
        return view

    def _keep(self) -> None:
        """Internal: keep the current views reachable from this module, where needed (see ``_KEPT``)."""
        if _KEEPS_VIEWS:
            _KEPT[id(self)] = (self._view, self._lent)

    if _KEEPS_VIEWS:
        # (See _KEPT.)  Nothing else to do: the views go when their
        # borrowers do.  Defined only where needed.
        def __del__(self) -> None:
            _KEPT.pop(id(self), None)

    def stop(self, message: str) -> None:
        with _LOCK:
            self._let_go_of_borrow()
            try:
                self._lent.release()
                self._view.release()
            except BufferError:
                self._borrow_again()
                raise BufferError(message) from None
            self._view = self._lent = _NOTHING
            self._region = None
            _KEPT.pop(id(self), None)

    def _let_go_of_borrow(self) -> None:
        """Internal: give back the model's own export of the lending view, if it holds one (none here)."""

    def _borrow_again(self) -> None:
        """Internal: take that export again, when :meth:`stop` refused (none here)."""

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
                self._borrow_again()
            self._keep()
            return self._lent if lend else self._view

    def record_source(self) -> Any:
        """A counted memoryview (the record keeps a view of it, and so the export, alive)."""
        view = self._view
        if _is_released(view):
            view = self._renew(lend=False)
        return memoryview(_borrow_of(view))


class _SlotExports(_CountedExports):
    """CPython 3.8-3.11: C code borrows the lending view through the map's buffer slots.

    The slots (:mod:`pymmap.buffer_slots`) read ``_lent`` directly, so the
    lending view is made at :meth:`start`.  Only Python code calls
    ``__buffer__``; it gets an export of its own, counted while it lives,
    as the stdlib's would be.
    """

    __slots__ = ()

    def _started(self, region: MappedRegion) -> None:
        view = region.view
        if view is None:
            raise closed()
        self._view = view[:]  # a view of its own: the region's may be released without it
        self._lent = self._lent_from(self._view, region)
        self._keep()

    def export(self, flags: int) -> memoryview:
        region = self._region
        if region is None:
            raise closed()
        if not self._lendable(region):
            raise inaccessible()
        return _writable_or_refuse(memoryview(_borrow_of(self._lent)), flags)

    def buffer(self, flags: int = 0) -> memoryview:
        return self.export(flags)  # already an export of its own


class _DunderExports(_CountedExports):
    """CPython 3.12+: every buffer lent is an export of the lending view, made by ``__buffer__``.

    The lending view is made at the first export.  ``_borrow`` is a
    ``pickle.PickleBuffer`` over it, kept while the view lends: a
    PickleBuffer hands every borrower a new export of the object it was
    made from, so ``memoryview(self._borrow)`` is a counted export of the
    lending view in one C call (making the PickleBuffer anew for each
    borrower took twice as long).  It holds one export of its own, which
    :meth:`stop` gives back before it asks the lending view whether anyone
    else still borrows.  The lending view is shared by every borrower: it
    is never handed out itself, only exports of it.
    """

    __slots__ = ("_borrow",)

    def __init__(self) -> None:
        super().__init__()
        self._borrow: Union[PickleBuffer, memoryview] = _NO_BORROW

    def _let_go_of_borrow(self) -> None:
        self._borrow.release()
        self._borrow = _NO_BORROW

    def _borrow_again(self) -> None:
        if not _is_released(self._lent):
            self._borrow = _borrow_of(self._lent)

    def export(self, flags: int) -> memoryview:
        view = self._lent
        try:
            view.readonly  # noqa: B018 - every attribute of a released view raises ValueError
        except ValueError:
            # Not made yet (the first export makes it), or closed.
            view = self._renew(lend=True)
        return _writable_or_refuse(view, flags)

    def buffer(self, flags: int = 0) -> memoryview:
        # The common case first, without a call: the view is made and
        # lendable, and the PickleBuffer over it exports it anew.
        try:
            view = memoryview(self._borrow)
        except ValueError:
            # Released: not made yet, or closed (export() says which).
            return memoryview(_borrow_of(self.export(flags)))
        if flags & _PYBUF_WRITABLE and view.readonly:
            view.release()
            raise BufferError("Object is not writable.")
        return view


class _PyPyExports(Exports):
    """PyPy: one lending view until the map stops lending; a holder array per record.

    ``_holders`` has one key per holder still alive (a set, so that a
    release reported by the collector from another thread is never lost).
    """

    __slots__ = ("_holders",)

    def __init__(self) -> None:
        super().__init__()
        self._holders: Set[int] = set()

    def stop(self, message: str) -> None:
        if self._holders:
            # A dropped record lives until the collector runs: let it.
            gc.collect()
        with _LOCK:
            if self._holders:
                raise BufferError(message)
            # (The borrowers hold views of _lent, which stays mapped: see export.)
            self._view = self._lent = _NOTHING
            self._region = None

    def export(self, flags: int) -> memoryview:
        """The map's lending view; it does not count as an export.

        PyPy never says when a borrower is done with a view, so ``close()``
        does not wait for views: the range is pinned instead (see
        :meth:`record_source`), and a view lent earlier reads zeros once the
        map is closed.  So one view serves every borrower until the map
        closes, resizes or changes protection (:meth:`stop`): PyPy hands
        each ``__buffer__`` caller a new memoryview of it, never the view
        itself.  It is made over cffi's objects (see
        :func:`pymmap.copying.view_of`), which the JIT reads at full speed,
        and making it costs a ctypes array: ``struct.unpack_from(fmt, m,
        off)`` would pay that at every call.
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
        return _writable_or_refuse(view, flags)

    def buffer(self, flags: int = 0) -> memoryview:
        return memoryview(self.export(flags))  # a view of its own, which its owner may release

    def record_source(self) -> Any:
        """A new ``c_char`` array over the map, counted as an export while it lives.

        The record must keep it in an attribute of its own (see
        :func:`pymmap.records.alias`).
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


class RefusedExports(Exports):
    """A checked map's (:mod:`pymmap.checked`): it lends nothing, ``BufferError`` saying why.

    Code that borrows a buffer reads the pages directly, where a page past
    the end of a truncated file kills the process: the check the map makes
    on every access of its own would not cover it.  On CPython 3.8-3.11,
    where C code borrows through the map's type slots, not through
    ``__buffer__``, the map's slot holds :data:`REFUSED_FROM_C` instead of
    an Exports, and the borrow fails in C with ``TypeError``.
    """

    __slots__ = ()

    def stop(self, message: str) -> None:
        self._region = None  # (nothing lent, nothing to wait for)

    def export(self, flags: int) -> memoryview:
        raise refused()

    def buffer(self, flags: int = 0) -> memoryview:
        raise refused()

    def record_source(self) -> Any:
        raise refused()


#: What a checked map's buffer slot holds on CPython 3.8-3.11: an object
#: without a buffer, whose type's name explains, since C code there reports
#: ``TypeError("a bytes-like object is required, not '<that name>'")``.
_REFUSAL_NAME = "checked mmap: it lends no memory; copy with m[a:b] or m.read()"
REFUSED_FROM_C = type(_REFUSAL_NAME, (), {"__slots__": ()})()


_holder_keys = count()

#: The model for this interpreter (see the module docstring): a map makes
#: one of these.
ExportsModel: Type[Exports] = (
    _PyPyExports if PYPY else _DunderExports if CALLS_BUFFER_DUNDER else _SlotExports)

lends(ExportsModel)

#: True where a map lends its memory through the buffer protocol: PEP 688's
#: ``__buffer__`` (CPython 3.12+, PyPy), or the buffer slots that
#: :func:`~pymmap.buffer_slots.lends` filled (CPython 3.8-3.11, when its
#: checks pass).
LENDS_FROM_C = CALLS_BUFFER_DUNDER or ExportsModel in LENDING_CLASSES
