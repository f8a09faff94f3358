"""Reaching mapped memory at full speed: ctypes' objects on CPython, cffi's on PyPy.

This module is the one place where pymmap reaches the mapped bytes
differently on the two interpreters.  Everything above it (the region, the
facade) indexes, slices and stores through the objects made here.

**CPython.**  A memoryview of the region's ``ctypes`` array, and the array
itself, are all it takes: ``array[a:b]`` and ``view[a:b] = data`` are one
``memcpy`` each, and ``view[i]`` is one C call.

**PyPy.**  PyPy's JIT compiles Python loops to machine code, but it cannot
see through ``ctypes``: on PyPy, ctypes is itself written in Python over a
foreign-function layer the JIT treats as opaque.  Indexing a memoryview of
a ctypes array costs about 80 ns there (a real foreign call each time);
slicing the array copies a byte at a time (about 70 ms per MiB), and
``ctypes.string_at``/``memmove`` cost half a microsecond per call.

cffi is PyPy's own foreign-function interface, and it is built into PyPy
(``import cffi`` works on a bare PyPy, and its ABI mode needs no C
compiler).  The JIT knows cffi's objects: reading ``p[i]`` through a cffi
pointer, or indexing a memoryview of a cffi buffer, compiles to a single
load (about 1 ns); slicing ``ffi.buffer`` and ``ffi.memmove`` are a
``memcpy`` with no foreign call around it.  So on PyPy the region's
memoryview is made over cffi's objects, and the facade caches two stand-ins
(:class:`FastView` and :func:`fast_array`) built on them.

**Keeping the memory mapped.**  Mapped memory stays mapped while a ctypes
array over it is alive (see :class:`~pymmap.lease.Lease`), so every object
here must keep that array alive.  PyPy's memoryview of the ctypes array
itself does *not* hold the array; a chain of cffi objects does:

- ``ffi.from_buffer(obj)`` holds ``obj``.  Here ``obj`` is a
  :class:`_Lender`, which holds the array and lends its bytes.
- ``ffi.buffer(cdata)`` holds ``cdata``, and PyPy's memoryview of an
  ``ffi.buffer`` holds the buffer.

Two cffi objects hold nothing: ``ffi.cast("char *", address)`` and pointer
arithmetic (``p + 10``).  They appear here only as temporaries, inside a
call whose caller holds ``p``.  (``ffi.from_buffer(array)`` would hold the
array itself, but PyPy 3.9's ctypes lends an array's buffer only after
reading its first item: a page fault, or SIGSEGV if that page is
``PROT_NONE``.  And ``ffi.gc(pointer, destructor)`` holds its destructor,
but lets it go only in a finalizer, one garbage collection later than a
plain reference: ``close()`` and ``protect()`` would then wait longer to
see that a dropped view is gone.)
"""

from ctypes import addressof
from typing import Any

from ._interpreter import PYPY

__all__ = ["SLOW_SLICES", "FastView", "bytes_at", "fast_array", "move", "store", "view_of"]

#: True where ctypes' own objects reach foreign memory slowly (PyPy): there
#: the region's view is made over cffi's objects, and the facade caches the
#: stand-ins below.
SLOW_SLICES = PYPY

if PYPY:
    import cffi  # part of PyPy itself

    _ffi = cffi.FFI()
    _cast = _ffi.cast
    _from_buffer = _ffi.from_buffer
    _buffer = _ffi.buffer
    _memmove = _ffi.memmove
    _BYTES = _ffi.typeof("unsigned char[]")
    _CHARS = _ffi.typeof("char *")


class _Lender:
    """Internal: lends a ``c_char`` array's bytes to cffi, and holds the array meanwhile (PyPy).

    ``ffi.from_buffer(lender)`` asks for the bytes through ``__buffer__``
    (PEP 688, which PyPy follows): a memoryview of a cffi buffer made from
    the bare address, which holds nothing.  The cdata it returns holds the
    lender, and the lender holds the array.
    """

    __slots__ = ("_array", "_bytes")

    def __init__(self, array: Any) -> None:
        self._array = array
        self._bytes = memoryview(_buffer(_cast(_CHARS, addressof(array)), len(array)))

    def __buffer__(self, flags: int) -> memoryview:
        return self._bytes


def view_of(array: Any) -> memoryview:
    """Return a writable memoryview (format ``'B'``) of a ``c_char`` array; it keeps the array alive.

    On CPython a memoryview of the array, which holds the array.  On PyPy a
    memoryview of an ``ffi.buffer`` over the same bytes, which the JIT
    indexes at full speed, held by a chain of references down to the array
    (see the module's docstring).
    """
    if SLOW_SLICES:
        return memoryview(_buffer(_from_buffer(_Lender(array))))
    return memoryview(array).cast("B")


def fast_array(view: memoryview) -> Any:
    """Return an object that reads ``view``'s bytes like a ``c_char`` array (PyPy).

    ``fast[i]`` is a 1-byte ``bytes``, ``fast[a:b]`` and ``fast[a:b:c]``
    are ``bytes``, clamped like slices, and ``len(fast)`` is the length:
    exactly what slicing the region's array gives, which is what cffi's
    ``ffi.buffer`` gives too, at ``memcpy`` speed.  It keeps ``view``
    (and so the array) alive.
    """
    return _buffer(_from_buffer(view))


def bytes_at(array: Any, view: memoryview, start: int, stop: int) -> bytes:
    """Return bytes ``[start, stop)`` of a region, clamped like a slice.

    ``array`` and ``view`` are the region's; ``start`` and ``stop`` are
    non-negative.  CPython slices the array (one ``memcpy``); PyPy slices
    cffi's buffer over the view (slicing the memoryview itself copies a
    byte at a time on PyPy 3.11, and on 3.9 when it is read-only).
    """
    if SLOW_SLICES:
        copied: bytes = _buffer(_from_buffer(view))[start:stop]
        return copied
    data: bytes = array[start:stop]
    return data


def store(view: memoryview, start: int, data: Any) -> None:
    """Copy the bytes-like ``data`` (``bytes`` or a format ``'B'`` memoryview) into ``view`` at ``start``.

    As with ``view[start:start + len(data)] = data``: data that does not
    fit raises ``ValueError`` and writes nothing, and a read-only view
    raises ``TypeError``.  On PyPy that assignment costs 100 ns or more
    even for a few bytes, and copies from anything but ``bytes`` a byte at
    a time; ``ffi.memmove`` copies from every buffer at ``memcpy`` speed.
    """
    n = len(data)
    if SLOW_SLICES and not view.readonly and 0 <= start <= len(view) - n:
        _memmove(_from_buffer(view) + start, data, n)
    else:
        view[start:start + n] = data


def move(view: memoryview, dest: int, src: int, count: int) -> None:
    """Copy ``count`` bytes from ``src`` to ``dest`` within ``view``; the ranges may overlap.

    Out-of-range arguments raise ``ValueError`` and copy nothing, and a
    read-only view raises ``TypeError``, as for a memoryview.  (PyPy's
    memoryview copies an overlapping range through a temporary, at a third
    of the speed of ``memmove(3)`` or less.)
    """
    size = len(view)
    if (SLOW_SLICES and not view.readonly and count >= 0 and 0 <= dest <= size - count
            and 0 <= src <= size - count):
        base = _from_buffer(view)
        _memmove(base + dest, base + src, count)
    else:
        view[dest:dest + count] = view[src:src + count]


class FastView:
    """Stands in for a region's memoryview on PyPy: reads and stores through a cffi pointer.

    ``fast[i]`` reads and ``fast[i] = v`` stores one byte through an
    ``unsigned char[]`` pointer that cffi made over the view (it checks the
    index against the length, and the value against 0-255, before touching
    memory; the JIT compiles both to a load or a store).  A slice store
    ``fast[a:b] = data`` (no step; ``data`` is ``bytes`` or a format ``'B'``
    memoryview, as the facade passes) is one ``ffi.memmove``; PyPy's
    memoryview stores one byte at a time from anything but ``bytes``, and
    costs over 100 ns for a single byte.  Whatever the fast roads do not
    take (negative indexes, slices with a step, sizes that differ) goes to
    the memoryview.  An error may differ in type from the memoryview's
    (``OverflowError`` for 256, where it raises ``ValueError``): the facade
    finds the stdlib's error itself when a store fails.

    A read-only view gets no store pointer: every store goes to the
    memoryview, which refuses it.
    """

    __slots__ = ("_pointer", "_raw", "_store")

    def __init__(self, raw: memoryview) -> None:
        self._raw = raw
        # The pointers hold the view, which holds the array (see view_of).
        self._pointer = _from_buffer(_BYTES, raw)
        self._store = None if raw.readonly else self._pointer

    def __len__(self) -> int:
        return len(self._raw)

    def __getitem__(self, item: Any) -> Any:
        if item.__class__ is int and item >= 0:
            return self._pointer[item]
        return self._raw[item]

    def __setitem__(self, item: Any, value: Any) -> None:
        pointer = self._store
        if pointer is not None:
            if item.__class__ is int and item >= 0:
                pointer[item] = value
                return
            if item.__class__ is slice and item.step is None:
                start, stop, _ = item.indices(len(self._raw))
                n = stop - start if stop > start else 0
                if len(value) == n:
                    _memmove(pointer + start, value, n)
                    return
        self._raw[item] = value
