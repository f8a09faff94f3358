"""Copying bytes out of and into mapped memory, at memory speed on every interpreter.

On CPython, slicing a ``ctypes`` array (``array[a:b]``) or assigning to a
slice of a memoryview (``view[a:b] = data``) is one ``memcpy``: the
facade's hot paths do exactly that, with nothing in between.

PyPy copies foreign memory through those same objects one byte at a time:
a 1 MiB slice of a mapping takes about 70 ms there, a thousand times the
``memcpy``.  Its fast roads are ``ctypes.string_at`` (out of the mapping)
and ``ctypes.memmove`` (into it, from a ``bytearray``).  So on PyPy the
facade caches a :class:`FastArray` and a :class:`FastView` in place of the
region's array and memoryview: same indexing, fast slices.  The JIT inlines
these small classes, so single-byte access costs nothing extra.

:func:`bytes_at`, :func:`store` and :func:`move` are the same choice for the
region's own (less hot) copies.
"""

import ctypes
import sys
from typing import Any

__all__ = ["SLOW_SLICES", "FastArray", "FastView", "bytes_at", "move", "store"]

#: True where slicing foreign memory copies a byte at a time (PyPy).
SLOW_SLICES = sys.implementation.name == "pypy"

# Below this size a memoryview slice assignment is faster on PyPy than the
# bytearray copy and foreign call that ctypes.memmove needs (measured: the
# two cross near 4 KiB).
_SMALL_STORE = 4096

_string_at = ctypes.string_at
_memmove = ctypes.memmove
_addressof = ctypes.addressof


def _copy_in(address: int, data: Any) -> None:
    """Internal: copy the bytes-like ``data`` to ``address`` with one ``memmove``."""
    buf = data if data.__class__ is bytearray else bytearray(data)
    n = len(buf)
    if n:
        _memmove(address, (ctypes.c_char * n).from_buffer(buf), n)


def bytes_at(array: Any, start: int, stop: int) -> bytes:
    """Return bytes ``[start, stop)`` of a region's ``c_char`` array, clamped like a slice.

    ``start`` and ``stop`` are non-negative.
    """
    if not SLOW_SLICES:
        data: bytes = array[start:stop]
        return data
    stop = min(stop, len(array))
    return _string_at(_addressof(array) + start, stop - start) if stop > start else b""


def store(array: Any, view: memoryview, start: int, data: Any) -> None:
    """Copy the bytes-like ``data`` into the mapping at ``start``.

    As with ``view[start:start + len(data)] = data``, data that does not fit
    raises ``ValueError`` (from the memoryview) and writes nothing.
    """
    n = len(data)
    if SLOW_SLICES and n >= _SMALL_STORE and 0 <= start <= len(view) - n:
        _copy_in(_addressof(array) + start, data)
    else:
        view[start:start + n] = data


def move(array: Any, view: memoryview, dest: int, src: int, count: int) -> None:
    """Copy ``count`` bytes from ``src`` to ``dest`` within the mapping; the ranges may overlap."""
    if SLOW_SLICES:
        base = _addressof(array)
        _memmove(base + dest, base + src, count)
    else:
        view[dest:dest + count] = view[src:src + count]


class FastArray:
    """Stands in for a region's ``c_char`` array on PyPy: fast slices.

    ``fast[i]`` gives a 1-byte ``bytes`` and ``fast[a:b]`` the bytes, as the
    array does; slices with a step go to the array itself.
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def __len__(self) -> int:
        return len(self._raw)

    def __getitem__(self, item: Any) -> Any:
        if item.__class__ is slice and item.step is None:
            start, stop, _ = item.indices(len(self._raw))
            if stop <= start:
                return b""
            return _string_at(_addressof(self._raw) + start, stop - start)
        return self._raw[item]


class FastView:
    """Stands in for a region's memoryview on PyPy: fast slice assignment.

    Reads and single-byte stores go to the memoryview; a large slice store
    (``fast[a:b] = data``) becomes one ``memmove``.  The memoryview checks
    what it always checks (read-only, sizes, values) in every case.
    """

    __slots__ = ("_array", "_raw")

    def __init__(self, raw: memoryview, array: Any) -> None:
        self._raw = raw
        self._array = array

    def __len__(self) -> int:
        return len(self._raw)

    def __getitem__(self, item: Any) -> Any:
        return self._raw[item]

    def __setitem__(self, item: Any, value: Any) -> None:
        if item.__class__ is slice and item.step is None and not self._raw.readonly:
            start, stop, _ = item.indices(len(self._raw))
            n = stop - start if stop > start else 0
            if n >= _SMALL_STORE and len(value) == n:
                _copy_in(_addressof(self._array) + start, value)
                return
        self._raw[item] = value
