"""Typed access at byte offsets: ``m.typed()``, ``m.unpack_from`` and ``m.pack_into``.

The oracle is :mod:`struct` and ``int.from_bytes`` applied to a copy of the
map's bytes: whatever ``typed`` writes must read back identically through
``unpack_from``, through ``struct`` and through ``int.from_bytes``, at
aligned, odd and last-possible offsets, in both byte orders.
"""

import ctypes
import gc
import math
import struct
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pymmap
from pymmap import typed as typed_module
from pymmap._platform import backend

PROT = backend.CONSTANTS  # pymmap's PROT_* numbers, also where the module exports none (Windows)
SIZE = 64
SETTINGS = settings(max_examples=60, deadline=None)

INTEGERS = typed_module.INTEGERS
ORDERS = {"little": "<", "big": ">", "native": "="}
READONLY = "mmap can't modify a readonly memory map."


@pytest.fixture
def m():
    mm = pymmap.mmap(-1, SIZE)
    yield mm
    gc.collect()
    mm.close()


@pytest.fixture
def ro(open_file):
    f = open_file(bytes(range(SIZE)), "rb")
    mm = pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ)
    yield mm
    mm.close()


def fresh_map():
    """A new zero-filled map (hypothesis runs a test body many times per fixture)."""
    return pymmap.mmap(-1, SIZE)


def integer_cases():
    """(accessor name, value) for every integer type, values drawn from its whole range."""
    return st.sampled_from(sorted(INTEGERS)).flatmap(
        lambda name: st.tuples(st.just(name), st.integers(INTEGERS[name][1], INTEGERS[name][2])))


# --- property tests --------------------------------------------------------------


@SETTINGS
@given(case=integer_cases(), order=st.sampled_from(sorted(ORDERS)), data=st.data())
def test_integers_round_trip_through_struct_and_from_bytes(case, order, data):
    m = fresh_map()
    name, value = case
    code, lo, _ = INTEGERS[name]
    size = struct.calcsize(code)
    # Any offset, unaligned ones and the last valid one included.
    offset = data.draw(st.one_of(st.integers(0, SIZE - size), st.just(SIZE - size)), label="offset")
    t = m.typed(order)
    getattr(t, name)[offset] = value
    assert getattr(t, name)[offset] == value
    fmt = ORDERS[order] + code
    assert m.unpack_from(fmt, offset) == (value,)
    raw = m[offset:offset + size]
    assert struct.unpack(fmt, raw) == (value,)
    endian = sys.byteorder if order == "native" else order
    assert int.from_bytes(raw, endian, signed=lo < 0) == value
    # Nothing outside the value's bytes changed.
    assert m[:offset] == bytes(offset) and m[offset + size:] == bytes(SIZE - offset - size)


@SETTINGS
@given(order=st.sampled_from(sorted(ORDERS)), width=st.sampled_from(["f32", "f64"]),
       value=st.floats(allow_nan=False, width=32), offset=st.integers(0, SIZE - 8))
def test_floats_round_trip(order, width, value, offset):
    m = fresh_map()
    t = m.typed(order)
    code = typed_module.FLOATS[width]
    getattr(t, width)[offset] = value
    assert getattr(t, width)[offset] == value  # exact: every 32-bit float fits both widths
    assert m.unpack_from(ORDERS[order] + code, offset) == (value,)
    assert struct.unpack(ORDERS[order] + code, m[offset:offset + struct.calcsize(code)]) == (value,)


@SETTINGS
@given(case=integer_cases(), order=st.sampled_from(["little", "big"]), offset=st.integers(0, SIZE - 8))
def test_pack_into_is_read_by_typed(case, order, offset):
    m = fresh_map()
    name, value = case
    m.pack_into(ORDERS[order] + INTEGERS[name][0], offset, value)
    assert getattr(m.typed(order), name)[offset] == value


@SETTINGS
@given(case=integer_cases(), offset=st.integers(0, SIZE - 8), data=st.data())
def test_arrays_match_single_values(case, offset, data):
    m = fresh_map()
    name, _ = case
    code, lo, hi = INTEGERS[name]
    size = struct.calcsize(code)
    count = data.draw(st.integers(0, (SIZE - offset) // size), label="count")
    values = data.draw(st.lists(st.integers(lo, hi), min_size=count, max_size=count), label="values")
    accessor = getattr(m.typed("big"), name)
    accessor.set_array(offset, values)
    assert accessor.array(offset, count) == values
    assert [accessor[offset + i * size] for i in range(count)] == values


# --- byte order, the examples the user gave ------------------------------------------


def test_intel_byte_order_is_the_default(m):
    t = m.typed()
    assert t.byteorder == "little"
    t.u32[1] = 0x12345678
    assert m[1:5] == b"\x78\x56\x34\x12"
    assert m.typed("big").u32[1] == 0x78563412
    t.i16[10] = -2
    assert m[10:12] == b"\xfe\xff"
    assert t.u16[10] == 0xFFFE and t.i8[10] == -2 and t.u8[10] == 0xFE


def test_big_endian_word(m):
    m.typed("big").u32[0] = 0x11223344
    assert m[:4] == b"\x11\x22\x33\x44"
    assert m.unpack_from(">I") == (0x11223344,)


def test_native_has_no_alignment_padding(m):
    t = m.typed("native")
    t.u64[3] = 2**64 - 1
    assert m[3:11] == b"\xff" * 8 and m[11] == 0


def test_bad_byte_order(m):
    with pytest.raises(ValueError, match="byteorder"):
        m.typed("middle")


# --- chars and strings ------------------------------------------------------------


def test_char_reads_and_writes_text(m):
    t = m.typed()
    t.char[5] = "A"
    assert m[5] == 65 and t.char[5] == "A" and t.i8[5] == 65
    m[6] = 0
    assert t.char[6] == "\x00"


def test_non_ascii_char_comes_back_as_latin1_and_round_trips(m):
    t = m.typed()
    t.i8[7] = -23  # 0xE9: negative as a signed char
    assert t.char[7] == "\xe9" == "é"
    t.char[8] = "é"
    assert m[8] == 0xE9
    for byte in range(256):
        m[9] = byte
        t.char[10] = t.char[9]
        assert m[10] == byte


@pytest.mark.parametrize("bad", ["", "ab", "€"])
def test_char_refuses_anything_but_one_latin1_character(m, bad):
    with pytest.raises(ValueError, match="char value"):
        m.typed().char[0] = bad


@pytest.mark.parametrize("bad", [65, b"A", None])
def test_char_refuses_non_str(m, bad):
    with pytest.raises(TypeError, match="1-character str"):
        m.typed().char[0] = bad


def test_fixed_length_strings(m):
    t = m.typed()
    t.set_string(4, 8, b"sensor")
    assert m[4:12] == b"sensor\0\0"
    assert t.string(4, 8) == b"sensor"
    t.set_string(4, 8, b"ABCDEFGH")  # fills the field, no NUL: as C allows
    assert t.string(4, 8) == b"ABCDEFGH"
    assert t.string(4, 3) == b"ABC"
    t.set_string(4, 8, bytearray(b"x"))
    assert m[4:12] == b"x" + bytes(7)
    assert t.string(4, 0) == b""
    t.set_string(4, 0, b"")


def test_string_too_long_writes_nothing(m):
    t = m.typed()
    with pytest.raises(ValueError, match="does not fit"):
        t.set_string(0, 4, b"12345")
    assert m[:8] == bytes(8)


def test_string_refuses_str(m):
    with pytest.raises(TypeError):
        m.typed().set_string(0, 4, "abc")


def test_string_bounds(m):
    t = m.typed()
    assert t.string(SIZE - 4, 4) == b""
    with pytest.raises(IndexError):
        t.string(SIZE - 3, 4)
    with pytest.raises(IndexError):
        t.set_string(SIZE - 3, 4, b"")
    with pytest.raises(ValueError, match="negative"):
        t.string(0, -1)


# --- values that do not fit ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(INTEGERS))
def test_integer_out_of_range_is_overflowerror_and_writes_nothing(m, name):
    _, lo, hi = INTEGERS[name]
    accessor = getattr(m.typed(), name)
    for bad in (lo - 1, hi + 1):
        with pytest.raises(OverflowError, match=name):
            accessor[0] = bad
        with pytest.raises(OverflowError):
            accessor.set_array(0, [0, bad])
    assert m[:] == bytes(SIZE)
    assert (accessor.min, accessor.max) == (lo, hi)


@pytest.mark.parametrize("bad", [1.0, "1", None, b"\x01"])
def test_integer_refuses_non_integers(m, bad):
    with pytest.raises(TypeError):
        m.typed().u8[0] = bad


def test_integer_accepts_index_objects(m):
    class Three:
        def __index__(self):
            return 3

    t = m.typed()
    t.u16[Three()] = Three()
    assert t.u16[3] == 3
    t.u16[0] = True
    assert t.u16[0] == 1


def test_f32_too_large_is_overflowerror(m):
    t = m.typed()
    with pytest.raises(OverflowError):
        t.f32[0] = 1e39
    assert m[:4] == bytes(4)
    t.f32[0] = math.inf
    assert t.f32[0] == math.inf
    t.f64[8] = math.nan
    assert math.isnan(t.f64[8])
    t.f32[0] = 0.1  # rounded to the nearest float, as C does
    assert t.f32[0] == struct.unpack("<f", struct.pack("<f", 0.1))[0]
    t.f64[0] = 3  # ints are real numbers too
    assert t.f64[0] == 3.0


@pytest.mark.parametrize("bad", ["1.5", b"x", None])
def test_float_refuses_text(m, bad):
    with pytest.raises(TypeError):
        m.typed().f64[0] = bad
    with pytest.raises(TypeError):
        m.typed().f64.set_array(0, [1.0, bad])


def test_float_arrays(m):
    t = m.typed("big")
    t.f64.set_array(1, [1.5, -2.0, 1e300])
    assert t.f64.array(1, 3) == [1.5, -2.0, 1e300]
    assert m.unpack_from(">3d", 1) == (1.5, -2.0, 1e300)


def test_pack_into_bad_values_raise_struct_error_and_write_nothing(m):
    with pytest.raises(struct.error):
        m.pack_into("<H", 0, 70000)
    with pytest.raises(struct.error):
        m.pack_into("<HH", 0, 1)
    assert m[:] == bytes(SIZE)


# --- bounds ------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*sorted(INTEGERS), "f32", "f64", "char"])
def test_every_accessor_is_bounds_checked(m, name):
    accessor = getattr(m.typed(), name)
    last = SIZE - accessor.size
    accessor[last] = "x" if name == "char" else 1
    assert accessor[last] in (1, "x")
    for bad in (last + 1, SIZE, -1, -accessor.size, 2**63, 2**100):
        with pytest.raises(IndexError):
            accessor[bad]
        with pytest.raises(IndexError):
            accessor[bad] = "x" if name == "char" else 1
    assert repr(accessor).startswith(f"<pymmap typed {name} (little endian")


def test_array_bounds_and_counts(m):
    t = m.typed()
    assert len(t.u32.array(0, SIZE // 4)) == SIZE // 4
    with pytest.raises(IndexError):
        t.u32.array(0, SIZE // 4 + 1)
    with pytest.raises(IndexError):
        t.u32.set_array(4, [0] * (SIZE // 4))
    with pytest.raises(ValueError, match="negative"):
        t.u32.array(0, -1)
    with pytest.raises(TypeError):
        t.u32.array(0, 1.0)
    assert t.u32.array(SIZE, 0) == []


def test_unpack_from_bounds_and_negative_offsets(m):
    m[SIZE - 1] = 9
    assert m.unpack_from("B", SIZE - 1) == (9,)
    assert m.unpack_from("") == ()
    with pytest.raises(IndexError):
        m.unpack_from("<H", SIZE - 1)
    with pytest.raises(IndexError):  # struct would count from the end; pymmap does not
        m.unpack_from("B", -1)
    with pytest.raises(IndexError):
        m.pack_into("<I", SIZE - 3, 1)
    with pytest.raises(TypeError):
        m.unpack_from("B", 1.0)
    with pytest.raises(IndexError):
        m.unpack_from("B", 2**64)


def test_unpack_from_takes_a_compiled_struct_and_bytes_formats(m):
    layout = struct.Struct("<HxB")
    m.pack_into(layout, 2, 513, 7)
    assert m[2:6] == b"\x01\x02\x00\x07"
    assert m.unpack_from(layout, 2) == (513, 7)
    assert m.unpack_from(b"<H", 2) == (513,)


@pytest.mark.parametrize("layout", ["<I", struct.Struct("<I")], ids=["format", "Struct"])
def test_a_compiled_struct_is_checked_as_its_format_is(m, ro, layout):
    # A compiled Struct with a plain offset takes a shorter road (the
    # region's one-step read and store): the same checks, the same errors.
    m.pack_into(layout, SIZE - 4, 7)
    assert m.unpack_from(layout, SIZE - 4) == (7,)
    for offset in (SIZE - 3, -1, 2**64):
        with pytest.raises(IndexError):
            m.unpack_from(layout, offset)
        with pytest.raises(IndexError):
            m.pack_into(layout, offset, 1)
    with pytest.raises(struct.error):
        m.pack_into(layout, 0, -1)
    with pytest.raises(TypeError, match=READONLY):
        ro.pack_into(layout, 0, 1)
    assert ro.unpack_from(layout, 0) == (0x03020100,)
    mm = pymmap.mmap(-1, 2 * pymmap.PAGESIZE)
    page = pymmap.PAGESIZE
    mm.protect(PROT["PROT_READ"], page, page)
    with pytest.raises(TypeError, match=READONLY):
        mm.pack_into(layout, page, 1)
    mm.protect(PROT["PROT_NONE"], page, page)
    with pytest.raises(ValueError):
        mm.unpack_from(layout, page)
    mm.pack_into(layout, 0, 5)  # the first page is untouched
    assert mm.unpack_from(layout, 0) == (5,)
    mm.close()
    m.close()
    with pytest.raises(ValueError, match="mmap closed or invalid"):
        m.unpack_from(layout, 0)
    with pytest.raises(ValueError, match="mmap closed or invalid"):
        m.pack_into(layout, 0, 1)


def test_format_strings_are_compiled_once_and_kept_up_to_a_bound(m):
    # unpack_from()/pack_into() keep the Struct of each format string the
    # long way took, so that the next call takes the hot path as a Struct
    # does; a bad format is never kept, and the number kept is bounded.
    from pymmap import facade

    with pytest.raises(struct.error):
        m.pack_into("<Q!", 0, 1)
    assert "<Q!" not in facade._LAYOUTS
    m.pack_into("<h", 0, -2)
    assert facade._LAYOUTS["<h"].format == "<h"
    assert m.unpack_from("<h", 0) == (-2,) and m[:2] == b"\xfe\xff"
    for n in range(facade._MOST_LAYOUTS + 20):
        fmt = "<" + " " * n + "x"  # (whitespace between codes is allowed: a new string, one byte)
        assert m.unpack_from(fmt, 10) == ()
        m.pack_into(fmt, 10)  # (a pad byte: writes a zero)
    assert len(facade._LAYOUTS) <= facade._MOST_LAYOUTS
    assert m.unpack_from("<h", 0) == (-2,)
    m.close()
    with pytest.raises(ValueError, match="mmap closed or invalid"):
        m.unpack_from("<h", 0)
    with pytest.raises(ValueError, match="mmap closed or invalid"):  # the map before the format
        m.unpack_from("<Q!", 0)


# --- access mode and closed maps --------------------------------------------------------


def test_read_only_map_reads_and_refuses_every_write(ro):
    t = ro.typed("big")
    assert t.u16[1] == 0x0102
    assert t.char[65 - 65] == "\x00"
    assert t.string(1, 3) == b"\x01\x02\x03"
    assert ro.unpack_from(">I", 0) == (0x00010203,)
    writes = [
        lambda: t.u8.__setitem__(0, 1),
        lambda: t.i64.__setitem__(0, 1),
        lambda: t.f64.__setitem__(0, 1.0),
        lambda: t.char.__setitem__(0, "a"),
        lambda: t.u16.set_array(0, [1]),
        lambda: t.set_string(0, 4, b"a"),
        lambda: ro.pack_into("B", 0, 1),
    ]
    for write in writes:
        with pytest.raises(TypeError, match=READONLY):
            write()
    assert ro[:4] == b"\x00\x01\x02\x03"


def test_closed_map_raises_valueerror(m):
    t = m.typed()
    m.close()
    for access in (lambda: t.u32[0], lambda: t.u32.__setitem__(0, 1), lambda: t.char[0],
                   lambda: t.string(0, 1), lambda: t.f32.array(0, 1), lambda: m.unpack_from("B"),
                   lambda: m.pack_into("B", 0, 1), lambda: m.typed()):
        with pytest.raises(ValueError, match="mmap closed or invalid"):
            access()


def test_offset_whose_index_closes_the_map(m):
    class Closer:
        def __index__(self):
            m.close()
            return 0

    with pytest.raises(ValueError, match="mmap closed or invalid"):
        m.typed().u32[Closer()]


def test_value_whose_index_closes_the_map_writes_nothing(m):
    class Closer:
        def __index__(self):
            m.close()
            return 5

    t = m.typed()
    with pytest.raises(ValueError, match="mmap closed or invalid"):
        t.u32[0] = Closer()
    with pytest.raises(ValueError, match="mmap closed or invalid"):
        m.pack_into("<I", 0, Closer())


def test_typed_accessors_see_other_writers_at_once(m):
    t = m.typed()
    m[0:2] = b"\x34\x12"
    assert t.u16[0] == 0x1234
    m[0:2] = b"\x00\x01"
    assert t.u16[0] == 0x100


def test_typed_works_after_resize(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(bytes(8))
    with open(path, "r+b") as f:
        mm = pymmap.mmap(f.fileno(), 0)
        t = mm.typed()
        mm.resize(16)
        t.u64[8] = 42
        assert t.u64[8] == 42
        mm.close()
    assert path.read_bytes()[8:] == (42).to_bytes(8, "little")


def test_reprs(m):
    t = m.typed("big")
    assert "big" in repr(t) and "mmap" in repr(t)
    assert repr(t.f64) == "<pymmap typed f64 (big endian, 8 bytes)>"


def test_every_entrance_takes_index_objects_as_offsets(m):
    class At:
        def __init__(self, n):
            self.n = n

        def __index__(self):
            return self.n

    t = m.typed()
    t.f64[At(8)] = 2.5
    assert t.f64[At(8)] == 2.5
    t.char[At(1)] = "q"
    assert t.char[At(1)] == "q"
    t.u16.set_array(At(20), [1, 2])
    assert t.u16.array(At(20), 2) == [1, 2]
    t.set_string(At(30), 4, b"ab")
    assert t.string(At(30), 4) == b"ab"
    m.pack_into("<h", At(40), -3)
    assert m.unpack_from("<h", At(40)) == (-3,)


def test_protected_pages_are_checked(tmp_path):
    mm = pymmap.mmap(-1, 2 * pymmap.PAGESIZE)
    t = mm.typed()
    page = pymmap.PAGESIZE
    t.u32[page] = 7
    mm.protect(PROT["PROT_READ"], page, page)
    assert t.u32[page] == 7 and mm.unpack_from("<I", page) == (7,)
    with pytest.raises(TypeError, match=READONLY):
        t.u32[page] = 8
    t.u32[0] = 9  # the first page is still writable
    mm.protect(PROT["PROT_NONE"], page, page)
    with pytest.raises(ValueError):
        t.u32[page]
    with pytest.raises(ValueError):
        mm.record(ctypes.c_uint32 * 2, page)
    assert t.u32[0] == 9
    mm.protect(PROT["PROT_READ"] | PROT["PROT_WRITE"], page, page)
    assert t.u32[page] == 7
    mm.close()
