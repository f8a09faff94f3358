"""The ``pymmap.mmap`` class: the stdlib's ``mmap.mmap``, written in Python.

This is the facade of pymmap's three layers.  It keeps what the C module
keeps — the access mode, the current position, the descriptor it duplicated
— and turns Python's sequence and file protocols into byte operations on a
:class:`~pymmap.region.MappedRegion`, which owns the mapping itself.  What
the map lends to C code through the buffer protocol is counted by its
:class:`~pymmap.exports.Exports`.

Every method follows the same shape, the C module's order of work:

1. convert the arguments (``_args``; an argument's ``__index__`` may run
   arbitrary code, even close or resize the map),
2. check the state (:meth:`mmap._check_valid`, :meth:`mmap._check_writable`,
   or the same test inline on a hot path), reading the views anew,
3. do the work on plain ints.

Where pymmap deliberately differs from the C module, a comment says so.

Threads
-------
Every method is one step for the other threads using the map, as in the C
module (where the GIL, or on free-threaded builds a critical section per
method, makes it so).  The map's one lock is its region's
:attr:`~pymmap.region.MappedRegion.mutex`, a re-entrant lock.

- **Taken by every method that changes something**: the position
  (``seek``, ``read``, ``read_byte``, ``readline``, ``write``,
  ``write_byte``, and ``find``/``rfind`` from the position, which read it),
  the bytes (item and slice assignment, ``move``, ``write``), or the mapping
  (``resize``, ``close``, ``protect``, ``flush``, ``madvise``, ...).  The
  arguments are converted first, outside the lock: their ``__index__`` or
  buffer may run any code, which must not find the lock held.  The lock is
  re-entrant so that code the interpreter runs by itself in the middle of
  a method (a signal handler, a finalizer run by the garbage collector)
  cannot deadlock on a map that its thread is using; it then sees the map
  between two steps of that method, as it would in the C module.
- **Not taken by reads, on interpreters with a GIL** (every one but
  free-threaded CPython): ``m[i]``, ``m[a:b]``, iteration, ``x in m``, and
  ``find``/``rfind`` with a start whose answer lies in the first few
  hundred bytes.  The copy is one C call, which no store can interleave
  with; afterwards the read checks that the cached view (or array) is
  still the map's: a ``resize()``, ``close()`` or ``protect()`` in another
  thread replaces it (with None while it works), and then the read is
  made again with the lock held.  See
  :class:`~pymmap.region.MappedRegion` for why the memory stays mapped
  meanwhile.
- **Never taken by** ``len()``, ``tell()`` and ``closed``: each reads one
  attribute, which is atomic on every interpreter (a map that looks closed
  because a resize is under way is asked again under the lock).

On free-threaded CPython every read that copies takes the lock as well,
and the buffers the map lends are made under it (see ``__buffer__``).
What the map lends (``memoryview(m)``, records, numpy arrays over it) is
raw memory, as a ``memoryview`` of the stdlib's map is: reads and stores
through it are not steps of the map's, and race like any shared memory;
the map still refuses to close or resize while any of it is alive.

The hot methods take the lock this way::

    mutex = self._region.mutex
    try:
        mutex.acquire()
        ...
    finally:
        mutex.release()

and the rest with ``with self._region.mutex:``, which reads better but
costs two to three times as much on CPython 3.8-3.13 (measured here: 230
to 340 ns for ``with lock: pass`` on 3.13, against 100 to 130 ns for
``acquire()`` and ``release()``; from 3.14 on the two cost about the same).
It is not less safe from a ``KeyboardInterrupt`` either: since 3.14 one
may land between ``__enter__`` and the block, and leave a ``with``
statement's lock held, where with ``acquire()`` inside the ``try`` a lock
taken is always released.  (An interrupt that stops the wait for the lock
surfaces as the ``RuntimeError`` of ``release()``, with the
``KeyboardInterrupt`` as its context.)
"""

from __future__ import annotations

import errno
import sys
from struct import Struct as _Struct

from . import _args, _constructor
from ._args import SSIZE_MAX as _SSIZE_MAX
from ._args import SSIZE_MIN as _SSIZE_MIN
from ._constructor import ACCESS_COPY, ACCESS_DEFAULT, ACCESS_READ, ACCESS_WRITE
from ._platform import backend
from .buffer_slots import Lender, lends, quiet_subclass
from .copying import SLOW_SLICES, FastArray, FastView
from .errors import SizeError
from .errors import closed as _closed
from .errors import readonly as _readonly
from .errors import refused as _refused
from .exports import REFUSED_FROM_C, Exports, ExportsModel, RefusedExports
from .lease import Descriptor
from .protection import GuardedArray, GuardedView
from .region import LOCK_FREE_READS, MappedRegion

TYPE_CHECKING = False  # typing's flag, without importing typing: see pymmap/__init__.py
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, NoReturn, Optional, SupportsIndex, Tuple, Type, TypeVar, overload

    from typing_extensions import Buffer, Literal

    from . import page_states as _page_states
    from . import typed as _typed
    from .region import CharArray

    #: What the stdlib's methods take as data: any object that lends a buffer.
    ReadableBuffer = Buffer

    _C = TypeVar("_C")
_MAP_SHARED = backend.CONSTANTS["MAP_SHARED"]
_PROT_READ = backend.CONSTANTS["PROT_READ"]
_PROT_WRITE = backend.CONSTANTS["PROT_WRITE"]

__all__ = [
    "ACCESS_COPY",
    "ACCESS_DEFAULT",
    "ACCESS_READ",
    "ACCESS_WRITE",
    "mmap",
]

_ACCESS_NAMES = ("ACCESS_DEFAULT", "ACCESS_READ", "ACCESS_WRITE", "ACCESS_COPY")

_MS_SYNC = backend.CONSTANTS["MS_SYNC"]
_MS_ASYNC = backend.CONSTANTS["MS_ASYNC"]

_ANON_NAME_PREFIX = b"cpython:mmap:"
_ANON_NAME_MAX = 79  # the kernel's limit is 80 bytes with the NUL

# CPython 3.14.8 reordered the checks of m[i] = v: the value is converted and
# checked before the index is compared with the size (see mmap._setitem).
# 3.14.7 still checks the index first (its source, and its test_mmap's
# test_basic); 3.14.10 checks the value first.  3.14.8 was the one bugfix
# release between them (3.14.9 and 3.14.10 were security releases, days
# apart), so the new order is taken from 3.14.8 on.
_VALUE_BEFORE_INDEX = sys.version_info >= (3, 14, 8)
# CPython 3.14's __exit__ takes exactly the three arguments the with statement passes.
_EXIT_WANTS_THREE = sys.version_info >= (3, 14)

#: CPython keeps a Windows tagname as wchar_t from 3.13 on (UTF-8 before).
_WIDE_TAGNAME = sys.version_info >= (3, 13)


#: The descriptor of a map that keeps none (anonymous, or ``trackfd=False``).
_NO_FILE = Descriptor(-1, backend.close_fd)


@lends
class mmap(Lender):
    """mmap(fileno, length, flags=MAP_SHARED, prot=PROT_WRITE|PROT_READ, access=ACCESS_DEFAULT,
         offset=0, *, trackfd=True, populate=False, huge_pages=False, checked=False)
    mmap(fileno, length, tagname=None, access=ACCESS_DEFAULT, offset=0, *, trackfd=True,
         checked=False)  [Windows]

    Map ``length`` bytes of the file open as ``fileno``, starting at
    ``offset`` (a multiple of ``ALLOCATIONGRANULARITY``); ``length=0`` maps
    the whole file from ``offset``.  With ``fileno=-1``, map ``length``
    bytes of anonymous memory instead.  The map keeps a duplicate of the
    descriptor (for ``size()`` and ``resize()``), unless ``trackfd=False``.

    ``access`` is a simpler way to say what ``flags`` and ``prot`` say:
    ``ACCESS_READ`` (read-only), ``ACCESS_WRITE`` (write-through to the file)
    or ``ACCESS_COPY`` (private copy-on-write: the file never changes).

    On POSIX, two keywords go beyond the stdlib.  ``populate=True`` adds
    ``MAP_POPULATE``: the kernel reads in (or allocates) every page while
    mapping, so that no access faults later.  ``huge_pages=True`` asks for
    huge pages (2 MiB on x86-64), which need fewer TLB entries: for
    anonymous memory with ``MAP_HUGETLB`` (the length must be a multiple of
    the huge page size, and the system must have huge pages reserved), for a
    file with ``madvise(MADV_HUGEPAGE)``.  Where the system refuses, the
    ``OSError`` says why.

    ``checked=True`` (pymmap's own, on every platform) makes a *checked
    map*: every access goes through a copy made by the kernel, so a page
    that is gone (the file was cut short after the map was made) raises
    ``OSError`` instead of killing the process with SIGBUS.  It costs a
    system call per access, and the map lends no buffers
    (:mod:`pymmap.checked`).

    On Windows, as in the C module, ``tagname`` takes the place of
    ``flags`` and ``prot``: maps made with the same ``tagname`` share
    memory, in one process or several.  ``fileno`` 0 maps anonymous memory
    too, a ``length`` past the end of the file makes the file that long,
    and ``ACCESS_DEFAULT`` writes through to the file, as ``ACCESS_WRITE``
    does.  ``trackfd`` is there from Python 3.15, as in the stdlib.

    The arguments are bound, converted and checked in the C module's order,
    with its messages (:mod:`pymmap._constructor`).  The object behaves
    like a mutable bytes buffer (indexing, slicing, ``in``) and like a file
    (``read``, ``write``, ``seek``, ``readline``) at once.
    """

    __slots__ = (
        "__weakref__",
        "_access",
        "_array",
        "_exports",
        "_file",
        "_offset",
        "_pos",
        "_region",
        "_size",
        "_trackfd",
        "_view",
    )

    _region: MappedRegion  # (set by _attach: the map has one from construction on)
    _view: Optional[memoryview]
    _array: Optional[CharArray]
    _size: int
    _pos: int
    _access: int
    _file: Descriptor
    _offset: int
    _trackfd: bool
    _exports: Exports

    # --- construction ----------------------------------------------------------------

    if TYPE_CHECKING:
        # The constructor as a type checker sees it, on each platform (never
        # run).  At run time one __new__ takes every form, and binds it as the
        # platform's C module does: see _new.
        if sys.platform == "win32":
            def __new__(cls, fileno: int, length: int, tagname: Optional[str] = None,
                        access: int = ACCESS_DEFAULT, offset: int = 0, *, trackfd: bool = True,
                        checked: bool = False) -> mmap:
                raise NotImplementedError
        else:
            def __new__(cls, fileno: int, length: int, flags: int = _MAP_SHARED,
                        prot: int = _PROT_READ | _PROT_WRITE, access: int = ACCESS_DEFAULT, offset: int = 0,
                        *, trackfd: bool = True, populate: bool = False, huge_pages: bool = False,
                        checked: bool = False) -> mmap:
                raise NotImplementedError
    else:
        def __new__(cls, *args, **kwargs):
            return mmap._new(cls, args, kwargs)  # (cls may be any class: mmap.__new__(int, ...))

    @staticmethod
    def _new(cls: Type[mmap], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> mmap:
        """Internal: ``cls(*args, **kwargs)``: the arguments read, and the map made."""
        # The checks, as the platform's C module makes them (see _constructor).
        request = _constructor.read(args, kwargs)
        fileno, length, offset, access, flags, prot, trackfd, tagname, advice, checked = request
        self = object.__new__(cls)
        self._setup(length, access, offset, trackfd, checked)
        # The map keeps its own copy of the descriptor (a HANDLE on Windows),
        # so that size() and resize() still work after the caller closes the file.
        if fileno != -1 and trackfd:
            self._file = Descriptor(backend.dup(fileno), backend.close_fd)
        try:
            if checked:
                from .checked import CheckedRegion  # (imported on first use)

                checked_region = CheckedRegion(length, fd=fileno, offset=offset, prot=prot, flags=flags,
                                               tagname=tagname)
                checked_region.file = self._file.fd  # (to say how long the file is, if a page is gone)
                region: MappedRegion = checked_region
            else:
                region = MappedRegion(length, fd=fileno, offset=offset, prot=prot, flags=flags,
                                      tagname=tagname)
        except BaseException:
            self._file.close()
            raise
        self._attach(region)
        if advice is not None:
            try:
                region.advise(advice, 0, length)
            except BaseException:
                self.close()
                raise
        return self

    def __sizeof__(self) -> int:
        """``sys.getsizeof(m)``: the object, plus the Windows tagname that the C module keeps.

        CPython 3.13+ keeps the tagname as a wide string (``wchar_t``, two
        bytes per UTF-16 unit) with its terminating NUL, and counts it.
        Before, it kept UTF-8 bytes and a NUL, and its test_mmap
        (``test_sizeof``) asserts exactly that, so pymmap counts as the
        running interpreter does.
        """
        size = object.__sizeof__(self)
        tagname = self._region.tagname
        if tagname is not None:
            if _WIDE_TAGNAME:
                size += len(tagname.encode("utf-16-le", "surrogatepass")) + 2
            else:
                size += len(tagname.encode("utf-8", "surrogatepass")) + 1
        return size

    def _setup(self, length: int, access: int, offset: int, trackfd: bool, checked: bool) -> None:
        """Internal: a new map's state before it has a region: the one place it is set up."""
        self._view = None
        self._array = None
        self._size = length
        self._pos = 0
        self._access = access
        self._offset = offset
        self._trackfd = trackfd
        self._file = _NO_FILE
        # What the map lends through the buffer protocol: the C slots read
        # _lent (see pymmap.exports), the map's own code reads _exports.
        # A checked map lends nothing (see pymmap.checked).
        if checked:
            self._exports = RefusedExports()
            self._lent = REFUSED_FROM_C
        else:
            self._exports = self._lent = ExportsModel()
        self._buffer = None

    @classmethod
    def _from_region(cls, region: MappedRegion, access: int) -> mmap:
        """Internal: a map around a region that something else made, such as ``shmat(2)``.

        The stdlib-compatible constructor maps a file or anonymous memory
        itself; this one takes a ready :class:`MappedRegion` (see
        :meth:`MappedRegion.adopt`) and skips all of that.  The map has no
        descriptor: ``size()`` reports its length.  ``access`` must agree
        with the region's ``prot``.
        """
        self = object.__new__(cls)
        self._setup(region.length, access, 0, True, region.checked)
        self._attach(region)
        return self

    def _attach(self, region: MappedRegion) -> None:
        """Internal: cache the region's views for the hot paths, and lend its memory.

        A method that works on the memory first copies ``_array`` and
        ``_view`` into local variables.  Those references keep the mapping
        in place until the method returns, even if another thread (or an
        argument's ``__index__``) closes the map meanwhile.  Both are needed:
        on PyPy a memoryview does not keep its ctypes array alive.

        While :meth:`protect` has changed some pages, the cache holds guards
        (:mod:`pymmap.protection`) that check each access first, so the hot
        paths stay as they are and cost nothing extra otherwise.  A region
        left closed (a resize that could not map again) leaves the map
        closed.  (Called with the lock held, or before anyone else can see
        the map.)
        """
        self._region = region
        view: Any = region.view
        array: Any = region.array
        if view is None or array is None:
            self._view = self._array = None
            return
        if region.checked:
            # Stand-ins that copy through the kernel (see pymmap.checked;
            # loaded already: the region is one of its CheckedRegions).
            from .checked import CheckedArray, CheckedRegion, CheckedView

            assert isinstance(region, CheckedRegion)
            view, array = CheckedView(region, array, self._access == ACCESS_READ), CheckedArray(region, array)
        elif SLOW_SLICES:
            # PyPy: stand-ins over cffi's objects, which the JIT reads and
            # copies through at full speed (see copying.py).
            view, array = FastView(view, array), FastArray(array)
        pages = region.protection
        if pages is not None:
            # The guards stand in for the memoryview and the ctypes array.
            view, array = GuardedView(view, pages), GuardedArray(array, pages)
        self._size = region.length
        self._exports.start(region, readonly=self._access == ACCESS_READ)
        self._view = view
        self._array = array

    def _detach(self) -> MappedRegion:
        """Internal: drop the cached views, before the region changes or closes.

        The caller holds the lock and has stopped the exports first
        (``self._exports.stop()``).  Until :meth:`_attach`, a lock-free read
        in another thread finds None, and asks again under the lock.
        """
        self._view = None
        self._array = None
        return self._region

    # --- state checks: one helper per precondition -------------------------

    def _check_valid(self) -> None:
        """Internal: raise ValueError if the map is closed.

        Without the lock, a map looks closed for a moment while another
        thread resizes it (or changes its protection): the lock, which that
        thread holds until it is done, tells the two apart.
        """
        if self._view is None:
            with self._region.mutex:
                if self._view is None:
                    raise _closed()

    def _check_writable(self) -> None:
        """Internal: raise if the map is closed or read-only."""
        self._check_valid()
        if self._access == ACCESS_READ:
            raise _readonly()

    # --- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Close the map: release the memory and the duplicated descriptor.

        Closing twice is allowed.  While a buffer exported by the map (a
        ``memoryview``) is alive, ``close()`` raises ``BufferError``.  (When
        the memory and the descriptor go: :mod:`pymmap.lease`, "The lifetime
        of a map".)
        """
        with self._region.mutex:  # two threads closing at once must not close the fd twice
            self._exports.stop("cannot close exported pointers exist")
            region = self._detach()
            try:
                self._file.close()
            finally:
                region.close()

    @property
    def closed(self) -> bool:
        """True if the map is closed."""
        if self._view is not None:
            return False
        with self._region.mutex:  # (not just in the middle of a resize)
            return self._view is None

    @property
    def checked(self) -> bool:
        """True if the map was made with ``checked=True``: it reaches its memory through the kernel.

        A page that is gone (a file cut short after the map was made) then
        raises ``OSError`` instead of killing the process with SIGBUS; such a
        map lends no buffers and makes no records (:mod:`pymmap.checked`).
        """
        return self._region.checked

    def __enter__(self) -> mmap:
        self._check_valid()
        return self

    def __exit__(self, *args: Any) -> None:
        if _EXIT_WANTS_THREE and len(args) != 3:
            raise TypeError(f"__exit__ expected 3 arguments, got {len(args)}")
        self.close()

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        if isinstance(protocol, int) and protocol < 2:
            # Protocols 0 and 1 go through copyreg, which says the class's __name__.
            raise TypeError(f"cannot pickle {type(self).__name__!r} object")
        raise TypeError(f"cannot pickle {self._type_name()!r} object")

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"cannot pickle {self._type_name()!r} object")

    def _type_name(self) -> str:
        """Internal: the name the C module prints (``tp_name``)."""
        return "mmap.mmap" if type(self) is mmap else type(self).__name__

    def __repr__(self) -> str:
        name = self._type_name()
        with self._region.mutex:
            if self._view is None:
                return f"<{name} closed=True>"
            return (
                f"<{name} closed=False, access={_ACCESS_NAMES[self._access]}, "
                f"length={self._size}, pos={self._pos}, offset={self._offset}"
                f"{', checked=True' if self._region.checked else ''}>"
            )

    # --- the buffer protocol ---------------------------------------------------

    def buffer(self) -> memoryview:
        """Return a memoryview of the whole map (read-only for ACCESS_READ maps).

        The same as ``memoryview(m)``, on every Python version and
        interpreter.  While the view (or any slice of it) is alive,
        ``close()`` and ``resize()`` raise ``BufferError``; release it with
        ``view.release()`` or a ``with`` block.
        """
        with self._region.mutex:
            if self._view is None:
                raise _closed()
            return self._exports.buffer()

    def __buffer__(self, flags: int) -> memoryview:
        """Lend the map's memory: ``memoryview(m)``, ``re.search(p, m)`` (PEP 688).

        Python 3.12+ and PyPy call this for any C code asking the map for a
        buffer, so it is on the hot path of ``struct.unpack_from(fmt, m,
        offset)``.  The answer is a memoryview of the borrower's own, an
        export of the map's lending view (see :mod:`pymmap.exports`), which
        counts it until it is released.

        Of its own, because the lending view is shared: had it been handed
        out itself, another thread's ``resize()`` could release it between
        this method's return and the moment C code borrows from it (and the
        borrow would fail); under free threading, two threads counting
        borrows on one memoryview at once could lose one.  Where the
        interpreter has a GIL, the export is taken without the lock, in one
        C call that either finds the lending view released (then the lock
        waits for the resize to end) or holds an export that the resize
        will see; on free-threaded CPython, with the lock.
        """
        if LOCK_FREE_READS:
            try:
                return self._exports.buffer(flags)
            except ValueError:
                pass  # closed, or another thread is resizing: ask again with the lock
        with self._region.mutex:
            return self._exports.buffer(flags)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        quiet_subclass(cls)  # the class's quiet C release slot, for subclasses too

    def __release_buffer__(self, view: memoryview) -> None:
        """PEP 688's other half: a borrower is done with a buffer from :meth:`__buffer__`.

        There is nothing left to do here: the lending view has counted the
        release already.  The method must exist all the same: borrowers
        such as numpy keep a buffer (rather than copy its pointer and give
        it back at once) only when its lender has one.  On CPython the
        class's C release slot does the same nothing without calling it
        (see :func:`pymmap.buffer_slots.lends`).
        """

    # --- beyond the stdlib: typed values at byte offsets, records -----------------
    # The work is in typed.py and records.py; every access goes through the
    # region's checked gate, MappedRegion.memory_for(), and follows its
    # rules for threads (MappedRegion.read_at for reads, the lock for stores).

    def _live_region(self) -> MappedRegion:
        """Internal: the region, after checking the map is open."""
        self._check_valid()
        return self._region

    def unpack_from(self, fmt: _typed.Format, offset: int = 0) -> Tuple[Any, ...]:
        """Return the values of the :mod:`struct` format ``fmt`` stored at byte ``offset``.

        The same as ``struct.unpack_from(fmt, m, offset)``, on every Python
        version, straight from the map's memory.  ``fmt`` may also be a
        compiled :class:`struct.Struct`.  Start it with ``<`` for
        little-endian (Intel) data, ``>`` for big-endian.

        Deliberate difference from :mod:`struct`: the bytes must lie inside
        the map, and a negative ``offset`` does not count from the end:
        ``IndexError`` either way.  ``ValueError`` on a closed map.
        """
        layout = fmt if fmt.__class__ is _Struct else _LAYOUTS.get(fmt) if fmt.__class__ is str else None
        if layout is not None and offset.__class__ is int:
            # The hot path: with a GIL, from the cached view without the lock,
            # checked afterwards as m[i] is (a plain memoryview: no page
            # protected, not a checked map, not PyPy's stand-in); else the
            # region's one-step read, which checks the rest.
            if LOCK_FREE_READS:
                view = self._view
                if view.__class__ is memoryview and 0 <= offset <= len(view) - layout.size:
                    values = layout.unpack_from(view, offset)
                    if self._view is view:
                        return values
                view = None
            return self._region.read_at(layout.unpack_from, offset, layout.size)
        from . import typed

        values = typed.unpack_from(self._live_region(), fmt, offset)
        _remember_layout(fmt)  # (after the long way's checks, which come in their order)
        return values

    def pack_into(self, fmt: _typed.Format, offset: int, *values: Any) -> None:
        """Store ``values`` at byte ``offset``, encoded by the :mod:`struct` format ``fmt``.

        The same as ``struct.pack_into(fmt, m, offset, *values)``, on every
        Python version.  The values are packed before anything is written, so
        a value that does not fit raises what ``struct.pack`` raises
        (``struct.error``, e.g. 300 for ``"B"``) and changes nothing.  Then:
        ``IndexError`` if the bytes do not lie inside the map, ``TypeError``
        on an ``ACCESS_READ`` map, ``ValueError`` on a closed one.
        """
        layout = fmt if fmt.__class__ is _Struct else _LAYOUTS.get(fmt) if fmt.__class__ is str else None
        if layout is not None and offset.__class__ is int and self._view is not None:
            # The hot path: pack (the values' own code may run), then one
            # store with the lock held, into a plain view (a memoryview, or
            # PyPy's stand-in: no page protected, not a checked map; a
            # read-only one refuses); else the region's one-step store, which
            # checks the rest and says what is wrong.
            data = layout.pack(*values)
            mutex = self._region.mutex
            try:
                mutex.acquire()
                view: Any = self._view  # (a memoryview, or PyPy's FastView)
                if ((view.__class__ is memoryview or view.__class__ is FastView)
                        and 0 <= offset <= len(view) - len(data)):
                    try:
                        view[offset:offset + len(data)] = data
                        return
                    except TypeError:
                        pass
            finally:
                mutex.release()
            self._region.store_at(offset, data)
            return
        from . import typed

        typed.pack_into(self._live_region(), fmt, offset, values)
        _remember_layout(fmt)  # (after the long way's checks, which come in their order)

    def typed(self, byteorder: Literal["little", "big", "native"] = "little") -> _typed.Typed:
        """Return typed accessors for the map's bytes, by byte offset (:class:`pymmap.typed.Typed`).

        ``byteorder`` is ``"little"`` (Intel, the default), ``"big"`` or
        ``"native"``.  ``t = m.typed()``, then ``t.u16[2]``, ``t.i32[6] = -5``,
        ``t.f64.array(16, 4)``, ``t.char[42]``, ``t.string(43, 8)``; see
        :mod:`pymmap.typed` for every accessor and error.  Each access is one
        step for other threads, as the map's own methods are.
        """
        from .typed import Typed

        return Typed(self._live_region(), byteorder)

    def record(self, ctype: Type[_C], offset: int = 0) -> _C:
        """Return an instance of the ctypes type ``ctype`` that lives in the map at byte ``offset``.

        ``ctype`` is a ``ctypes`` Structure, Union or Array type, including
        ``LittleEndianStructure`` and ``BigEndianStructure`` (a packed C
        struct needs ``_pack_ = 1``; see :mod:`pymmap.records`).  Reading a
        field reads the map; assigning a field writes it.

        On a writable map the record is a real ``ctypes`` object over the
        map's memory, counted as an export like :meth:`buffer`: while it (or
        a field object taken from it) lives, ``close()`` and ``resize()``
        raise ``BufferError``.  Like a memoryview, it reads and writes raw
        memory: its fields are not steps of the map's for other threads.
        On an ``ACCESS_READ`` map it is a
        :class:`pymmap.records.ReadOnlyRecord` that reads through the map
        (each read one step) and raises ``TypeError`` on every write, since
        a store to read-only pages would crash the process.

        Raises ``TypeError`` for any other ``ctype``, ``IndexError`` if the
        record does not lie inside the map, ``ValueError`` on a closed map.
        """
        from . import records

        size = records.size_of(ctype)
        if offset.__class__ is not int:
            offset = _args.index_or_indexerror(offset)
        region = self._live_region()
        if region.checked:
            raise _refused()
        writable = self._access != ACCESS_READ
        with region.mutex:
            region.memory_for(offset, size, writable)  # the checks; the view itself is not kept
            if not writable:
                # (Typed as the ctypes type: the stand-in reads as one does.)
                return records.ReadOnlyRecord(region, ctype, offset)  # type: ignore[return-value]
            return records.alias(ctype, self._exports.record_source(), offset)  # type: ignore[no-any-return]

    # --- the sequence protocol ------------------------------------------------

    def __len__(self) -> int:
        if self._view is not None:
            return self._size
        self._check_valid()  # closed, or in the middle of a resize
        return self._size

    if TYPE_CHECKING:  # (typing.overload: for type checkers only; at run time, the one method below)

        @overload
        def __getitem__(self, item: SupportsIndex) -> int: ...

        @overload
        def __getitem__(self, item: slice) -> bytes: ...

    def __getitem__(self, item: Any) -> Any:
        # The hot paths: a plain int, or a slice of plain ints (no Python code
        # runs to convert them).  Where the interpreter has a GIL, without
        # the lock: the copy is one C call, and the cached view (or array)
        # still being the map's afterwards shows that no resize, close or
        # protect overtook it (see the module docstring).  On free-threaded
        # CPython, with the lock.  The views are held in local variables,
        # which keep the memory mapped.  If the view or array raises (closed
        # map, index out of range, a PROT_NONE page), the full path says why.
        if item.__class__ is int:
            if LOCK_FREE_READS:
                view = self._view
                try:
                    value = view[item]  # type: ignore[index]
                except (TypeError, ValueError, IndexError, OverflowError):
                    pass
                else:
                    if self._view is view:
                        return value
                view = None  # (a resize waits for it: let it go first)
            else:
                with self._region.mutex:
                    view = self._view
                    try:
                        return view[item]  # type: ignore[index]
                    except (TypeError, ValueError, IndexError, OverflowError):
                        pass
        elif item.__class__ is slice:
            # A slice of plain ints (on PyPy a memoryview does not keep its
            # array alive: the array copies).  At most _LOCK_FREE_COPY bytes
            # without the lock: stop - start bounds the copy whenever it is
            # not negative.
            start = item.start
            stop = item.stop
            step = item.step
            if (step is None or step.__class__ is int) and (start is None or start.__class__ is int):
                # (A step of 0 or a negative one: to the lock, which the C
                # module's error or a reversed copy reaches.)
                if (LOCK_FREE_READS and stop.__class__ is int and (step is None or step > 0)
                        and 0 <= stop - (start or 0) <= _LOCK_FREE_COPY):
                    array = self._array
                    if array is not None:
                        try:
                            data = array[item]
                        except ValueError:
                            pass
                        else:
                            if self._array is array:
                                return data
                    array = None
                elif stop is None or stop.__class__ is int:
                    # A large copy (or free threading): the lock costs little
                    # next to it, and a resize need not wait long for a
                    # lock-free one.
                    with self._region.mutex:
                        array = self._array
                        if array is not None:
                            try:
                                return array[item]
                            except ValueError:
                                pass
        return self._getitem(item)

    def _getitem(self, item: Any) -> Any:
        """Internal: ``m[item]`` for any ``item``, with the C module's errors and order, as one step."""
        self._check_valid()
        if item.__class__ is slice:
            item = _args.plain_slice(item)
        elif item.__class__ is not int:
            if not hasattr(type(item), "__index__"):
                raise TypeError("mmap indices must be integers")
            item = _args.index_or_indexerror(item)
        # The conversion may have run Python code (an __index__) that closed
        # or resized the map: read its state anew.
        with self._region.mutex:
            array = self._array
            view = self._view
            if view is None or array is None:
                raise _closed()
            if item.__class__ is slice:
                return array[item]
            try:
                return view[item]
            except (IndexError, OverflowError):  # PyPy: OverflowError past ssize_t
                pass
        _args.index_or_indexerror(item)  # a plain int too large to be an index says so
        raise IndexError("mmap index out of range")

    if TYPE_CHECKING:

        @overload
        def __setitem__(self, item: SupportsIndex, value: int) -> None: ...

        @overload
        def __setitem__(self, item: slice, value: ReadableBuffer) -> None: ...

    def __setitem__(self, item: Any, value: Any) -> None:
        # The hot paths: a store of plain values, with the lock held (a store
        # must not land in a mapping a resize is leaving behind): an int at
        # an int, or bytes, a bytearray or a contiguous memoryview (C types:
        # reading them runs no Python code) at a slice of ints.  The memoryview
        # checks the index and the value (or the slice's length, and the
        # value's format), and is read-only for an ACCESS_READ map.  If it
        # raises, the full path finds the C module's error.
        if ((item.__class__ is int and value.__class__ is int)
                or (item.__class__ is slice
                    and (value.__class__ is bytes or value.__class__ is bytearray
                         or (value.__class__ is memoryview and value.c_contiguous))
                    and item.step is None
                    and (item.start is None or item.start.__class__ is int)
                    and (item.stop is None or item.stop.__class__ is int))):
            mutex = self._region.mutex
            try:
                mutex.acquire()
                view = self._view
                try:
                    view[item] = value  # type: ignore[index, assignment]
                    return
                except (TypeError, ValueError, IndexError, OverflowError):
                    pass
            finally:
                mutex.release()
        self._setitem(item, value)

    def _setitem(self, item: Any, value: Any) -> None:
        """Internal: ``m[item] = value`` for any ``item`` and ``value``, with the C module's errors.

        The checks come in the order of the running version's C module.
        Since CPython 3.14.8: the map must be writable; then a slice is
        converted and the value must be a buffer, or an index is converted
        and the value must be an int from 0 to 255; only then must the map
        be open, and the index (or the slice's size) fit it.  Before: the map
        must be open and writable first, and an index must fit the map
        before the value is looked at (CPython 3.13's own tests check it).

        Every conversion may run Python code that closes or resizes the
        map, so the view and its length are read after the last one, with
        the lock held for the store.
        """
        if _VALUE_BEFORE_INDEX:
            if self._access == ACCESS_READ:
                raise _readonly()
        else:
            self._check_writable()
        if item.__class__ is slice:
            item = _args.plain_slice(item)
            data = _args.buffer(value)
            with self._region.mutex:
                view = self._view
                if view is None:
                    raise _closed()
                start, stop, step = item.indices(len(view))
                count = len(range(start, stop, step))
                if len(data) != count:
                    raise IndexError("mmap slice assignment is wrong size")
                if count:
                    # After slice.indices() a stop of -1 means "past the front".
                    view[start:(None if stop < 0 else stop):step] = data
            return
        if not hasattr(type(item), "__index__"):
            raise TypeError("mmap indices must be integer")
        index = _args.index_or_indexerror(item)
        if not _VALUE_BEFORE_INDEX and not -self._size <= index < self._size:
            raise IndexError("mmap index out of range")
        if not hasattr(type(value), "__index__"):
            raise TypeError("mmap item value must be an int")
        byte = _args.index_size(value, TypeError)
        if not 0 <= byte <= 255:
            raise ValueError("mmap item value must be in range(0, 256)")
        with self._region.mutex:
            view = self._view
            if view is None:
                raise _closed()
            size = len(view)
            if index < 0:
                index += size
            if not 0 <= index < size:
                raise IndexError("mmap index out of range")
            view[index] = byte

    def __delitem__(self, item: Any) -> None:
        # The running version's order, as in _setitem: since CPython 3.14.8
        # deletion is refused once the index is converted, open or not;
        # before, the map must be open and the index in range first.
        if _VALUE_BEFORE_INDEX:
            if self._access == ACCESS_READ:
                raise _readonly()
        else:
            self._check_writable()
        if item.__class__ is slice:
            _args.plain_slice(item)
            raise TypeError("mmap object doesn't support slice deletion")
        if not hasattr(type(item), "__index__"):
            raise TypeError("mmap indices must be integer")
        i = _args.index_or_indexerror(item)
        if not _VALUE_BEFORE_INDEX and not -self._size <= i < self._size:
            raise IndexError("mmap index out of range")
        raise TypeError("mmap doesn't support item deletion")

    def _item(self, i: int) -> bytes:
        """Internal: byte ``i`` (``i >= 0``) as a 1-byte ``bytes``, as iteration yields it; one step."""
        if LOCK_FREE_READS:
            array = self._array
            if array is not None and i < self._size:
                try:
                    item: bytes = array[i]
                except (IndexError, ValueError):  # resized meanwhile; a PROT_NONE page
                    pass
                else:
                    if self._array is array:
                        return item
            array = None
        with self._region.mutex:
            array = self._array
            if array is None:
                raise _closed()
            if not 0 <= i < self._size:
                raise IndexError("mmap index out of range")
            return array[i]  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[bytes]:
        # The C module has no __iter__; Python iterates it through sq_item,
        # which yields 1-byte bytes objects (unlike m[i], which gives ints).
        i = 0
        while True:
            try:
                item = self._item(i)
            except IndexError:
                return
            yield item
            i += 1

    def __reversed__(self) -> Iterator[bytes]:
        i = len(self) - 1
        while i >= 0:
            try:
                item = self._item(i)
            except IndexError:
                return
            yield item
            i -= 1

    def __contains__(self, value: Any) -> bool:
        # Like the C module, `x in m` compares x with each 1-byte item: only
        # a single byte (as bytes, bytearray, ...) can ever be found.  The
        # hot path: a byte in bytes, looked for as find()'s hot path does,
        # in a copy of the map's first bytes, without the lock (and checked
        # afterwards); anything else, and a byte not found there, goes to
        # _search.
        if value.__class__ is bytes and len(value) == 1:
            if LOCK_FREE_READS:
                array = self._array
                if array is not None:
                    try:
                        hit = array[:_SEARCH_WINDOW].find(value)
                    except (ValueError, OSError):  # PROT_NONE, or a page gone: _search says what follows
                        pass
                    else:
                        if hit >= 0 and self._array is array:
                            return True
                array = None
            return self._search(value, 0, None, True) >= 0
        self._check_valid()
        if isinstance(value, (bytes, bytearray)):
            if len(value) != 1:
                return False
            return self._search(bytes(value), 0, None, True) >= 0
        return any(value == item for item in self)

    # --- the file protocol ------------------------------------------------------

    def tell(self) -> int:
        """Return the current position."""
        self._check_valid()
        return self._pos

    def seekable(self) -> bool:
        """Return True: a map can always seek."""
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        """Move the position to ``pos`` (``whence`` 0), relative to it (1) or to the end (2).

        Returns the new position (CPython 3.13 and later; earlier versions
        returned None).
        """
        if pos.__class__ is not int or whence.__class__ is not int:
            # Converted before the lock: an __index__ may run any code.
            pos = _args.ssize(pos)
            whence = _args.clinic_int(whence)
        mutex = self._region.mutex
        try:
            mutex.acquire()
            # The hot path: a new position inside the map, checked once.
            # Plain ints too large for C (OverflowError there) never land
            # inside it, so their errors are left to _seek_error.
            if whence == 0:
                where = pos
            elif whence == 1:
                where = self._pos + pos
            elif whence == 2:
                where = self._size + pos
            else:
                where = -1
            if 0 <= where <= self._size and self._view is not None:
                self._pos = where
                return where
            self._seek_error(pos, whence)
        finally:
            mutex.release()

    def _seek_error(self, pos: int, whence: int) -> NoReturn:
        """Internal: raise what the C module's seek() raises for ``pos`` and ``whence`` (lock held).

        In its order: an int too large for C, a closed map, an unknown
        ``whence``, a position outside the map (even past ``sys.maxsize``).
        """
        _args.ssize(pos)
        _args.clinic_int(whence)
        if self._view is None:
            raise _closed()
        if whence not in (0, 1, 2):
            raise ValueError("unknown seek type")
        raise ValueError("seek out of range")

    def read(self, n: Optional[int] = None) -> bytes:
        """Read up to ``n`` bytes from the position; all the rest if ``n`` is omitted, None or negative."""
        if n is None or (n.__class__ is int and _SSIZE_MIN <= n <= _SSIZE_MAX):
            count = n
        else:
            count = _args.optional_ssize(n)
        mutex = self._region.mutex
        try:
            mutex.acquire()
            array = self._array
            if array is None:
                raise _closed()
            pos = self._pos
            remaining = self._size - pos if pos < self._size else 0
            if count is None or count < 0 or count > remaining:
                count = remaining
            # (A PROT_NONE page, or a page gone from a checked map, raises
            # here: the position does not move.)
            data: bytes = array[pos:pos + count]
            self._pos = pos + count
            return data
        finally:
            mutex.release()

    def read_byte(self) -> int:
        """Return the byte at the position, as an int, and advance by one."""
        mutex = self._region.mutex
        try:
            mutex.acquire()
            view = self._view
            if view is None:
                raise _closed()
            pos = self._pos
            if pos >= self._size:
                raise ValueError("read byte out of range")
            byte: int = view[pos]
            self._pos = pos + 1
            return byte
        finally:
            mutex.release()

    def readline(self) -> bytes:
        """Read up to and including the next ``\\n`` (or to the end of the map)."""
        mutex = self._region.mutex
        try:
            mutex.acquire()
            array = self._array
            if array is None:
                raise _closed()
            pos = self._pos
            # Most lines are short: look in a small copy first.
            try:
                head = array[pos:pos + 256]  # (ctypes stops the slice at the end)
            except (ValueError, OSError):
                pass  # a PROT_NONE page (or a page gone) lies ahead: the long way finds out if it matters
            else:
                eol = head.find(b"\n")
                if eol >= 0:
                    self._pos = pos + eol + 1
                    return head[:eol + 1]  # type: ignore[no-any-return]
            # A long line: search the map in place (memchr).
            size = self._size
            if pos >= size:
                return b""
            eol = self._region.find_byte(10, pos, size)
            end = size if eol < 0 else eol + 1
            # (Readable: the search has read every byte up to the newline.)
            line: bytes = array[pos:end]
            self._pos = end
            return line
        finally:
            mutex.release()

    def write(self, data: ReadableBuffer) -> int:
        """Write the bytes-like ``data`` at the position; return the number of bytes written."""
        buf = data if data.__class__ is bytes else _args.buffer(data)
        mutex = self._region.mutex
        try:
            mutex.acquire()
            view = self._view
            if view is None:
                raise _closed()
            if self._access == ACCESS_READ:
                raise _readonly()
            pos = self._pos
            n = len(buf)
            if pos > self._size or self._size - pos < n:
                raise ValueError("data out of range")
            view[pos:pos + n] = buf
            self._pos = pos + n
            return n
        finally:
            mutex.release()

    def write_byte(self, byte: int) -> None:
        """Write one byte (an int from 0 to 255) at the position and advance by one."""
        if byte.__class__ is int and 0 <= byte <= 255:
            value = byte
        else:
            value = _args.ubyte(byte)
        mutex = self._region.mutex
        try:
            mutex.acquire()
            view = self._view
            if view is None:
                raise _closed()
            if self._access == ACCESS_READ:
                raise _readonly()
            pos = self._pos
            if pos >= self._size:
                raise ValueError("write byte out of range")
            view[pos] = value
            self._pos = pos + 1
        finally:
            mutex.release()

    # --- searching ---------------------------------------------------------------

    def find(self, sub: ReadableBuffer, start: Optional[int] = None, end: Optional[int] = None) -> int:
        """Return the lowest index of ``sub`` in ``[start, end)``, or -1.

        ``start`` defaults to the current position (not 0), and ``end`` to the
        end of the map; negative values count from the end.  An empty ``sub``
        is found at ``start`` (if ``start <= end``).
        """
        # The hot path (with a GIL): bytes between non-negative plain ints,
        # looked for in a copy of the first _SEARCH_WINDOW bytes, without
        # the lock, and answered if the needle is there or the range ends
        # there, and the array is still the map's (see _search).
        # (The slice stops at the array's end by itself: a copy shorter than
        # the window reached it.)
        if (LOCK_FREE_READS and sub.__class__ is bytes and sub
                and start.__class__ is int and 0 <= start <= _SSIZE_MAX
                and (end is None or (end.__class__ is int and 0 <= end <= _SSIZE_MAX))):
            array = self._array
            if array is not None:
                hi = start + _SEARCH_WINDOW
                if end is not None and end < hi:
                    hi = end
                try:
                    near = array[start:hi]
                except (ValueError, OSError):  # PROT_NONE, or a page gone: _search says what follows
                    pass
                else:
                    hit = near.find(sub)
                    if (hit >= 0 or hi == end or len(near) < hi - start) and self._array is array:
                        return start + hit if hit >= 0 else -1
            array = None
        needle = sub if sub.__class__ is bytes else bytes(_args.buffer(sub))
        return self._search(needle, start, end, True)

    def rfind(self, sub: ReadableBuffer, start: Optional[int] = None, end: Optional[int] = None) -> int:
        """Return the highest index of ``sub`` in ``[start, end)``, or -1.

        The bounds work as in :meth:`find`; an empty ``sub`` is found at ``end``.
        """
        # The hot path, as find's, over the last _SEARCH_WINDOW bytes.
        if (LOCK_FREE_READS and sub.__class__ is bytes and sub
                and start.__class__ is int and 0 <= start <= _SSIZE_MAX
                and (end is None or (end.__class__ is int and 0 <= end <= _SSIZE_MAX))):
            array = self._array
            if array is not None:
                stop = len(array)
                if end is not None and end < stop:
                    stop = end
                lo = stop - _SEARCH_WINDOW
                if lo < start:
                    lo = start
                try:
                    hit = array[lo:stop].rfind(sub)
                except (ValueError, OSError):  # PROT_NONE, or a page gone: _search says what follows
                    pass
                else:
                    if (hit >= 0 or lo == start) and self._array is array:
                        return lo + hit if hit >= 0 else -1
            array = None
        needle = sub if sub.__class__ is bytes else bytes(_args.buffer(sub))
        return self._search(needle, start, end, False)

    def _search(self, needle: bytes, start: Any, end: Any, forward: bool) -> int:
        """Internal: find (``forward``) or rfind ``needle`` in ``[start, end)``, as one step.

        The map is checked first, then the bounds converted, in the C
        module's order (their ``__index__`` may close the map: the search
        checks again).  Without ``start`` (or with None) the search runs from
        the position to the end of the map, and ``end`` is not even looked
        at: the C module's rule.  The bounds are then adjusted as
        ``bytes.find`` does: negative values
        count from the end, ``end`` is cut to the size, but ``start`` may
        stay past it (then nothing is found, not even an empty ``sub``:
        CPython 3.15).  With a GIL and a ``start``, the first few hundred
        bytes are searched without the lock, in a copy (one C call) that is
        checked afterwards as ``m[a:b]`` is; the rest of a search, and any
        search from the position, runs with the lock held.
        """
        if self._view is None:
            self._check_valid()
        if start is not None:
            if start.__class__ is not int or not _SSIZE_MIN <= start <= _SSIZE_MAX:
                start = _args.ssize(start)
            if end is not None and (end.__class__ is not int or not _SSIZE_MIN <= end <= _SSIZE_MAX):
                end = _args.ssize(end)
        if LOCK_FREE_READS and start is not None:
            array = self._array
            if array is not None:
                first, stop = _bounds(start, end, len(array))
                if needle and stop - first >= len(needle):
                    # The bytes nearest the start (for rfind, the end), and
                    # whether they are the whole range.
                    if forward:
                        lo, hi = first, min(stop, first + _SEARCH_WINDOW)
                        whole = hi == stop
                    else:
                        lo, hi = max(first, stop - _SEARCH_WINDOW), stop
                        whole = lo == first
                    try:
                        near = array[lo:hi]
                    except (ValueError, OSError):  # PROT_NONE, or a page gone: the region says what follows
                        near = None
                    if near is not None:
                        hit = near.find(needle) if forward else near.rfind(needle)
                        if (hit >= 0 or whole) and self._array is array:
                            return lo + hit if hit >= 0 else -1
            array = None
        mutex = self._region.mutex
        try:
            mutex.acquire()
            if self._view is None:
                raise _closed()
            if start is None:
                first, stop = self._pos, self._size
            else:
                first, stop = _bounds(start, end, self._size)
            if not needle:
                # CPython 3.15; before, `start` came back even when end < start
                # (until 3.13) or start > len(m) (until 3.15).
                if first > stop:
                    return -1
                return first if forward else stop
            if forward:
                if first + len(needle) <= stop:
                    # The bytes nearest the start first, in a copy (what
                    # the region's find does first, without its calls).
                    hi = first + _SEARCH_WINDOW
                    if hi > stop:
                        hi = stop
                    try:
                        hit = self._array[first:hi].find(needle)  # type: ignore[index]
                    except (ValueError, OSError):  # PROT_NONE, or a page gone: the region says what follows
                        hit = -1
                        hi = -1
                    if hit >= 0:
                        return first + hit  # type: ignore[no-any-return]
                    if hi == stop:
                        return -1
                return self._region.find(needle, first, stop)
            return self._region.rfind(needle, first, stop)
        finally:
            mutex.release()

    # --- whole-map operations ----------------------------------------------------

    def flush(self, offset: int = 0, size: int = -1, *, flags: int = 0) -> None:
        """Write changes back to the file (``msync(2)``).

        Flushes ``size`` bytes from ``offset``, or (the default, ``size=-1``)
        everything from ``offset`` to the end.  ``offset`` must be a multiple
        of the page size.  Does nothing for ``ACCESS_READ`` and
        ``ACCESS_COPY`` maps, which never change the file.

        ``flags`` (keyword-only, as in CPython 3.15) goes to ``msync``:
        ``MS_SYNC`` (what the default, 0, means) waits until the kernel has
        written the pages; ``MS_ASYNC`` returns at once (see
        :meth:`flush_async`); either may add ``MS_INVALIDATE``.
        """
        if offset.__class__ is not int or not _SSIZE_MIN <= offset <= _SSIZE_MAX:
            offset = _args.ssize(offset)
        if size.__class__ is not int or not _SSIZE_MIN <= size <= _SSIZE_MAX:
            size = _args.ssize(size)
        if flags.__class__ is not int or not _INT_MIN <= flags <= _INT_MAX:
            flags = _args.clinic_int(flags)
        mutex = self._region.mutex  # (acquire and release: a with statement costs twice as much)
        try:
            mutex.acquire()
            if self._view is None:
                raise _closed()
            if size == -1:
                # The newest CPython (gh-138092); before, the default size was the
                # whole length, so flush(offset) alone raised ValueError.
                size = self._size - offset
            if size < 0 or offset < 0 or self._size - offset < size:
                raise ValueError("flush values out of range")
            if self._access == ACCESS_READ or self._access == ACCESS_COPY:
                return None
            self._region.flush(offset, size, flags or _MS_SYNC)
        finally:
            mutex.release()
        return None

    def flush_async(self, offset: int = 0, size: Optional[int] = None) -> None:
        """Start writing changes back to the file, and return at once.

        The same as ``flush(offset, size, flags=MS_ASYNC)``; ``size=None``
        means to the end.  On Linux, ``MS_ASYNC`` does not even start the
        write: the kernel already knows which pages are dirty, and writes them
        back within a few seconds (or at ``munmap``) anyway.  Use
        :meth:`flush` when the data must be on disk before you go on.
        """
        self.flush(offset, -1 if size is None else size, flags=_MS_ASYNC)

    def move(self, dest: int, src: int, count: int) -> None:
        """Copy ``count`` bytes from offset ``src`` to offset ``dest``; the ranges may overlap."""
        # The hot path: plain ints in range, and a plain view (no page
        # protected, not a checked map), copied by one store: a memoryview's
        # (memmove(3) inside: overlapping ranges are fine), or on PyPy the
        # stand-in's, one ffi.memmove from a view of the same memory.  A
        # read-only map's view refuses it (TypeError): the long way then
        # raises the C module's error.
        if dest.__class__ is int and src.__class__ is int and count.__class__ is int:
            mutex = self._region.mutex
            try:
                mutex.acquire()
                view: Any = self._view  # (a memoryview, or PyPy's FastView)
                if (view.__class__ is memoryview or view.__class__ is FastView) and count >= 0:
                    size = self._size
                    if 0 <= dest <= size - count and 0 <= src <= size - count:
                        try:
                            view[dest:dest + count] = view[src:src + count]
                            return
                        except TypeError:
                            pass
            finally:
                mutex.release()
        dest = _args.ssize(dest)
        src = _args.ssize(src)
        count = _args.ssize(count)
        mutex = self._region.mutex
        try:
            mutex.acquire()
            self._check_writable()
            size = self._size
            if dest < 0 or src < 0 or count < 0 or size - dest < count or size - src < count:
                raise ValueError("source, destination, or count out of range")
            self._region.move(dest, src, count)
        finally:
            mutex.release()

    def size(self) -> int:
        """Return the size of the mapped file (which may differ from ``len()``).

        For an anonymous map, return its length (as CPython 3.15 does;
        earlier versions raised ``OSError``).  With ``trackfd=False`` there is
        no descriptor to ask: :class:`SizeError`, which is both the
        ``OSError`` (EBADF) of CPython 3.13 and 3.14 and the ``ValueError``
        of 3.15.
        """
        mutex = self._region.mutex  # (close() must not close the descriptor under fstat)
        try:
            mutex.acquire()
            if self._view is None:
                raise _closed()
            if not self._trackfd:
                raise SizeError(errno.EBADF, "can't get size with trackfd=False")
            fd = self._file.fd
            if fd == -1:
                return self._size
            return backend.file_size(fd)
        finally:
            mutex.release()

    def resize(self, newsize: int) -> None:
        """Change the size of the map, and of the file behind it.

        The file is set to ``offset + newsize`` bytes (``ftruncate(2)``) and
        the mapping follows it (``mremap(2)``); the position is kept, even if
        it is now past the end.

        Deliberate difference: CPython 3.14 and later refuse to grow a shared
        anonymous map (``ValueError``), and earlier versions grow it into
        memory that kills the process with SIGBUS when touched; pymmap grows
        it (see :meth:`MappedRegion.resize <pymmap.region.MappedRegion.resize>`).
        """
        newsize = _args.ssize(newsize)
        with self._region.mutex:
            self._check_valid()
            self._exports.stop("mmap can't resize with extant buffers exported.")
            region = self._detach()
            try:
                if not self._trackfd:
                    # Without its own descriptor the map cannot change the file's size.
                    raise ValueError("mmap can't resize with trackfd=False.")
                if self._access == ACCESS_READ or self._access == ACCESS_COPY:
                    raise TypeError("mmap can't resize a readonly or copy-on-write memory map.")
                if newsize < 0 or sys.maxsize - newsize < self._offset:
                    raise ValueError("new size out of range")
                region.resize(newsize, self._file.fd)
            finally:
                self._attach(region)

    if backend.HAS_MADVISE:  # (the C module has madvise() only where the system has madvise(2))

        def madvise(self, option: int, start: int = 0, length: Optional[int] = None) -> None:
            """Advise the kernel about how ``[start, start + length)`` will be used (``madvise(2)``).

            ``length`` defaults to (and None means) the rest of the map.  A child
            forked after ``MADV_DONTFORK`` finds zero-filled pages in the advised
            range instead of dying on them (see :meth:`MappedRegion.advise
            <pymmap.region.MappedRegion.advise>`).
            """
            if option.__class__ is not int or not _INT_MIN <= option <= _INT_MAX:
                option = _args.clinic_int(option)
            if start.__class__ is not int or not _SSIZE_MIN <= start <= _SSIZE_MAX:
                start = _args.ssize(start)
            if self._view is None:
                self._check_valid()
            # CPython 3.14+ converts the optional length only once the map is
            # known to be open (an __index__ there may still close it).
            if length is not None and (length.__class__ is not int or not _SSIZE_MIN <= length <= _SSIZE_MAX):
                length = _args.ssize(length)
            with self._region.mutex:
                if self._view is None:
                    raise _closed()
                if length is None:
                    length = self._size
                if start < 0 or start >= self._size:
                    raise ValueError("madvise start out of bounds")
                if length < 0:
                    raise ValueError("madvise length invalid")
                if sys.maxsize - start < length:
                    raise OverflowError("madvise length too large")
                self._region.advise(option, start, length)  # (the region cuts the range at the end)

    def set_name(self, name: str) -> None:
        """Name an anonymous map; the name shows in ``/proc/self/maps`` (Linux 5.17+).

        The kernel sees ``cpython:mmap:<name>``, as with CPython 3.15, so tools
        that look for CPython's label find pymmap's maps too.  ``name`` is at
        most 66 bytes in UTF-8.  File maps cannot be named (``ValueError``).

        Deliberate difference: CPython 3.15 asks the kernel only in
        development mode (``python -X dev``), and otherwise returns without
        labelling; pymmap always labels.  A kernel without the feature
        (``EINVAL``: no ``CONFIG_ANON_VMA_NAME``) is reported as 3.15 reports
        it: ``OSError`` in development mode, silence otherwise.
        """
        if not isinstance(name, str):
            raise TypeError(f"set_name() argument must be str, not {type(name).__name__}")
        if "\0" in name:
            raise ValueError("embedded null character")
        label = _ANON_NAME_PREFIX + name.encode("utf-8")
        if len(label) > _ANON_NAME_MAX:
            raise ValueError("name is too long")
        with self._region.mutex:
            region = self._live_region()
            if region.fd != -1:
                raise ValueError("Cannot set annotation on non-anonymous mappings")
            try:
                region.set_name(label)
            except OSError as exc:
                if exc.errno != errno.EINVAL or sys.flags.dev_mode:
                    raise

    # --- beyond the stdlib: protection, locking, residency --------------------
    # None of these exist in the C module.  They take a range the way
    # madvise() does: start=0, length=None meaning "to the end".  Each runs
    # with the lock held.

    def _checked_page_range(self, name: str, start: int, length: Optional[int]) -> Tuple[int, int]:
        """Internal: check the map is open, and ``start`` and ``length`` as madvise() does; return them.

        ``length`` None means the rest of the map.  (A range running past
        the end is cut there by the region.)  The caller holds the lock
        (the conversions run first: an ``__index__`` must not find it held
        by its own thread halfway).
        """
        self._check_valid()
        size = self._size
        if start < 0 or start >= size:
            raise ValueError(f"{name} start out of bounds")
        if length is None:
            return start, size - start
        if length < 0:
            raise ValueError(f"{name} length invalid")
        return start, length

    def protect(self, prot: int, start: int = 0, length: Optional[int] = None) -> None:
        """Change what may be done with the pages of ``[start, start + length)`` (``mprotect(2)``).

        ``prot`` is ``PROT_NONE`` (nothing at all: a *guard page*),
        ``PROT_READ`` (read-only) or ``PROT_READ | PROT_WRITE``.  ``start``
        must be a multiple of ``PAGESIZE``; ``length`` (default: the rest of
        the map) is rounded up to whole pages, because the CPU protects
        memory a page at a time.

        In C, touching such a page kills the process with SIGSEGV.  pymmap
        checks first: afterwards, reading a ``PROT_NONE`` page through any of
        its operations raises ``ValueError``, and writing a read-only page
        raises ``TypeError``.  Giving the pages the map's own protection again
        lifts the checks.

        A map cannot be granted more than it was created with (``TypeError``,
        e.g. ``PROT_WRITE`` on an ``ACCESS_READ`` map).  While a buffer
        exported by the map is alive, ``protect()`` raises ``BufferError``:
        that view could not be stopped from writing to a read-only page.
        """
        prot = _args.c_int(prot)
        start = _args.ssize(start)
        length = None if length is None else _args.ssize(length)
        with self._region.mutex:  # serialised with close() and resize()
            start, length = self._checked_page_range("protect", start, length)
            region = self._region
            prot = region.allowed_protection(prot, start)  # (before a buffer still out is asked about)
            self._exports.stop("mmap can't change protection with extant buffers exported.")
            self._detach()
            try:
                region.protect(prot, start, length)
            finally:
                self._attach(region)

    def lock(self, start: int = 0, length: Optional[int] = None) -> None:
        """Keep the pages of ``[start, start + length)`` in RAM (``mlock(2)``).

        Locked pages are read in at once and never swapped out, until
        :meth:`unlock` or :meth:`close`.  The kernel limits how much memory
        an unprivileged process may lock (``RLIMIT_MEMLOCK``, ``ulimit -l``);
        past it, ``OSError`` is raised, and its message says so.
        """
        start, length = _page_args(start, length)
        with self._region.mutex:
            start, length = self._checked_page_range("lock", start, length)
            self._region.lock(start, length)

    def unlock(self, start: int = 0, length: Optional[int] = None) -> None:
        """Let the pages of ``[start, start + length)`` be swapped out again (``munlock(2)``)."""
        start, length = _page_args(start, length)
        with self._region.mutex:
            start, length = self._checked_page_range("unlock", start, length)
            self._region.unlock(start, length)

    def resident(self, start: int = 0, length: Optional[int] = None) -> bytes:
        """Return which pages of ``[start, start + length)`` are in RAM (``mincore(2)``).

        The result has one byte per page, from the page that holds ``start``:
        1 if the page is resident (touching it needs no disk read), 0 if not.
        For a file map, "resident" means the page is in the page cache.
        """
        start, length = _page_args(start, length)
        with self._region.mutex:
            start, length = self._checked_page_range("resident", start, length)
            return self._region.resident(start, length)

    def is_loaded(self) -> bool:
        """Return True if every page of the map is resident in RAM (see :meth:`resident`)."""
        return 0 not in self.resident()

    def pages(self, start: int = 0, end: Optional[int] = None) -> _page_states.PageStates:
        """Return what each page of ``[start, end)`` is doing: a :class:`~pymmap.page_states.PageStates`.

        One :class:`~pymmap.page_states.PageState` per page that the byte
        range touches (the whole map by default): ``resident`` (in RAM),
        ``mapped`` (in this process's page table), ``private`` (this
        process's own copy), ``dirty`` (changes not yet written to the
        file) and ``swapped``, each True, False or None where the system
        will not tell (see :mod:`pymmap.page_states`).  ``print(m.pages())``
        draws a one-line strip with a legend.  Looking changes nothing: no
        page is touched.
        """
        if start.__class__ is not int:
            start = _args.ssize(start)
        if end is not None and end.__class__ is not int:
            end = _args.ssize(end)
        with self._region.mutex:
            region = self._live_region()
            size = self._size
            stop = size if end is None else max(0, min(end, size))
            if start < 0 or start > size:
                raise ValueError("pages start out of bounds")
            first = start // backend.PAGESIZE
            count = max(0, -(-stop // backend.PAGESIZE) - first)
            anonymous = region.fd == -1 and self._file.fd == -1
            from .page_states import read_states

            return read_states(region.address, first, count, self._file.fd, self._offset,
                                            anonymous)

    def load(self, start: int = 0, length: Optional[int] = None) -> None:
        """Bring the pages of ``[start, start + length)`` into RAM now.

        First ``madvise(MADV_WILLNEED)`` asks the kernel to start reading
        them; then one byte of each page is read, which waits for each page
        and maps it, so that later accesses cause no page fault.  The reads go
        through the same checks as ``m[i]``: a ``PROT_NONE`` page raises
        ``ValueError``.  Under memory pressure the kernel may evict pages
        again; :meth:`lock` keeps them.
        """
        start, length = _page_args(start, length)
        with self._region.mutex:
            start, length = self._checked_page_range("load", start, length)
            self._region.load(start, length)


_INT_MIN = -(2**31)
_INT_MAX = 2**31 - 1
#: The most bytes ``m[a:b]`` copies without the lock.  Larger copies take
#: it: its cost is lost in theirs, and a resize or close then never waits
#: long for a lock-free reader to let go (see MappedRegion._drop_views).
#: (On PyPy, a 16 MiB copy kept in a local variable before it is returned
#: took 7 ms, against 1 ms returned at once.)
_LOCK_FREE_COPY = 64 * 1024
#: How many bytes a search first looks at in a copy (see MappedRegion.find).
_SEARCH_WINDOW = 256


#: The compiled Structs of the format strings that unpack_from() and
#: pack_into() have met, so that their hot paths take a string as they take
#: a Struct (the Struct the long way compiled, in pymmap.typed; at most
#: _MOST_LAYOUTS are kept).
_LAYOUTS: Dict[str, _Struct] = {}
_MOST_LAYOUTS = 256


def _remember_layout(fmt: Any) -> None:
    """Internal: keep the Struct of format string ``fmt`` for the hot paths (once the long way took it)."""
    if fmt.__class__ is str and len(_LAYOUTS) < _MOST_LAYOUTS:
        from .typed import _layout  # (loaded: the long way has just used it)

        _LAYOUTS[fmt] = _layout(fmt)  # (compiled there already: its cache answers)


def _page_args(start: Any, length: Any) -> Tuple[int, Optional[int]]:
    """Internal: the ``start`` and ``length`` of the page methods, converted (before the lock)."""
    return _args.ssize(start), None if length is None else _args.ssize(length)


def _bounds(start: int, end: Optional[int], size: int) -> Tuple[int, int]:
    """Internal: find()'s bounds as ``bytes.find`` adjusts them, for a map of ``size`` bytes.

    Negative values count from the end; ``end`` (None: the end) is cut to
    the size, but ``start`` may stay past it.
    """
    if start < 0:
        start = max(0, start + size)
    if end is None or end > size:
        end = size
    elif end < 0:
        end = max(0, end + size)
    return start, end
