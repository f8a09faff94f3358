"""pymmap.copying: the roads to mapped memory give what a bytearray gives.

Each interpreter takes its own road: ctypes' objects on CPython, cffi's on
PyPy (``SLOW_SLICES``).  These tests run the road of the interpreter they
run on, against a ``bytearray`` doing the same work; the PyPy stand-ins
(:class:`FastView`, :class:`FastArray`) exist only there.  That the objects
that must keep an array alive do is tested in test_safety_holders.py.
"""

import ctypes
import gc
import random
import weakref

import pytest

import pymmap
from pymmap import copying
from pymmap.copying import SLOW_SLICES

SIZE = 3 * 4096 + 123  # not a page multiple

pypy_only = pytest.mark.skipif(not SLOW_SLICES, reason="the cffi stand-ins exist on PyPy only")


def _pair():
    """A c_char array and its view (copying.view_of), with a bytearray twin holding the same random bytes."""
    rng = random.Random(5)
    data = bytearray(rng.getrandbits(8) for _ in range(SIZE))
    array = (ctypes.c_char * SIZE).from_buffer_copy(data)
    return array, copying.view_of(array), data


def test_view_of_is_a_byte_view_of_the_array():
    array, view, data = _pair()
    assert isinstance(view, memoryview)
    assert (view.format, view.itemsize, view.ndim, len(view), view.readonly) == ("B", 1, 1, SIZE, False)
    assert bytes(view) == data and view[7] == data[7] and view[-1] == data[-1]
    view[7] = 1
    array[8] = b"\x02"
    assert array[7] == b"\x01" and view[8] == 2


def _dies(make):
    """True if the array dies when only ``make(array, view)`` is kept."""
    array, view, _ = _pair()
    died = weakref.ref(array)
    keep = make(array, view)
    del array, view
    for _ in range(3):
        gc.collect()
    alive = died() is not None
    del keep
    for _ in range(3):
        gc.collect()
    assert died() is None  # nothing else held it
    return not alive


@pytest.mark.skipif(SLOW_SLICES, reason="PyPy's memoryviews, of a ctypes array or of cffi's buffer, hold nothing")
def test_views_keep_the_array_alive():
    assert not _dies(lambda array, view: view)
    assert not _dies(lambda array, view: [view[10:20], view.toreadonly()])


@pypy_only
def test_the_stand_ins_keep_the_array_alive():
    assert not _dies(lambda array, view: copying.FastArray(array))
    assert not _dies(lambda array, view: copying.FastView(view, array))
    assert _dies(lambda array, view: view)  # why the stand-ins hold the array themselves


def test_bytes_at_clamps_like_a_slice():
    array, _view, data = _pair()
    for start, stop in [(0, 0), (0, 10), (5, 5000), (SIZE - 3, SIZE + 50), (SIZE, SIZE + 1), (7, 3)]:
        got = copying.bytes_at(array, start, stop)
        assert type(got) is bytes and got == bytes(data[start:stop])


@pytest.mark.parametrize("n", [0, 1, 100, 4095, 4096, 9000])
def test_store_and_move_match_a_bytearray(n):
    array, view, data = _pair()
    new = bytes(range(256)) * (n // 256 + 1)
    for source in (new[:n], bytearray(new[:n]), memoryview(new[:n]), memoryview(bytearray(new[:n]))):
        copying.store(array, view, 17, source)
        data[17:17 + n] = new[:n]
        assert bytes(view) == data
    copying.move(array, view, 3, 1000, n)  # overlapping when n > 997
    data[3:3 + n] = data[1000:1000 + n]
    assert bytes(view) == data
    copying.move(array, view, 1000, 3, n)
    data[1000:1000 + n] = data[3:3 + n]
    assert bytes(view) == data


def test_out_of_range_copies_raise_and_write_nothing():
    array, view, data = _pair()
    with pytest.raises(ValueError):
        copying.store(array, view, SIZE - 4096, b"x" * 5000)
    with pytest.raises((ValueError, IndexError)):
        copying.store(array, view, -5, b"x" * 10)
    for dest, src, count in [(SIZE - 10, 0, 11), (0, SIZE - 10, 11), (-1, 0, 5), (0, -1, 5), (0, 5, -1)]:
        with pytest.raises(ValueError):
            copying.move(array, view, dest, src, count)
    assert bytes(view) == data


def test_read_only_views_refuse_copies_in():
    array, view, data = _pair()
    readonly = view.toreadonly()
    with pytest.raises(TypeError):
        copying.store(array, readonly, 0, b"x" * 5000)
    with pytest.raises(TypeError):
        copying.move(array, readonly, 0, 100, 50)
    assert bytes(view) == data


@pypy_only
def test_fast_array_indexes_like_the_array():
    array, _, _ = _pair()
    fast = copying.FastArray(array)
    assert len(fast) == len(array)
    for item in [0, 5, -1, -SIZE, slice(None), slice(10, 20), slice(-50, None), slice(20, 10),
                 slice(0, SIZE, 7), slice(None, None, -1), slice(SIZE + 5, SIZE + 10)]:
        assert fast[item] == array[item]
    for bad in (SIZE, -SIZE - 1):
        with pytest.raises(IndexError):
            fast[bad]


@pypy_only
def test_fast_view_reads_and_stores_like_the_view():
    array, view, data = _pair()
    fast = copying.FastView(view, array)
    assert len(fast) == SIZE and fast[3] == data[3] and fast[-2] == data[-2]
    assert bytes(fast[2:9]) == bytes(data[2:9])
    fast[4] = 200
    fast[-1] = 201
    data[4], data[-1] = 200, 201
    fast[100:100 + 5000] = b"y" * 5000  # one memmove
    data[100:100 + 5000] = b"y" * 5000
    fast[10:20] = memoryview(bytearray(b"z" * 10))
    data[10:20] = b"z" * 10
    fast[SIZE - 3:SIZE + 100] = b"end"  # clamped as a slice is
    data[SIZE - 3:] = b"end"
    fast[0:9000:3] = b"w" * 3000  # a step: the memoryview
    data[0:9000:3] = b"w" * 3000
    assert bytes(view) == data
    with pytest.raises(ValueError):
        fast[0:5000] = b"short" * 10  # the sizes differ: the memoryview says so
    for bad in (256, -1, "x"):
        with pytest.raises((TypeError, ValueError, OverflowError)):
            fast[0] = bad
    for index in (SIZE, -SIZE - 1, 2**70):
        with pytest.raises((IndexError, OverflowError)):
            fast[index] = 1
        with pytest.raises((IndexError, OverflowError)):
            fast[index]
    assert bytes(view) == data


@pypy_only
def test_a_read_only_fast_view_refuses_every_store():
    array, view, data = _pair()
    readonly = copying.FastView(view.toreadonly(), array)
    assert readonly[5] == data[5]
    for item, value in [(0, 1), (slice(0, 5000), b"r" * 5000), (slice(0, 3), b"abc")]:
        with pytest.raises(TypeError):
            readonly[item] = value
    assert bytes(view) == data


def test_the_facade_matches_a_bytearray(open_file):
    # The facade's slices, reads, writes, readline, find and move, over
    # this interpreter's road, against the same edits made to a bytearray.
    lines = b"".join(b"line %d " % i + b"x" * (i % 90) + b"\n" for i in range(400))
    f = open_file(lines)
    m = pymmap.mmap(f.fileno(), 0)
    data = bytearray(lines)
    assert m[:] == data and m[100:5000] == data[100:5000] and m[::7] == data[::7]
    assert m[5] == data[5] and m[-3] == data[-3]
    m.seek(0)
    got = []
    while True:
        line = m.readline()
        if not line:
            break
        got.append(line)
    assert got == data.splitlines(keepends=True)
    m[50:6000] = b"q" * 5950
    data[50:6000] = b"q" * 5950
    m[7] = 1
    m[-7] = 2
    data[7], data[-7] = 1, 2
    m.seek(7000)
    m.write(bytearray(b"W" * 4500))
    data[7000:11500] = b"W" * 4500
    m.write_byte(3)
    data[11500] = 3
    m.move(1, 9000, 5000)
    data[1:5001] = data[9000:14000]
    assert m[:] == data
    m.seek(20)
    assert m.read(6000) == data[20:6020]
    assert m.read_byte() == data[6020]
    assert m.find(b"line 399") == data.find(b"line 399", 6021)
    assert m.rfind(b"line 1") == data.rfind(b"line 1", 6021)
    assert m.typed().u32[101] == int.from_bytes(data[101:105], "little")
    m.resize(len(data) + 8192)
    data += bytes(8192)
    assert m[:] == data
    m.close()


def test_a_read_only_facade_matches_the_file(open_file):
    data = bytes(range(256)) * 40
    f = open_file(data, "rb")
    m = pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ)
    assert m[:] == data and m[300:900] == data[300:900] and m[4] == data[4] and m[-4] == data[-4]
    assert m.read(5000) == data[:5000] and m.find(b"\x10\x11", 0) == 16
    assert m.typed().u16[7] == int.from_bytes(data[7:9], "little") and m.typed().string(65, 3) == data[65:68]
    for store in (lambda: m.__setitem__(0, 1), lambda: m.__setitem__(slice(0, 3), b"abc"),
                  lambda: m.write(b"x"), lambda: m.write_byte(1)):
        with pytest.raises(TypeError):
            store()
    assert m[:] == data
    m.close()
