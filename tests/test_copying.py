"""pymmap.copying: PyPy's fast copies give what CPython's slices give.

On PyPy the facade and the region copy through ``ctypes.string_at`` and
``ctypes.memmove`` (``SLOW_SLICES``); everywhere else through plain slices.
These tests run both roads on every interpreter, by switching
``SLOW_SLICES`` on, and compare them with plain slices and with a
``bytearray`` doing the same work.
"""

import ctypes
import random

import pytest

import pymmap
from pymmap import copying, facade
from pymmap.copying import FastArray, FastView

SIZE = 3 * 4096 + 123  # larger than the store threshold, not a page multiple


@pytest.fixture(params=[False, True], ids=["slices", "pypy-roads"])
def slow(request, monkeypatch):
    """Run the test with SLOW_SLICES as the parameter says."""
    monkeypatch.setattr(copying, "SLOW_SLICES", request.param)
    monkeypatch.setattr(facade, "SLOW_SLICES", request.param)
    return request.param


def _pair():
    """A c_char array over a bytearray twin, filled with the same random bytes."""
    data = bytearray(random.Random(5).randbytes(SIZE) if hasattr(random.Random, "randbytes")
                     else bytes(random.Random(5).getrandbits(8) for _ in range(SIZE)))
    array = (ctypes.c_char * SIZE).from_buffer_copy(data)
    return array, memoryview(array).cast("B"), data


def test_bytes_at_clamps_like_a_slice(slow):
    array, _, data = _pair()
    for start, stop in [(0, 0), (0, 10), (5, 5000), (SIZE - 3, SIZE + 50), (SIZE, SIZE + 1), (7, 3)]:
        assert copying.bytes_at(array, start, stop) == bytes(data[start:stop])


@pytest.mark.parametrize("n", [0, 1, 100, 4095, 4096, 9000])
def test_store_and_move_match_a_bytearray(slow, n):
    array, view, data = _pair()
    new = bytes(range(256)) * (n // 256 + 1)
    for source in (new[:n], bytearray(new[:n]), memoryview(new[:n])):
        copying.store(array, view, 17, source)
        data[17:17 + n] = new[:n]
        assert bytes(view) == data
    copying.move(array, view, 3, 1000, n)  # overlapping when n > 997
    data[3:3 + n] = data[1000:1000 + n]
    assert bytes(view) == data
    copying.move(array, view, 1000, 3, n)
    data[1000:1000 + n] = data[3:3 + n]
    assert bytes(view) == data


def test_store_past_the_end_raises_and_writes_nothing(slow):
    array, view, data = _pair()
    with pytest.raises(ValueError):
        copying.store(array, view, SIZE - 4096, b"x" * 5000)
    assert bytes(view) == data


def test_fast_array_indexes_like_the_array():
    array, _, _ = _pair()
    fast = FastArray(array)
    assert len(fast) == len(array)
    for item in [0, 5, -1, -SIZE, slice(None), slice(10, 20), slice(-50, None), slice(20, 10),
                 slice(0, SIZE, 7), slice(None, None, -1), slice(SIZE + 5, SIZE + 10)]:
        assert fast[item] == array[item]
    for bad in (SIZE, -SIZE - 1):
        with pytest.raises(IndexError):
            fast[bad]


def test_fast_view_stores_like_the_view():
    array, view, data = _pair()
    fast = FastView(view, array)
    assert len(fast) == SIZE and fast[3] == data[3] and bytes(fast[2:9]) == bytes(data[2:9])
    fast[4] = 200
    data[4] = 200
    fast[100:100 + 5000] = b"y" * 5000  # one memmove
    data[100:100 + 5000] = b"y" * 5000
    fast[10:20] = b"z" * 10  # small: the memoryview
    data[10:20] = b"z" * 10
    fast[0:9000:3] = b"w" * 3000  # a step: the memoryview
    data[0:9000:3] = b"w" * 3000
    assert bytes(view) == data
    with pytest.raises(ValueError):
        fast[0:5000] = b"short" * 10  # the sizes differ: the memoryview says so
    with pytest.raises((TypeError, ValueError)):
        fast[0] = 256
    readonly = FastView(view.toreadonly(), array)
    with pytest.raises(TypeError):
        readonly[0:5000] = b"r" * 5000
    assert bytes(view) == data


def test_the_facade_on_pypy_roads_matches_a_bytearray(slow, open_file):
    # The facade's slices, reads, writes, readline, find and move, with the
    # stand-ins PyPy uses, against the same edits made to a bytearray.
    lines = b"".join(b"line %d " % i + b"x" * (i % 90) + b"\n" for i in range(400))
    f = open_file(lines)
    m = pymmap.mmap(f.fileno(), 0)
    assert isinstance(m._array, FastArray) == slow
    data = bytearray(lines)
    assert m[:] == data and m[100:5000] == data[100:5000] and m[::7] == data[::7]
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
    m.seek(7000)
    m.write(b"W" * 4500)
    data[7000:11500] = b"W" * 4500
    m.move(1, 9000, 5000)
    data[1:5001] = data[9000:14000]
    assert m[:] == data
    m.seek(20)
    assert m.read(6000) == data[20:6020]
    assert m.find(b"line 399") == data.find(b"line 399", 6020)
    assert m.rfind(b"line 1") == data.rfind(b"line 1", 6020)
    m.resize(len(data) + 8192)
    data += bytes(8192)
    assert m[:] == data
    m.close()
