"""Typed access at byte offsets: the numbers a C program keeps in shared memory.

A C program that shares memory lays its data out as a ``struct``: a 16-bit
counter at byte 2, a 32-bit total at byte 6, an eight-character name at
byte 43.  Reading such memory from Python means three steps for every
field: take the bytes at the field's offset, know how many there are, and
decode them in the right *byte order*.  Intel and most ARM processors store
the least significant byte first (*little endian*); network protocols and
some older machines store the most significant byte first (*big endian*).
The number 0x12345678 is ``78 56 34 12`` in the first order and
``12 34 56 78`` in the second.

:meth:`pymmap.mmap.typed` returns a :class:`Typed` object that does the
three steps at once, for one byte order::

    t = m.typed("little")
    t.u16[2]            # the unsigned 16-bit number at byte offset 2
    t.i32[6] = -5       # store a signed 32-bit number at offset 6
    t.f64.array(16, 4)  # four doubles from offset 16, as a list
    t.char[42]          # one byte as a 1-character str
    t.string(43, 8)     # an 8-byte char field, up to its first NUL

Offsets count bytes from the start of the map and need no alignment.  The
work is done by :mod:`struct`, with one precompiled :class:`struct.Struct`
per type and byte order, straight on the map's memory: nothing is copied
and, on the hot path, nothing is allocated but the result.  Text fields
and runs of values are read with :mod:`struct` too (``"16s"``, ``"<4I"``),
and stored with :meth:`MappedRegion.store_at
<pymmap.region.MappedRegion.store_at>`, through :mod:`pymmap.copying` (on
PyPy, storing into a memoryview is slow; cffi's copies are not).

Every access first asks the map's region for its memory, through one
gate, :meth:`MappedRegion.memory_for <pymmap.region.MappedRegion.memory_for>`:
that is where it is checked that the map is open, writable (for stores),
long enough, and that ``protect()`` allows the access.

Each access is one step for other threads, as the map's own methods are
(see :class:`~pymmap.region.MappedRegion`): a read goes through
:meth:`MappedRegion.read_at <pymmap.region.MappedRegion.read_at>`, and a
store holds the region's lock (``store_at`` does).
"""

import functools
import struct
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Tuple, Union

from . import _args

if TYPE_CHECKING:  # pragma: no cover - for the type checker only
    from .region import MappedRegion

__all__ = ["Char", "Float", "Integer", "Typed", "pack_into", "unpack_from"]

#: ``byteorder`` argument -> :mod:`struct` prefix.  ``"="`` is the machine's
#: own order with standard sizes and no alignment padding (``"@"`` would pad).
BYTE_ORDERS: Dict[str, str] = {"little": "<", "big": ">", "native": "="}

#: The integer accessors: name -> (struct code, smallest value, largest value).
INTEGERS: Dict[str, Tuple[str, int, int]] = {
    "u8": ("B", 0, 2**8 - 1),
    "i8": ("b", -(2**7), 2**7 - 1),
    "u16": ("H", 0, 2**16 - 1),
    "i16": ("h", -(2**15), 2**15 - 1),
    "u32": ("I", 0, 2**32 - 1),
    "i32": ("i", -(2**31), 2**31 - 1),
    "u64": ("Q", 0, 2**64 - 1),
    "i64": ("q", -(2**63), 2**63 - 1),
}

#: The floating-point accessors: name -> struct code (IEEE 754 binary32, binary64).
FLOATS: Dict[str, str] = {"f32": "f", "f64": "d"}

Format = Union[str, bytes, struct.Struct]

#: ``struct.Struct(fmt)``, remembered for the formats used most recently.
_compile = functools.lru_cache(maxsize=256)(struct.Struct)


def _count(value: Any) -> int:
    """Internal: a number of items: a non-negative integer."""
    count = _args.index_size(value, OverflowError)
    if count < 0:
        raise ValueError(f"count must not be negative, not {count}")
    return count


def _real(value: Any) -> float:
    """Internal: a value for a float accessor: anything ``float()`` takes but text."""
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(f"must be real number, not {type(value).__name__}")
    return float(value)


def _layout(fmt: Format) -> struct.Struct:
    """Internal: the compiled :class:`struct.Struct` for a format string (or the Struct itself)."""
    if isinstance(fmt, struct.Struct):
        return fmt
    return _compile(fmt)


# --- the stdlib-style pair: any struct format ----------------------------------------


def unpack_from(region: "MappedRegion", fmt: Format, offset: Any = 0) -> Tuple[Any, ...]:
    """Unpack ``fmt`` from the region's bytes at ``offset``; see :meth:`pymmap.mmap.unpack_from`."""
    layout = _layout(fmt)
    if offset.__class__ is not int:
        offset = _args.index_or_indexerror(offset)
    return region.read_at(layout.unpack_from, offset, layout.size)


def pack_into(region: "MappedRegion", fmt: Format, offset: Any, values: Tuple[Any, ...]) -> None:
    """Pack ``values`` by ``fmt`` into the region at ``offset``; see :meth:`pymmap.mmap.pack_into`."""
    layout = _layout(fmt)
    if offset.__class__ is not int:
        offset = _args.index_or_indexerror(offset)
    # Pack first: converting the values may run their own code (__index__,
    # __float__), which could even close the map; only then take the memory.
    region.store_at(offset, layout.pack(*values))


# --- one accessor per C type ----------------------------------------------------------


class _Accessor:
    """Internal: what every typed accessor shares: its region, its Struct, its size.

    The hot methods (``__getitem__``, ``__setitem__``) use functions bound
    once, here: the region's one-step read and one-step store, and the
    Struct's ``unpack_from`` and ``pack_into``, which those call on the
    region's memory (a checked map's region hands them a copy instead:
    :mod:`pymmap.checked`).  Stores hold the region's lock (read anew each
    time: a forked child gets a new one).
    """

    __slots__ = ("_pack", "_pack_into", "_prefix", "_read", "_region", "_struct", "_unpack",
                 "name", "size")

    def __init__(self, region: "MappedRegion", name: str, prefix: str, code: str) -> None:
        layout = _compile(prefix + code)
        self._region = region
        self._read = region.read_at
        self._pack = region.pack_at
        self._prefix = prefix
        self._struct = layout
        self._unpack = layout.unpack_from
        self._pack_into = layout.pack_into
        #: The accessor's name: ``"u16"``, ``"f64"``, ``"char"``.
        self.name = name
        #: The size of one value in bytes.
        self.size = layout.size

    def __repr__(self) -> str:
        order = {v: k for k, v in BYTE_ORDERS.items()}[self._prefix]
        return f"<pymmap typed {self.name} ({order} endian, {self.size} bytes)>"

    def _many(self, count: int) -> struct.Struct:
        """Internal: the Struct for ``count`` consecutive values."""
        return _compile(f"{self._prefix}{count}{self._struct.format[-1]}")

    def array(self, offset: Any, count: Any) -> List[Any]:
        """Return the ``count`` consecutive values that start at byte ``offset``, as a list."""
        if offset.__class__ is not int:
            offset = _args.index_or_indexerror(offset)
        layout = self._many(_count(count))
        return list(self._read(layout.unpack_from, offset, layout.size))

    def _put(self, offset: int, value: Any) -> None:
        """Internal: store one converted ``value`` at ``offset``, as one step (the region's lock held)."""
        self._pack(self._pack_into, offset, self.size, value)

    def _store_many(self, offset: Any, values: List[Any]) -> None:
        """Internal: write already-converted ``values`` one after another from ``offset``."""
        if offset.__class__ is not int:
            offset = _args.index_or_indexerror(offset)
        self._region.store_at(offset, self._many(len(values)).pack(*values))


class Integer(_Accessor):
    """Integers of one C type, read and written at byte offsets.

    ``t.u32[off]`` returns the value stored in the 4 bytes at ``off``;
    ``t.u32[off] = v`` stores ``v`` there.  ``array(off, count)`` and
    ``set_array(off, values)`` do the same for consecutive values.

    Errors: ``IndexError`` if the bytes do not lie inside the map (negative
    offsets are outside: they do not count from the end); ``TypeError`` for
    a value that is not an integer (a float is refused, as ``int.to_bytes``
    would), and on a map opened with ``ACCESS_READ``; ``OverflowError`` for
    an integer that does not fit the type, such as 256 for ``u8`` or -1 for
    ``u32``; ``ValueError`` once the map is closed.  A value is checked
    before the map is: a bad value raises even on a closed map.
    """

    __slots__ = ("max", "min")

    def __init__(self, region: "MappedRegion", name: str, prefix: str) -> None:
        code, lo, hi = INTEGERS[name]
        super().__init__(region, name, prefix, code)
        #: The smallest and largest value the type holds.
        self.min = lo
        self.max = hi

    def _convert(self, value: Any) -> int:
        """Internal: ``value`` as an int that fits, or the error saying why not."""
        if value.__class__ is not int:
            value = _args._integer(value)
        if not self.min <= value <= self.max:
            raise OverflowError(f"{self.name} value {value} out of range [{self.min}, {self.max}]")
        return value  # type: ignore[no-any-return]

    def __getitem__(self, offset: Any) -> int:
        if offset.__class__ is not int:
            offset = _args.index_or_indexerror(offset)
        value: int = self._read(self._unpack, offset, self.size)[0]
        return value

    def __setitem__(self, offset: Any, value: Any) -> None:
        if offset.__class__ is not int:
            offset = _args.index_or_indexerror(offset)
        if value.__class__ is not int or not self.min <= value <= self.max:
            # Convert before taking the memory: __index__ may run any code.
            value = self._convert(value)
        self._pack(self._pack_into, offset, self.size, value)

    def set_array(self, offset: Any, values: Iterable[Any]) -> None:
        """Store ``values`` one after another from byte ``offset``.

        Every value is checked before the first byte is written.
        """
        self._store_many(offset, [self._convert(v) for v in values])


class Float(_Accessor):
    """IEEE 754 floating-point numbers (``f32``: C ``float``, ``f64``: ``double``) at byte offsets.

    Works like :class:`Integer`.  Any real number is accepted (ints too);
    text raises ``TypeError``.  A finite value too large for ``f32``
    raises ``OverflowError`` (and writes nothing); smaller ones are rounded
    to the nearest ``float``, as C would.  Infinities and NaN are stored as
    they are.
    """

    __slots__ = ()

    def __getitem__(self, offset: Any) -> float:
        if offset.__class__ is not int:
            offset = _args.index_or_indexerror(offset)
        value: float = self._read(self._unpack, offset, self.size)[0]
        return value

    def __setitem__(self, offset: Any, value: Any) -> None:
        if offset.__class__ is not int:
            offset = _args.index_or_indexerror(offset)
        if value.__class__ is not float:
            value = _real(value)
        self._put(offset, value)

    def set_array(self, offset: Any, values: Iterable[Any]) -> None:
        """Store ``values`` one after another from byte ``offset``.

        Every value is checked before the first byte is written.
        """
        self._store_many(offset, [_real(v) for v in values])


class Char(_Accessor):
    """Single bytes as 1-character strings: a C ``char`` shown as text.

    ``t.char[off]`` returns ``chr(byte)``: printable ASCII comes back as
    itself (``'A'``), control bytes as their character (``'\\x00'``,
    ``'\\n'``).  A byte from 0x80 to 0xFF, which is negative as a C
    ``signed char``, is not ASCII: it comes back as the Latin-1 character
    with that code (0xE9 gives ``'é'``), so every byte survives a read and
    a write unchanged.  Use ``t.i8`` for the number itself.

    ``t.char[off] = 'A'`` stores one character with a code below 256
    (``ValueError`` for anything longer, shorter or beyond Latin-1;
    ``TypeError`` for a non-``str``).
    """

    __slots__ = ()

    def __init__(self, region: "MappedRegion", prefix: str) -> None:
        super().__init__(region, "char", prefix, "B")

    def __getitem__(self, offset: Any) -> str:
        if offset.__class__ is not int:
            offset = _args.index_or_indexerror(offset)
        return chr(self._read(self._unpack, offset, 1)[0])

    def __setitem__(self, offset: Any, value: Any) -> None:
        if offset.__class__ is not int:
            offset = _args.index_or_indexerror(offset)
        if not isinstance(value, str):
            raise TypeError(f"char value must be a 1-character str, not {type(value).__name__}")
        if len(value) != 1 or ord(value) > 0xFF:
            raise ValueError(f"char value must be one character from '\\x00' to '\\xff', not {value!r}")
        self._pack(self._pack_into, offset, 1, ord(value))


class Typed:
    """Typed access to a map's bytes by byte offset, in one byte order.

    Made by :meth:`pymmap.mmap.typed`.  Attributes: ``u8``, ``i8``, ``u16``,
    ``i16``, ``u32``, ``i32``, ``u64``, ``i64`` (:class:`Integer`), ``f32``,
    ``f64`` (:class:`Float`) and ``char`` (:class:`Char`), plus
    :meth:`string` and :meth:`set_string` for fixed-length text fields.

    The object holds no memory of its own: each access goes to the map, so
    it sees what other processes wrote a moment ago, and it raises
    ``ValueError`` once the map is closed.
    """

    __slots__ = (
        "_region", "byteorder", "char",
        "f32", "f64", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64",
    )

    u8: Integer
    i8: Integer
    u16: Integer
    i16: Integer
    u32: Integer
    i32: Integer
    u64: Integer
    i64: Integer
    f32: Float
    f64: Float

    def __init__(self, region: "MappedRegion", byteorder: str = "little") -> None:
        if byteorder not in BYTE_ORDERS:
            raise ValueError(f"byteorder must be 'little', 'big' or 'native', not {byteorder!r}")
        prefix = BYTE_ORDERS[byteorder]
        self._region = region
        #: ``"little"``, ``"big"`` or ``"native"``, as given.
        self.byteorder = byteorder
        for name in INTEGERS:
            setattr(self, name, Integer(region, name, prefix))
        for name, code in FLOATS.items():
            setattr(self, name, Float(region, name, prefix, code))
        #: Single bytes as 1-character strings.
        self.char = Char(region, prefix)

    def __repr__(self) -> str:
        return f"<pymmap typed access ({self.byteorder}) to {self._region!r}>"

    def string(self, offset: Any, length: Any) -> bytes:
        """Return the text of the ``length``-byte char field at ``offset``, up to its first NUL.

        C keeps short text in fixed-size fields (``char name[16]``): the
        text, then NUL bytes.  The result is ``bytes``, without the NULs; a
        field with no NUL comes back whole.  Decode it as the C program
        meant it, e.g. ``t.string(43, 16).decode("ascii")``.
        """
        if offset.__class__ is not int:
            offset = _args.index_or_indexerror(offset)
        length = _count(length)
        text: bytes = self._region.read_at(_compile(f"{length}s").unpack_from, offset, length)[0]
        return text.partition(b"\0")[0]

    def set_string(self, offset: Any, length: Any, value: Any) -> None:
        """Store the bytes-like ``value`` in the ``length``-byte field at ``offset``, padded with NULs.

        ``value`` may fill the field exactly (then no NUL follows it, as C
        allows for ``char name[8] = "ABCDEFGH"``); a longer one raises
        ``ValueError`` and writes nothing.  ``str`` is refused
        (``TypeError``): encode it first, e.g. ``"ok".encode("ascii")``.
        """
        if offset.__class__ is not int:
            offset = _args.index_or_indexerror(offset)
        length = _count(length)
        data = bytes(_args.buffer(value))
        if len(data) > length:
            raise ValueError(f"string of {len(data)} bytes does not fit a field of {length}")
        self._region.store_at(offset, data.ljust(length, b"\0"))

