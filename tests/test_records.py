"""Records: ctypes structures that live in the map (``m.record(ctype, offset)``).

A record of a writable map aliases the map's memory and counts as an
export: close() and resize() raise BufferError while it lives, on CPython
and on PyPy alike.  A record of a read-only map holds no pointer: it reads
through the map and raises TypeError on every write.
"""

import ctypes
import gc
import struct
import sys

import pytest
from isolated import run_isolated

import pymmap
from pymmap.records import ReadOnlyRecord

READONLY = "mmap can't modify a readonly memory map."


class Packed(ctypes.LittleEndianStructure):
    _layout_ = "ms"  # which rules _pack_ follows (ctypes asks since 3.14)
    _pack_ = 1
    _fields_ = [("flag", ctypes.c_uint8), ("count", ctypes.c_uint16), ("total", ctypes.c_int32),
                ("ratio", ctypes.c_double), ("name", ctypes.c_char * 6)]


class Big(ctypes.BigEndianStructure):
    _layout_ = "ms"  # which rules _pack_ follows (ctypes asks since 3.14)
    _pack_ = 1
    _fields_ = [("word", ctypes.c_uint32), ("half", ctypes.c_int16)]


class Point(ctypes.Structure):
    _fields_ = [("x", ctypes.c_int32), ("y", ctypes.c_int32)]


class Shape(ctypes.Structure):
    _fields_ = [("corners", Point * 3), ("center", Point), ("bits", ctypes.c_uint8, 3),
                ("more", ctypes.c_uint8, 5)]


class Either(ctypes.Union):
    _fields_ = [("as_int", ctypes.c_uint32), ("as_bytes", ctypes.c_uint8 * 4)]


def _collect():
    gc.collect()
    gc.collect()  # PyPy: finalizers of objects freed by the first pass


@pytest.fixture
def m():
    mm = pymmap.mmap(-1, 256)
    yield mm
    _collect()
    mm.close()


@pytest.fixture
def ro(open_file):
    data = struct.pack("<BHid6s", 1, 513, -7, 2.5, b"abc") + bytes(64)
    f = open_file(data, "rb")
    mm = pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ)
    yield mm
    mm.close()


def test_fields_are_the_maps_bytes(m):
    rec = m.record(Packed, 3)
    assert ctypes.sizeof(Packed) == 21
    rec.flag = 0xAB
    rec.count = 0x1234
    rec.total = -2
    rec.ratio = 0.5
    rec.name = b"probe"
    assert m[3:24] == struct.pack("<BHid6s", 0xAB, 0x1234, -2, 0.5, b"probe")
    m[4:6] = b"\x01\x00"
    assert rec.count == 1  # a read of the field reads the map
    whole = (ctypes.c_char * len(m)).from_buffer(m)  # the map's own memory, through the buffer protocol
    assert ctypes.addressof(rec) == ctypes.addressof(whole) + 3
    del rec, whole


def test_record_agrees_with_typed_and_unpack_from(m):
    rec = m.record(Packed, 0)
    t = m.typed()
    t.u16[1] = 40000
    t.i32[3] = -123456
    t.set_string(15, 6, b"xyz")
    assert (rec.count, rec.total, rec.name) == (40000, -123456, b"xyz")
    rec.ratio = -1.25
    assert t.f64[7] == -1.25 == m.unpack_from("<d", 7)[0]
    del rec


def test_big_endian_structure(m):
    rec = m.record(Big, 10)
    rec.word = 0x11223344
    rec.half = -2
    assert m[10:16] == b"\x11\x22\x33\x44\xff\xfe"
    assert m.typed("big").u32[10] == 0x11223344
    del rec


def test_nested_structures_arrays_bitfields_and_unions(m):
    shape = m.record(Shape, 8)
    shape.corners[2].y = 7
    shape.center.x = -1
    shape.bits = 5
    shape.more = 17
    t = m.typed("native")
    assert t.i32[8 + 2 * 8 + 4] == 7
    assert t.i32[8 + 24] == -1
    # (Bit-fields fill a byte from its low bits on a little-endian machine,
    # from its high bits on a big-endian one: the C compiler's order.)
    assert m[8 + 32] == (5 | 17 << 3 if sys.byteorder == "little" else 5 << 5 | 17)
    either = m.record(Either, 100)
    either.as_int = 0x01020304
    assert list(either.as_bytes) == list((0x01020304).to_bytes(4, sys.byteorder))
    words = m.record(ctypes.c_uint16 * 4, 120)
    words[3] = 0xBEEF
    assert t.u16[126] == 0xBEEF and len(words) == 4
    del shape, either, words


def test_last_valid_offset_and_bounds(m):
    rec = m.record(Packed, 256 - 21)
    rec.name = b"end"
    assert m[-6:] == b"end\0\0\0"
    del rec
    _collect()
    for bad in (256 - 20, 256, -1, 2**70):
        with pytest.raises(IndexError):
            m.record(Packed, bad)
    m.resize(512)  # a refused record is not counted as an export


@pytest.mark.parametrize("bad", [int, ctypes.c_uint32, ctypes.c_uint32(), Packed(), "Packed", None])
def test_only_ctypes_aggregate_types(m, bad):
    with pytest.raises(TypeError, match="Structure, Union or Array type"):
        m.record(bad)


def test_offset_through_index(m):
    class Four:
        def __index__(self):
            return 4

    rec = m.record(Point, Four())
    rec.x = 9
    assert m.typed("native").i32[4] == 9
    del rec
    with pytest.raises(TypeError):
        m.record(Point, 1.0)
    for huge in (2**70, -2**70):  # too large to be an index: as far outside the map as any
        with pytest.raises(IndexError):
            m.record(Point, huge)


def test_closed_map_gives_no_record(m):
    m.close()
    with pytest.raises(ValueError, match="mmap closed or invalid"):
        m.record(Point)


# --- lifetime: a record is an export ------------------------------------------------------


def test_close_and_resize_refuse_while_a_record_lives(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(bytes(64))
    with open(path, "r+b") as f:
        mm = pymmap.mmap(f.fileno(), 0)
    rec = mm.record(Point, 8)
    rec.y = 3
    _collect()  # the record itself keeps its export: collecting changes nothing
    with pytest.raises(BufferError, match="cannot close exported pointers exist"):
        mm.close()
    with pytest.raises(BufferError, match="mmap can't resize with extant buffers exported"):
        mm.resize(128)
    assert rec.y == 3 and not mm.closed
    del rec
    _collect()
    mm.resize(128)
    mm.close()
    assert path.read_bytes()[12:16] == (3).to_bytes(4, sys.byteorder)


def test_a_field_object_keeps_the_record_alive(m):
    shape = m.record(Shape)
    corners = shape.corners
    del shape
    _collect()
    with pytest.raises(BufferError):
        m.close()
    corners[0].x = 5
    assert m.typed("native").i32[0] == 5
    del corners
    _collect()
    m.close()


def test_every_record_is_counted_until_it_dies(m):
    records = [m.record(Point, 8 * i) for i in range(5)]
    while records:
        with pytest.raises(BufferError):
            m.close()
        records.pop()
        _collect()
    m.close()  # the last one gone, nothing is counted


def test_access_copy_record_never_changes_the_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(bytes(16))
    with open(path, "r+b") as f:
        mm = pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_COPY)
    rec = mm.record(Point)
    rec.x = 77
    assert mm.typed("native").i32[0] == 77
    del rec
    _collect()
    mm.close()
    assert path.read_bytes() == bytes(16)


# --- read-only maps --------------------------------------------------------------------------


def test_read_only_record_reads_the_map(ro):
    rec = ro.record(Packed)
    assert isinstance(rec, ReadOnlyRecord)
    assert (rec.flag, rec.count, rec.total, rec.ratio, rec.name) == (1, 513, -7, 2.5, b"abc")
    assert bytes(rec) == ro[:21]
    assert "Packed" in repr(rec) and "count" in dir(rec)
    ro.close()  # no pointer into the map: nothing to count, nothing to wait for
    with pytest.raises(ValueError, match="closed"):
        rec.count


def test_read_only_record_refuses_every_write(ro):
    rec = ro.record(Packed)
    shape = ro.record(Shape, 20)
    writes = [
        lambda: setattr(rec, "count", 1),
        lambda: delattr(rec, "count"),
        lambda: setattr(shape.center, "x", 1),
        lambda: shape.corners.__setitem__(0, Point()),
        lambda: setattr(shape.corners[1], "y", 2),
        lambda: setattr(rec, "anything", 1),
    ]
    for write in writes:
        with pytest.raises(TypeError, match=READONLY):
            write()
    assert rec.count == 513


def test_read_only_nested_records_sit_at_their_own_offsets(ro):
    shape = ro.record(Shape, 4)
    assert isinstance(shape.center, ReadOnlyRecord)
    assert shape.center._offset == 4 + 24
    assert shape.corners[1]._offset == 4 + 8
    assert [c._offset for c in shape.corners[0:2]] == [4, 12]
    raw = ro[4:4 + 24]
    assert shape.corners[0].x == int.from_bytes(raw[:4], sys.byteorder, signed=True)
    assert len(shape.corners) == 3
    words = ro.record(ctypes.c_uint8 * 4, 0)
    assert words[1:3] == list(ro[1:3])
    assert list(words) == list(ro[:4])
    chars = ro.record(ctypes.c_char * 4, 7)
    assert chars[0:4] == ro[7:11]


def test_the_items_of_a_read_only_array(tmp_path):
    # (That an item copies only itself, not the array, is a matter of speed:
    # benchmarks/run.py's "read-only record" row.)
    class Sub(ctypes.c_uint16):  # ctypes hands back subclasses of simple types as instances
        pass

    data = bytes(range(256)) * 256
    path = tmp_path / "big"
    path.write_bytes(data)
    with open(path, "rb") as f:
        m = pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ)
    plain = (Point * 4096).from_buffer_copy(data, 8)
    words = m.record(ctypes.c_uint32 * 16000, 4)
    points = m.record(Point * 4096, 8)
    assert words[0] == int.from_bytes(data[4:8], sys.byteorder) and words[-1] == words[15999]
    assert words[15999] == int.from_bytes(data[4 + 4 * 15999:8 + 4 * 15999], sys.byteorder)
    assert (points[5].x, points[5].y, points[-1].y) == (plain[5].x, plain[5].y, plain[-1].y)
    assert isinstance(points[5], ReadOnlyRecord)
    assert len(words) == 16000
    subs = m.record(Sub * 4, 2)
    assert isinstance(subs[1], Sub) and subs[1].value == int.from_bytes(data[4:6], sys.byteorder)
    assert m.record(ctypes.c_char * 4, 7)[2] == data[9:10]
    for bad in (16000, -16001):
        with pytest.raises(IndexError, match="invalid index"):
            words[bad]
    m.close()
    for read in (lambda: words[0], lambda: points[1], lambda: len(words)):
        with pytest.raises(ValueError, match="mmap closed or invalid"):
            read()


def test_read_only_record_after_close(ro):
    rec = ro.record(Packed)
    ro.close()  # allowed: the record holds no pointer
    with pytest.raises(ValueError, match="mmap closed or invalid"):
        rec.count


def test_a_half_built_read_only_record_has_no_fields():
    blank = ReadOnlyRecord.__new__(ReadOnlyRecord)
    with pytest.raises(AttributeError):
        blank.count


def test_read_only_record_bounds(ro):
    with pytest.raises(IndexError):
        ro.record(Packed, len(ro) - 20)


def test_writing_through_a_read_only_record_never_crashes(tmp_path):
    # The pages are PROT_READ: one raw store would be SIGSEGV.  In a child,
    # so that a crash fails this test instead of the whole run.
    path = tmp_path / "data"
    path.write_bytes(bytes(4096))
    out = run_isolated(
        """
        import ctypes, sys, pymmap
        class R(ctypes.Structure):
            _fields_ = [("a", ctypes.c_uint32), ("inner", ctypes.c_uint32 * 2)]
        with open(sys.argv[1], "rb") as f:
            m = pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ)
        rec = m.record(R, 8)
        for attempt in (lambda: setattr(rec, "a", 1), lambda: rec.inner.__setitem__(0, 1),
                        lambda: m.typed().u32.__setitem__(8, 1), lambda: m.pack_into("I", 8, 1)):
            try:
                attempt()
            except TypeError as exc:
                print(exc)
        print(rec.a, list(rec.inner))
        """,
        path,
    )
    assert out.splitlines() == [READONLY] * 4 + ["0 [0, 0]"]


@pytest.mark.parametrize("item", [
    ctypes.c_byte, ctypes.c_ubyte, ctypes.c_short, ctypes.c_ushort, ctypes.c_int, ctypes.c_uint,
    ctypes.c_long, ctypes.c_ulong, ctypes.c_longlong, ctypes.c_ulonglong, ctypes.c_float,
    ctypes.c_double, ctypes.c_bool, ctypes.c_char, ctypes.c_int8, ctypes.c_uint64,
    ctypes.c_uint32.__ctype_be__, ctypes.c_int16.__ctype_le__, ctypes.c_double.__ctype_be__,
], ids=lambda t: t.__name__)
def test_an_item_of_a_read_only_array_is_what_the_array_itself_gives(tmp_path, item):
    # Every simple type, in both byte orders: rec[i] on a read-only map is
    # what the same ctypes array over a copy of the bytes gives for [i].
    data = bytes((i * 37 + 11) % 256 for i in range(4096))
    if item is ctypes.c_bool:
        data = bytes(b % 2 for b in data)  # (a bool byte other than 0 or 1 is undefined in C)
    path = tmp_path / "items"
    path.write_bytes(data)
    with open(path, "rb") as f:
        m = pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ)
    count = (4096 - 3) // ctypes.sizeof(item)
    kind = item * count
    rec = m.record(kind, 3)  # (an odd offset: nothing is aligned)
    plain = kind.from_buffer_copy(data, 3)
    for i in (0, 1, count // 2, count - 1, -1, -count):
        got, want = rec[i], plain[i]
        assert type(got) is type(want)
        assert got == want or (got != got and want != want), (i, got, want)  # (NaN is itself)
    with pytest.raises(IndexError):
        rec[count]
    m.close()
