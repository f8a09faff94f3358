"""Records: ``ctypes`` structures that live inside a map.

A C program describes shared memory with a ``struct``; ``ctypes`` can
describe the same layout in Python::

    class Sample(ctypes.LittleEndianStructure):
        _layout_ = "ms"                 # (see below)
        _pack_ = 1                      # no padding, like __attribute__((packed))
        _fields_ = [("count", ctypes.c_uint16), ("total", ctypes.c_int32)]

:meth:`pymmap.mmap.record` returns such a structure placed at a byte offset
of the map.  On a writable map it is a real ``ctypes`` object made with
``from_buffer``: its fields *are* the map's bytes, so reading
``rec.count`` reads the map and ``rec.count = 5`` writes it, with no copy.

Such an object holds a raw pointer into the mapping, so the map must not
go away while it lives.  pymmap counts it as an *export*, exactly like a
memoryview from :meth:`pymmap.mmap.buffer`: while a record (or a field
object taken from it, such as a nested structure) is alive, ``close()`` and
``resize()`` raise ``BufferError``.  Drop the record (``del rec``) first.

A C struct without padding (``__attribute__((packed))`` in GCC, ``#pragma
pack(1)`` in MSVC) needs ``_pack_ = 1``.  Since Python 3.14, ctypes also
wants to be told which compiler's rules ``_pack_`` follows
(``_layout_``), and warns (an error from 3.19 on) if it is not: say
``_layout_ = "ms"``, as above.  With ``_pack_ = 1`` both compilers lay out
the fields the same way, one after the other (bit fields aside), and
Pythons before 3.14 simply ignore ``_layout_``, so that one form works on
every version.  A struct with its natural padding needs neither line.

On a map opened with ``ACCESS_READ`` the pages are read-only for the CPU:
one store through a raw pointer would kill the process with SIGSEGV.  So
there the record is a :class:`ReadOnlyRecord` instead, which holds no
pointer at all: each read copies the structure out of the map, and each
write raises ``TypeError``.

Threads: a live record is raw memory, as a ``memoryview`` of the stdlib's
map is.  Reading or assigning one of its fields is not a step of the map's
(another thread's store may be half done), so share a record between
threads as you would share memory in C; the map still cannot be closed or
resized while it lives.  A :class:`ReadOnlyRecord` goes through the map:
each read is one step (:meth:`MappedRegion.read_at
<pymmap.region.MappedRegion.read_at>`).
"""

import ctypes
import struct
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Type

from ._interpreter import KEEPS_EXPORTER
from .errors import readonly as _readonly

if TYPE_CHECKING:  # pragma: no cover - for the type checker only
    from .region import MappedRegion

__all__ = ["ReadOnlyRecord", "alias", "size_of"]

#: The ctypes types a record can be: they have fields or items to reach.
AGGREGATES = (ctypes.Structure, ctypes.Union, ctypes.Array)

#: What reading one item of an array type takes: ``(item type, its size,
#: the array's length, a function that reads the item from a buffer at an
#: offset, as a 1-tuple)``; the function is None for an item that is itself
#: a structure, union or array.
_Items = Tuple[Any, int, int, Optional[Callable[[Any, int], Any]]]
_ITEMS: Dict[Any, Optional[_Items]] = {}
#: The ctypes types whose items ``struct`` reads exactly as ctypes does (an
#: int, a float or a bool), by their format code; native byte order.
_STRUCT_CODES = {t: t._type_ for t in (
    ctypes.c_byte, ctypes.c_ubyte, ctypes.c_short, ctypes.c_ushort, ctypes.c_int, ctypes.c_uint,
    ctypes.c_long, ctypes.c_ulong, ctypes.c_longlong, ctypes.c_ulonglong, ctypes.c_float,
    ctypes.c_double, ctypes.c_bool)}


def _items_of(ctype: Any) -> Optional[_Items]:
    """Internal: how to read one item of the array type ``ctype`` (None if it is no array); cached.

    (``issubclass`` on ctypes' types costs a few hundred nanoseconds: each
    type is looked at once.)  A plain number type is read with ``struct``;
    any other simple type through a one-item array of it, which turns the
    bytes into what ctypes returns for ``array[index]`` (one byte for
    ``c_char``, an instance for a subclass of a simple type).
    """
    try:
        return _ITEMS[ctype]
    except KeyError:
        pass
    items: Optional[_Items] = None
    if issubclass(ctype, ctypes.Array):
        item = ctype._type_
        size = ctypes.sizeof(item)
        code = _STRUCT_CODES.get(item)
        read: Optional[Callable[[Any, int], Any]]
        if issubclass(item, AGGREGATES):
            read = None
        elif code is not None and struct.calcsize(code) == size:
            read = struct.Struct(code).unpack_from  # (native sizes, as C's)
        else:
            read = (item * 1).from_buffer_copy
        items = (item, size, int(ctype._length_), read)
    if len(_ITEMS) >= 1024:  # (a program that makes array types without end keeps no more)
        _ITEMS.clear()
    _ITEMS[ctype] = items
    return items


def size_of(ctype: Any) -> int:
    """Return ``ctypes.sizeof(ctype)`` after checking that ``ctype`` can be a record.

    Raises ``TypeError`` unless ``ctype`` is a ``ctypes`` Structure, Union
    or Array *type* (big- and little-endian variants included).
    """
    if not (isinstance(ctype, type) and issubclass(ctype, AGGREGATES)):
        raise TypeError(f"record type must be a ctypes Structure, Union or Array type, not {ctype!r}")
    return ctypes.sizeof(ctype)


def alias(ctype: Any, source: Any, offset: int) -> Any:
    """Return an instance of ``ctype`` whose memory is ``source``'s, from byte ``offset`` on.

    ``source`` is an export of the map (see
    :meth:`pymmap.exports.Exports.record_source`); the record must keep it
    alive, since the export ends (and the map may be closed) when it dies.
    CPython's ``from_buffer`` keeps it in the record.  Field objects taken
    from the record (``rec.inner``) keep the record alive in turn.

    On PyPy ``source`` is a ``c_char`` array (a holder), and ``from_buffer``
    would keep only its raw memory; PyPy 3.9's also reads the array's first
    byte on the way, which dies with SIGSEGV if :meth:`pymmap.mmap.protect`
    made that page ``PROT_NONE``.  So there the record is placed by address
    and carries the holder in an attribute of its own.
    """
    if KEEPS_EXPORTER:
        return ctype.from_buffer(source, offset)
    if not 0 <= offset <= len(source) - ctypes.sizeof(ctype):
        raise ValueError(f"Buffer size too small ({len(source)} instead of at least "
                         f"{offset + ctypes.sizeof(ctype)} bytes)")
    record = ctype.from_address(ctypes.addressof(source) + offset)
    record._pymmap_export = source
    return record


class ReadOnlyRecord:
    """A ``ctypes`` record on a read-only map: reads come from the map, writes raise.

    ``rec.field`` copies the whole structure out of the map (through the
    map's checks: ``ValueError`` once it is closed) and returns the field,
    so every read sees the map as it is now; ``rec[i]`` of an array copies
    just that item.  A field that is itself a
    structure, union or array comes back as another ``ReadOnlyRecord``, at
    its own place in the map; ``rec[i]`` and ``len(rec)`` work for arrays.
    Assigning a field or an item raises ``TypeError``, as writing to the
    map itself would.  ``bytes(rec)`` is a copy of the record's bytes
    (``Sample.from_buffer_copy(bytes(rec))`` makes a plain ``ctypes`` copy
    to change at will).  Every attribute name belongs to the structure's
    fields: the record has no public methods of its own to shadow them.

    Unlike a live record, this one holds no pointer into the map, so it
    does not count as an export: the map may be closed while it exists.
    """

    __slots__ = ("_ctype", "_offset", "_region")

    def __init__(self, region: "MappedRegion", ctype: Type[Any], offset: int) -> None:
        object.__setattr__(self, "_region", region)
        object.__setattr__(self, "_ctype", ctype)
        object.__setattr__(self, "_offset", offset)

    def _copy(self) -> Any:
        """Internal: a ``ctypes`` instance holding a copy of the record's bytes, as they are now."""
        return self._copy_at(self._ctype, self._offset)

    def _copy_at(self, ctype: Any, offset: int) -> Any:
        """Internal: a ``ctype`` instance holding a copy of the map's bytes at ``offset`` (one step)."""
        return self._region.read_at(ctype.from_buffer_copy, offset, ctypes.sizeof(ctype))

    def _wrap(self, value: Any, snapshot: Any) -> Any:
        """Internal: a nested structure or array becomes a read-only record at its place in the map."""
        if isinstance(value, AGGREGATES):
            where = self._offset + ctypes.addressof(value) - ctypes.addressof(snapshot)
            return ReadOnlyRecord(self._region, type(value), where)
        return value

    def __getattr__(self, name: str) -> Any:
        if name in ReadOnlyRecord.__slots__:  # not set yet: a half-built object
            raise AttributeError(name)
        snapshot = self._copy()
        return self._wrap(getattr(snapshot, name), snapshot)

    def __getitem__(self, index: Any) -> Any:
        if type(index) is int:
            items = _items_of(self._ctype)
            if items is not None:
                return self._item(items, index)
        snapshot = self._copy()
        value = snapshot[index]
        if isinstance(value, list):  # a slice of an array
            return [self._wrap(item, snapshot) for item in value]
        return self._wrap(value, snapshot)

    def _item(self, items: "_Items", index: int) -> Any:
        """Internal: ``rec[index]`` of an array, copying that one item, not the whole array.

        An item that is itself a structure, union or array is not copied at
        all: it comes back as a record at its own place in the map.  Any
        other item is read as ``array[index]`` reads it (see :func:`_items_of`).
        """
        item, size, length, read = items
        if index < 0:
            index += length
        if not 0 <= index < length:
            raise IndexError("invalid index")  # ctypes' message
        where = self._offset + index * size
        if read is None:
            self._region.memory_for(where, size, False)  # the map's checks, though nothing is copied
            return ReadOnlyRecord(self._region, item, where)
        return self._region.read_at(read, where, size)[0]

    def __len__(self) -> int:
        ctype = self._ctype
        if issubclass(ctype, ctypes.Array):
            self._region.memory_for(self._offset, 0, False)  # ValueError once the map is closed
            return int(ctype._length_)
        return len(self._copy())  # TypeError, as len() of the structure itself

    def __bytes__(self) -> bytes:
        return bytes(self._copy())

    def __setattr__(self, name: str, value: Any) -> None:
        raise _readonly()

    def __delattr__(self, name: str) -> None:
        raise _readonly()

    def __setitem__(self, index: Any, value: Any) -> None:
        raise _readonly()

    def __dir__(self) -> List[str]:
        return sorted(dir(self._ctype))

    def __repr__(self) -> str:
        return f"<read-only {self._ctype.__name__} record at offset {self._offset}>"
