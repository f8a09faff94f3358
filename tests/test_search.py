"""find() and rfind() judged against ``bytes.find``/``bytes.rfind`` at every boundary they have.

The searches look at a small copy first (a window), then search in place
with the C library, and ``rfind`` walks back one chunk at a time, each
overlapping the next so that a match across the boundary is seen.  A
mistake at one of those boundaries shows only when the needle straddles it
and nothing lets the search skip ahead: here the haystack is ``b"NE"``
repeated and the needles begin and end with ``N`` and ``E``, so that both
end bytes are everywhere.  The boundaries are not computed from the
algorithm: they are observed (every in-place search the region makes is
recorded on an unplanted haystack), and a needle is planted across each of
them; ``bytes`` is the judge of every answer.

The module runs in a child pytest (``in_child``): a search that reads out
of bounds fails these tests, not the run.
"""

import pytest

import pymmap
from pymmap._platform import backend

pytestmark = pytest.mark.in_child

SIZE = 3 * (1 << 20) + 100  # enough for rfind's chunks to grow to their largest


@pytest.fixture(scope="module")
def haystack():
    region = pymmap.MappedRegion(SIZE, flags=backend.CONSTANTS["MAP_PRIVATE"])
    data = bytearray(b"NE" * (SIZE // 2))
    region.write(0, bytes(data))
    yield region, data
    region.close()


def _observed_windows(monkeypatch, region, method, needle):
    """Where the region searched in place (relative offsets) for an absent ``needle``."""
    base = region.address
    seen = []
    real = backend.find

    def find(address, length, sought):
        seen.append((address - base, address - base + length))
        return real(address, length, sought)

    monkeypatch.setattr(backend, "find", find)
    assert getattr(region, method)(needle, 0, SIZE) == -1
    monkeypatch.setattr(backend, "find", real)
    return seen


def _boundaries(windows):
    """Every edge of every in-place search, and the 256-byte windows at both ends."""
    edges = {256, SIZE - 256}
    for lo, hi in windows:
        edges.update((lo, hi))
    return sorted(e for e in edges if 0 < e < SIZE)


@pytest.mark.parametrize("needle", [b"NEXNE", b"NEQQE", b"NXXXXXXXXXXXE"])
@pytest.mark.parametrize("method", ["rfind", "find"])
def test_a_needle_across_every_boundary(haystack, monkeypatch, method, needle):
    region, data = haystack
    windows = _observed_windows(monkeypatch, region, method, needle)
    if method == "rfind":
        assert len(windows) > 9  # the chunks grow, then stay at their largest
    n = len(needle)
    checked = 0
    for edge in _boundaries(windows):
        for pos in range(edge - n - 2, edge + 3):  # straddling, ending at, starting at the edge
            if not 0 <= pos <= SIZE - n:
                continue
            old = bytes(data[pos:pos + n])
            region.write(pos, needle)
            data[pos:pos + n] = needle
            search = getattr(region, method)
            expected = getattr(bytes(data), method)
            for start, stop in ((0, SIZE), (0, pos + n), (0, pos + n - 1), (pos + 1, SIZE), (pos, SIZE)):
                assert search(needle, start, stop) == expected(needle, start, stop), (method, pos, start, stop)
            region.write(pos, old)
            data[pos:pos + n] = old
            checked += 1
    assert checked >= 3 * (n + 5)  # at least three edges, each with every straddling position


@pytest.mark.parametrize("method", ["find", "rfind"])
def test_absent_and_tiny_ranges(haystack, method):
    region, data = haystack
    search = getattr(region, method)
    expected = getattr(bytes(data), method)
    for needle in (b"NEN", b"ENE", b"N", b"E", b"X", b"NEX"):
        for start, stop in ((0, 0), (5, 5), (5, 4), (SIZE - 1, SIZE), (0, 3), (SIZE - 300, SIZE - 250),
                            (SIZE, SIZE), (SIZE + 10, SIZE), (10, SIZE + 10)):
            assert search(needle, start, stop) == expected(needle, start, stop), (needle, start, stop)


def test_the_search_calls_refuse_a_negative_length():
    # A length below zero would be a size_t of most of the address space.
    region = pymmap.MappedRegion(pymmap.PAGESIZE)
    base = region.address
    assert backend.find(base, -1, b"x") == -1
    assert backend.find_byte(base, -5, 0) == -1
    assert backend.rfind_byte(base, -(1 << 40), 0) == -1
    assert backend.find(base, 0, b"") == -1
    region.close()
