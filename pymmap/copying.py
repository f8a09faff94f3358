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
built on them (:class:`FastView` and :class:`FastArray`).

The few C types needed here are made with cffi's backend module,
``_cffi_backend``, the way ``cffi.FFI`` makes them once it has parsed a
declaration: ``FFI()`` itself imports cffi's C parser (pycparser, and
``subprocess`` with it), which costs PyPy 100-200 ms at import.  In this
module's comments, ``ffi.cast`` and the like name the ``FFI`` methods that
the backend's functions are.

**Keeping the memory mapped.**  Mapped memory stays mapped while a ctypes
array over it is alive (see :mod:`pymmap.lease`, "The lifetime of a map",
for the whole story), so whatever
reaches the bytes must keep that array alive.  The cffi objects made here
(``ffi.cast("char *", address)``, pointer arithmetic such as ``p + 10``,
and an ``ffi.buffer`` over either) hold nothing, and PyPy's memoryview of
them holds only them.  So, as on PyPy before cffi (whose memoryview of a
ctypes array holds nothing either), the array is held beside them: the
stand-ins keep it in an attribute, the region in :attr:`array`, and the
functions below are called by code that holds it in a local variable.

cffi has one object that would hold the array, ``ffi.from_buffer(obj)``,
which holds ``obj``.  It is not used: PyPy 3.11 gives a buffer lent to it
back (``__release_buffer__``) in a finalizer, so what it held dies one
garbage collection later (and each close would leave a finalizer to the
collector); and PyPy 3.9's ctypes lends an array's buffer only after
reading its first byte, which dies with SIGSEGV if
:meth:`~pymmap.mmap.protect` made that page ``PROT_NONE``.
"""

from __future__ import annotations

from ctypes import addressof

from ._interpreter import PYPY

TYPE_CHECKING = False  # typing's flag, without importing typing: see pymmap/__init__.py
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SLOW_SLICES", "FastArray", "FastView", "bytes_at", "move", "store", "view_of"]

#: True where ctypes' own objects reach foreign memory slowly (PyPy): there
#: the region's view is made over cffi's objects, and the facade caches the
#: stand-ins below.
SLOW_SLICES = PYPY

if PYPY:
    import _cffi_backend  # cffi's core, part of PyPy itself

    _cast = _cffi_backend.cast  # ffi.cast(ctype, value)
    _buffer = _cffi_backend.buffer  # ffi.buffer(cdata, size)
    _memmove = _cffi_backend.memmove  # ffi.memmove(dest, src, n)
    _UCHAR = _cffi_backend.new_primitive_type("unsigned char")
    _UCHARS = _cffi_backend.new_pointer_type(_UCHAR)  # unsigned char *
    _CHARS = _cffi_backend.new_pointer_type(_cffi_backend.new_primitive_type("char"))  # char *


def _bytes_type(length: int) -> Any:
    """Internal (PyPy): the C type ``unsigned char (*)[length]``, a pointer to ``length`` bytes."""
    return _cffi_backend.new_pointer_type(_cffi_backend.new_array_type(_UCHARS, length))


def _bytes_of(array: Any) -> Any:
    """Internal (PyPy): an ``ffi.buffer`` over a ``c_char`` array's bytes; it holds nothing."""
    return _buffer(_cast(_CHARS, addressof(array)), len(array))


def view_of(array: Any) -> memoryview:
    """Return a writable memoryview (format ``'B'``) of a ``c_char`` array's bytes.

    On CPython a memoryview of the array, which holds the array.  On PyPy a
    memoryview of an ``ffi.buffer`` over the same bytes, which the JIT
    indexes at full speed; like PyPy's memoryview of the array itself, it
    does not hold the array: whoever keeps it must keep the array too.
    """
    if SLOW_SLICES:
        return memoryview(_bytes_of(array))
    return memoryview(array).cast("B")


def bytes_at(array: Any, start: int, stop: int) -> bytes:
    """Return bytes ``[start, stop)`` of a region, clamped like a slice.

    ``array`` is the region's; ``start`` and ``stop`` are non-negative.
    CPython slices the array (one ``memcpy``); PyPy slices cffi's buffer
    over the same bytes (slicing a memoryview copies a byte at a time on
    PyPy 3.11, and on 3.9 when it is read-only).
    """
    # (Returned at once, not kept in a local variable first: on PyPy that
    # made a 16 MiB copy take 7 ms instead of 1.)
    if SLOW_SLICES:
        return _bytes_of(array)[start:stop]  # type: ignore[no-any-return]
    return array[start:stop]  # type: ignore[no-any-return]


def store(array: Any, view: memoryview, start: int, data: Any) -> None:
    """Copy the bytes-like ``data`` (``bytes`` or a format ``'B'`` memoryview) into a region at ``start``.

    ``array`` and ``view`` are the region's.  As with
    ``view[start:start + len(data)] = data``: data that does not fit raises
    ``ValueError`` and writes nothing, and a read-only view raises
    ``TypeError``.  On PyPy that assignment costs 100 ns or more even for
    a few bytes, and copies from anything but ``bytes`` a byte at a time;
    ``ffi.memmove`` copies from every buffer at ``memcpy`` speed.
    """
    n = len(data)
    if SLOW_SLICES and not view.readonly and 0 <= start <= len(view) - n:
        _memmove(_cast(_CHARS, addressof(array) + start), data, n)
    else:
        view[start:start + n] = data


def move(array: Any, view: memoryview, dest: int, src: int, count: int) -> None:
    """Copy ``count`` bytes from ``src`` to ``dest`` within a region; the ranges may overlap.

    Out-of-range arguments raise ``ValueError`` and copy nothing, and a
    read-only view raises ``TypeError``, as for a memoryview.  (PyPy's
    memoryview copies an overlapping range through a temporary, at a third
    of the speed of ``memmove(3)`` or less.)
    """
    size = len(view)
    if (SLOW_SLICES and not view.readonly and count >= 0 and 0 <= dest <= size - count
            and 0 <= src <= size - count):
        base = addressof(array)
        _memmove(_cast(_CHARS, base + dest), _cast(_CHARS, base + src), count)
    else:
        view[dest:dest + count] = view[src:src + count]


class FastArray:
    """Stands in for a region's ``c_char`` array on PyPy: reads it through cffi's buffer.

    ``fast[i]`` is a 1-byte ``bytes``, ``fast[a:b]`` and ``fast[a:b:c]``
    are ``bytes``, clamped like slices: exactly what the array gives, and
    what ``ffi.buffer`` gives too, at ``memcpy`` speed.  The stand-in holds
    the array (the buffer holds nothing).
    """

    __slots__ = ("_array", "_bytes")

    def __init__(self, array: Any) -> None:
        self._array = array
        self._bytes = _bytes_of(array)

    def __len__(self) -> int:
        return len(self._array)

    def __getitem__(self, item: Any) -> Any:
        return self._bytes[item]


class FastView:
    """Stands in for a region's memoryview on PyPy: reads and stores through a cffi pointer.

    ``fast[i]`` reads and ``fast[i] = v`` stores one byte through an
    ``unsigned char[length]`` cdata over the array's bytes (cffi checks the
    index against the length, and the value against 0-255, before touching
    memory; the JIT compiles both to a load or a store).  A slice store
    ``fast[a:b] = data`` (in bounds, a step of None or 1; ``data`` is
    ``bytes`` or a format ``'B'`` memoryview, as the facade passes) is one
    ``ffi.memmove``; PyPy's memoryview stores one byte at a time from
    anything but ``bytes``, and costs over 100 ns for a single byte.
    Whatever the fast roads do not take (negative indexes, slices with a
    step or out of bounds, sizes that differ) goes to the memoryview.  An
    error may differ in type from the memoryview's (``OverflowError`` for
    256, where it raises ``ValueError``): the facade finds the stdlib's
    error itself when a store fails.

    The stand-in holds the array (the cdata holds nothing).  A read-only
    view gets no store pointer: every store goes to the memoryview, which
    refuses it.
    """

    __slots__ = ("_array", "_length", "_pointer", "_raw", "_store")

    def __init__(self, raw: memoryview, array: Any) -> None:
        self._raw = raw
        self._array = array
        self._length = len(raw)
        # ffi.cast cannot make an array, but a pointer to an array of the
        # right length can be cast and dereferenced: a cdata with a length.
        self._pointer = _cast(_bytes_type(len(array)), addressof(array))[0]
        self._store = None if raw.readonly else self._pointer

    def __len__(self) -> int:
        return self._length

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
            if item.__class__ is slice:
                # The slices the facade passes: two ints in order, inside the
                # view, and a step of None or 1.  (Not slice.indices(), which
                # costs PyPy's interpreter about 0.9 us: before the JIT
                # compiles a caller, a third of a 1 MiB write's overhead.)
                start = item.start
                stop = item.stop
                step = item.step
                if ((step is None or (step.__class__ is int and step == 1))
                        and start.__class__ is int and stop.__class__ is int
                        and 0 <= start <= stop <= self._length and len(value) == stop - start):
                    _memmove(pointer + start, value, stop - start)
                    return
        self._raw[item] = value
