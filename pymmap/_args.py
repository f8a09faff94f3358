"""Internal: argument conversion with the C module's types and messages.

The C ``mmap`` module parses its arguments with ``PyArg_ParseTuple`` format
codes: ``i`` (a C ``int``), ``n`` (a ``Py_ssize_t``), ``L`` (a 64-bit
``off_t``), ``b`` (an unsigned char) and ``y*`` (any bytes-like object).
These helpers reproduce each code's checks, exception types and messages,
so that pymmap rejects bad arguments exactly as the stdlib does.  They are
called once, at the entrance of each method (house style: normalise first,
then work with plain ints).
"""

from __future__ import annotations

import struct
import sys
from operator import index

TYPE_CHECKING = False  # typing's flag, without importing typing: see pymmap/__init__.py
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple, Union

__all__ = [
    "SSIZE_MAX", "SSIZE_MIN", "CSignature", "buffer", "c_int", "clinic_int", "index_or_indexerror",
    "index_size", "off_t", "optional_ssize", "plain_slice", "ssize", "ubyte",
]

_INT_MAX = 2**31 - 1
_INT_MIN = -(2**31)
#: The range of C's ``Py_ssize_t`` (``ssize_t``), which sizes, offsets and
#: indexes must fit.
SSIZE_MAX = sys.maxsize
SSIZE_MIN = -sys.maxsize - 1
_OFF_MAX = 2**63 - 1
_OFF_MIN = -(2**63)
_LONG_MAX = 2 ** (8 * struct.calcsize("l") - 1) - 1
_LONG_MIN = -_LONG_MAX - 1
# CPython parses a 64-bit off_t with format ``l`` where a C long holds it
# (LP64 systems), whose overflow message names the C type, and with ``L``
# (long long) elsewhere (Windows, 32-bit systems), whose conversion says
# only "int too big to convert" (seen on Windows and on 32-bit ARM).
_OFF_T_OVERFLOW = ("Python int too large to convert to C long" if _LONG_MAX >= _OFF_MAX
                   else "int too big to convert")
# Messages that changed between CPython versions (see clinic_int, _slice_index).
_CLINIC_INT_MESSAGES = sys.version_info >= (3, 14)
_SLICE_INDEX_MESSAGE = (
    "slice indices must be integers or have an __index__ method" if sys.version_info >= (3, 15)
    else "slice indices must be integers or None or have an __index__ method"
)

def _integer(value: Any) -> int:
    """Internal: ``value.__index__()``, refusing floats the way the C module does."""
    if isinstance(value, float):
        # Before 3.10 the C parser's message differs; the type never did.
        raise TypeError(f"'{type(value).__name__}' object cannot be interpreted as an integer")
    return index(value)


def _c_long(value: Any) -> int:
    """Internal: ``PyLong_AsLong``, the first step of formats ``i`` and ``b``."""
    result = _integer(value)
    if not _LONG_MIN <= result <= _LONG_MAX:
        raise OverflowError("Python int too large to convert to C long")
    return result


def c_int(value: Any) -> int:
    """Convert like format ``i``: an int that fits a C ``int``."""
    if value.__class__ is int and _INT_MIN <= value <= _INT_MAX:
        return value  # the common case: nothing to convert
    result = _c_long(value)
    if result > _INT_MAX:
        raise OverflowError("signed integer is greater than maximum")
    if result < _INT_MIN:
        raise OverflowError("signed integer is less than minimum")
    return result


def clinic_int(value: Any) -> int:
    """Convert an ``int`` argument of a method that CPython parses with Argument Clinic.

    Since 3.14 (``seek``'s ``whence``, ``madvise``'s ``option``, ``flush``'s
    ``flags``) that converter says "Python int too large to convert to C
    int" for any int out of range; before, it was format ``i``'s messages.
    """
    if value.__class__ is int and _INT_MIN <= value <= _INT_MAX:
        return value
    if not _CLINIC_INT_MESSAGES:
        return c_int(value)
    result = _integer(value)
    if not _INT_MIN <= result <= _INT_MAX:
        raise OverflowError("Python int too large to convert to C int")
    return result


def ssize(value: Any) -> int:
    """Convert like format ``n``: an int that fits a ``Py_ssize_t``."""
    if value.__class__ is int and SSIZE_MIN <= value <= SSIZE_MAX:
        return value
    result = _integer(value)
    if not SSIZE_MIN <= result <= SSIZE_MAX:
        raise OverflowError("Python int too large to convert to C ssize_t")
    return result


def index_size(value: Any, error: type) -> int:
    """Convert like ``PyNumber_AsSsize_t(value, error)``: an index that fits a ``Py_ssize_t``.

    Indexing and ``read()`` convert this way; an int out of range raises
    ``error`` (IndexError, TypeError or OverflowError, as the caller says).
    """
    result = _integer(value)
    if not SSIZE_MIN <= result <= SSIZE_MAX:
        raise error(f"cannot fit '{type(value).__name__}' into an index-sized integer")
    return result


def index_or_indexerror(value: Any) -> int:
    """Convert an index like ``PyNumber_AsSsize_t(value, PyExc_IndexError)``.

    What ``m[i]`` does with an ``i`` that is not a plain int; an int too
    large to be an index is an ``IndexError``, as one outside the map is.
    """
    return index_size(value, IndexError)


def _slice_index(value: Any) -> int:
    """Internal: one part of a slice, like ``_PyEval_SliceIndex``: clamped, never an overflow."""
    if not hasattr(type(value), "__index__"):
        raise TypeError(_SLICE_INDEX_MESSAGE)
    return min(max(index(value), SSIZE_MIN), SSIZE_MAX)


def plain_slice(item: slice) -> slice:
    """Return ``item`` with its parts converted like ``PySlice_Unpack``: step, start, stop.

    Each part that is not None goes through its ``__index__`` once, here.
    The result holds only ints and None: ``slice.indices()`` and ctypes can
    use it without running any Python code, after the caller has checked
    that the map is still open (the C module's order).
    """
    step = item.step
    if step is not None:
        step = _slice_index(step)
        if step == 0:
            raise ValueError("slice step cannot be zero")
    start = item.start
    if start is not None:
        start = _slice_index(start)
    stop = item.stop
    if stop is not None:
        stop = _slice_index(stop)
    return slice(start, stop, step)


def off_t(value: Any) -> int:
    """Convert like format ``l`` or ``L`` (whichever is 64 bits), used for file offsets."""
    if value.__class__ is int and _OFF_MIN <= value <= _OFF_MAX:
        return value
    result = _integer(value)
    if not _OFF_MIN <= result <= _OFF_MAX:
        raise OverflowError(_OFF_T_OVERFLOW)
    return result


def ubyte(value: Any) -> int:
    """Convert like format ``b``: an int from 0 to 255."""
    result = _c_long(value)
    if result < 0:
        raise OverflowError("unsigned byte integer is less than minimum")
    if result > 255:
        raise OverflowError("unsigned byte integer is greater than maximum")
    return result


def optional_ssize(value: Any) -> Optional[int]:
    """Convert ``None`` or an int, as ``read()`` does."""
    if value is None:
        return None
    if not hasattr(type(value), "__index__"):
        raise TypeError(f"argument should be integer or None, not '{type(value).__name__}'")
    return index_size(value, OverflowError)


def buffer(value: Any) -> Union[bytes, memoryview]:
    """Return ``value`` as something with a flat byte layout (format ``y*``).

    ``bytes`` passes through untouched; any other bytes-like object becomes a
    one-dimensional memoryview of unsigned bytes.  ``str`` and other
    non-buffers raise ``TypeError`` with the C module's message.
    """
    if value.__class__ is bytes:
        return value
    try:
        view = memoryview(value)
    except TypeError:
        raise TypeError(
            f"a bytes-like object is required, not '{type(value).__name__}'"
        ) from None
    if not view.c_contiguous:  # e.g. memoryview(b)[::2]
        raise BufferError("memoryview: underlying buffer is not C-contiguous")
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


# --- a constructor's signature, bound as the C module binds it -----------------------


class CSignature:
    """The parameters of a C function parsed with ``PyArg_ParseTupleAndKeywords``, unnamed.

    The C module's constructor is such a function, with no name: its
    errors say "function", and count only the arguments given (a Python
    signature would name ``__new__`` and count ``cls``).  :meth:`bind`
    gives the same errors, in the same order.  ``positional`` names the
    parameters that may be given by position or by name (the first two
    are required), ``keyword_only`` those that must be named (after the
    format's ``$``); ``extensions`` pymmap's own parameters, which follow
    and must be named too, but which the C module does not have, so they
    change none of its messages; ``defaults`` holds the value of every
    parameter after the first two.
    """

    def __init__(self, positional: Tuple[str, ...], keyword_only: Tuple[str, ...],
                 defaults: Tuple[Any, ...], extensions: Tuple[str, ...] = ()) -> None:
        self.positional = positional
        self.names = positional + keyword_only + extensions
        self.defaults = defaults
        self._limit = len(positional) + len(keyword_only)  # (how many the C module takes)
        self._extensions = frozenset(extensions)
        self._where = {name: i for i, name in enumerate(self.names)}

    def bind(self, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> List[Any]:
        """Return every parameter's value, in order, or raise ``TypeError`` as the C function would.

        The values are not converted: each parameter's own converter does
        that afterwards, in order.
        """
        nargs = len(args)
        if 2 <= nargs <= len(self.positional):
            # The usual calls: a few positional arguments, and perhaps
            # keywords, each naming a parameter not given by position.
            values = [*args, *self.defaults[nargs - 2:]]
            if not kwargs:
                return values
            where = self._where
            for name, value in kwargs.items():
                i = where.get(name, -1)
                if i < nargs:
                    break  # unknown, or given twice: the slow path says which
                values[i] = value
            else:
                return values
        return self._bind_slowly(args, kwargs)

    def _bind_slowly(self, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> List[Any]:
        """Internal: :meth:`bind`, one check at a time, in ``vgetargskeywords``' order."""
        names = self.names
        nargs = len(args)
        given = nargs + sum(1 for name in kwargs if name not in self._extensions)
        if given > self._limit:
            kind = "" if nargs else "keyword "
            raise TypeError(f"function takes at most {self._limit} {kind}arguments ({given} given)")
        remaining = dict(kwargs)
        values = []
        for i, name in enumerate(names):
            if i == len(self.positional) and nargs > i:
                raise TypeError(f"function takes at most {i} positional arguments ({nargs} given)")
            if i < nargs:
                value = args[i]
            elif name in remaining:
                value = remaining.pop(name)
            elif i < 2:
                raise TypeError(f"function missing required argument '{name}' (pos {i + 1})")
            else:
                value = self.defaults[i - 2]
            values.append(value)
        for i in range(nargs):
            if names[i] in remaining:
                raise TypeError(f"argument for function given by name ('{names[i]}') and position ({i + 1})")
        for name in remaining:
            raise TypeError(f"this function got an unexpected keyword argument '{name}'")
        return values
