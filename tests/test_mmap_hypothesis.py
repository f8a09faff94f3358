"""Random differential tests: hypothesis draws the operations, the stdlib judges.

Random slices, random search bounds and random sequences of file-like and
sequence operations are run on ``pymmap.mmap`` and on the stdlib's
``mmap.mmap`` through :func:`oracle.differential`, which compares every
result, exception, position and (for file maps) the file's final contents.
Example counts are bounded so the whole module runs in a few seconds.
"""

import operator
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import OLD_WINDOWS_RESIZE, differential, stdlib_mmap

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: A small alphabet, so that searches and readline find something.
contents = st.lists(st.sampled_from(b"ab\n\x00\xff"), min_size=1, max_size=64).map(bytes)
needles = st.lists(st.sampled_from(b"ab\n\x00"), min_size=0, max_size=4).map(bytes)
bound = st.one_of(st.integers(-80, 80), st.sampled_from([2**63 - 1, -(2**63), 2**63, -(2**70)]))
slice_part = st.one_of(st.none(), bound)
slices = st.builds(slice, slice_part, slice_part,
                   st.one_of(st.none(), st.integers(-9, 9), st.sampled_from([2**63 - 1, -(2**63) + 1, 2**70])))
access_modes = st.sampled_from([stdlib_mmap.ACCESS_DEFAULT, stdlib_mmap.ACCESS_READ,
                                stdlib_mmap.ACCESS_WRITE, stdlib_mmap.ACCESS_COPY])


def _tmpdir(tmp_path):
    # A fresh directory per example, inside the test's tmp_path (which
    # pytest removes in time): hypothesis reruns the test body many times
    # within one pytest function, so tmp_path itself would be shared.
    return tempfile.mkdtemp(dir=str(tmp_path))


@SETTINGS
@given(data=contents, items=st.lists(slices, min_size=1, max_size=20))
def test_random_slices(data, items, tmp_path):
    def scenario(mod, m, step):
        for s in items:
            step(operator.getitem, m, s)

    differential(scenario, _tmpdir(tmp_path), data=data)


@SETTINGS
@given(data=contents, items=st.lists(st.tuples(slices, st.integers(-1, 1)), min_size=1, max_size=10),
       access=access_modes)
def test_random_slice_assignment(data, items, access, tmp_path):
    def scenario(mod, m, step):
        for s, delta in items:
            try:
                n = len(range(*s.indices(len(data))))
            except ValueError:  # step 0: the map must say so too
                n = 1
            step(operator.setitem, m, s, b"Z" * max(n + delta, 0))
            step(lambda: m[:])

    differential(scenario, _tmpdir(tmp_path), data=data, access=access)


@SETTINGS
@given(data=contents, searches=st.lists(
    st.tuples(st.sampled_from(["find", "rfind"]), needles, st.one_of(st.none(), bound),
              st.one_of(st.none(), bound), st.integers(0, 70)),
    min_size=1, max_size=15))
def test_random_searches(data, searches, tmp_path):
    def scenario(mod, m, step):
        for method, needle, start, end, pos in searches:
            step(lambda pos=pos: m.seek(min(pos, len(m))), since=(3, 13))
            find = getattr(m, method)
            if start is None and end is None:
                step(find, needle)
            elif start is None or end is None:
                # None bounds are accepted by the newest CPython only; there
                # a None start means "from the position", and end is ignored.
                step(find, needle, start, end, since=(3, 15),
                     expect=_expected_find(data, m.tell(), method, needle, start, end))
            elif not needle and start > len(data):
                # An empty needle past the end: -1 from 3.15 on (before, the end).
                step(find, needle, start, end, since=(3, 15),
                     expect=_expected_find(data, m.tell(), method, needle, start, end))
            else:
                step(find, needle, start, end)

    differential(scenario, _tmpdir(tmp_path), data=data)


def _expected_find(data, pos, method, needle, start, end):
    """The newest CPython's answer, computed with bytes methods."""
    n = len(data)
    if start is not None and not -(2**63) <= start < 2**63:
        return OverflowError
    if start is None:
        start, end = pos, n
    elif end is not None and not -(2**63) <= end < 2**63:
        return OverflowError
    elif end is None:
        end = n
    # The bounds work as for bytes (3.15: an empty needle past the end is -1 too).
    return getattr(data, method)(needle, start, end)


# One random operation: (method name, arguments).
operations = st.one_of(
    st.tuples(st.just("read"), st.tuples(st.one_of(st.none(), st.integers(-2, 70)))),
    st.tuples(st.just("read_byte"), st.just(())),
    st.tuples(st.just("readline"), st.just(())),
    st.tuples(st.just("write"), st.tuples(st.binary(max_size=12))),
    st.tuples(st.just("write_byte"), st.tuples(st.integers(-1, 256))),
    st.tuples(st.just("seek"), st.tuples(st.integers(-80, 80), st.integers(0, 3))),
    st.tuples(st.just("tell"), st.just(())),
    st.tuples(st.just("move"), st.tuples(st.integers(-2, 70), st.integers(-2, 70), st.integers(-2, 70))),
    st.tuples(st.just("getitem"), st.tuples(bound)),
    st.tuples(st.just("setitem"), st.tuples(st.integers(-70, 70), st.integers(-1, 256))),
    st.tuples(st.just("find"), st.tuples(needles)),
    st.tuples(st.just("rfind"), st.tuples(needles)),
    st.tuples(st.just("flush"), st.just(())),
    # Not resize(0): the stdlib truncates the file before mremap(2) fails
    # and its next read dies with SIGBUS; pymmap refuses before truncating
    # (see test_mmap_crashes.py), so the two cannot be compared.
    st.tuples(st.just("resize"), st.tuples(st.sampled_from([-1, 1, 7, 64, 100, 200]))),
    st.tuples(st.just("size"), st.just(())),
    st.tuples(st.just("len"), st.just(())),
)


def _apply(step, m, name, args):
    if name == "getitem":
        step(operator.getitem, m, *args)
    elif name == "setitem":
        step(operator.setitem, m, *args)
    elif name == "len":
        step(len, m)
    elif name == "seek":
        # seek returns the position from 3.13 on (None before).
        step(getattr(m, name), *args, since=(3, 13))
    elif name in ("find", "rfind") and not args[0] and not m.closed and m.tell() > len(m):
        # An empty needle past the end: -1 from 3.15 on (before, the end).
        step(getattr(m, name), *args, since=(3, 15), expect=-1)
    else:
        step(getattr(m, name), *args)


@SETTINGS
@given(data=contents, ops=st.lists(operations, min_size=1, max_size=25), access=access_modes)
def test_random_operations_on_a_file(data, ops, access, tmp_path):
    def scenario(mod, m, step):
        for name, args in ops:
            _apply(step, m, name, args)
        step(lambda: m[:])

    differential(scenario, _tmpdir(tmp_path), data=data, access=access)


@SETTINGS
@given(size=st.integers(1, 64), ops=st.lists(operations, min_size=1, max_size=25))
def test_random_operations_on_anonymous_memory(size, ops):
    def scenario(mod, m, step):
        for name, args in ops:
            if name == "resize" and args[0] > len(m):
                # Growing a shared anonymous map crashes the stdlib (3.9-3.13.0)
                # past its first page, and within it brings back the bytes a
                # shrink cut off; the newest CPython refuses it (gh-138204).
                # pymmap grows it with zeros: see test_mmap_crashes.py.
                continue
            if name == "resize" and OLD_WINDOWS_RESIZE:
                # CPython before 3.10 cannot resize paging-file memory on
                # Windows (bpo-40915); test_windows_differential checks pymmap's.
                continue
            if name == "size":
                # The length, from 3.15 on; OSError before.
                step(m.size, since=(3, 15), expect=len(m))
                continue
            _apply(step, m, name, args)
        step(lambda: m[:])

    differential(scenario, anonymous=True, length=size)
