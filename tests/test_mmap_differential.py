"""Differential tests: ``pymmap.mmap`` against the stdlib's ``mmap.mmap``.

Each test is a scenario run by :func:`oracle.differential` on both
implementations (twin files with identical contents, or anonymous memory);
every step's result or exception, ``tell()`` after it, and the file's
contents after ``close()`` must agree.  Where the stdlib of the running
Python predates the newest behaviour, the step says since when it is
compared, and what pymmap must do on every version (``expect=``).

The versioned differences encoded here (pymmap always has the newest):

* ``seek()`` returns the new position (3.13+); before, None.
* ``seekable()`` exists (3.13+).
* ``repr()`` shows access, length, pos and offset (3.9+... see test_repr).
* ``size()`` of an anonymous map returns its length (3.15+); before, OSError.
* ``size()`` with ``trackfd=False`` raises ValueError (3.15+); 3.13 OSError.
* ``flush(offset)`` flushes from offset to the end, and ``size=-1`` means
  "to the end" (3.15+); before, the default size was the whole length.
* ``find``/``rfind`` accept None bounds (3.13+), and return -1 when
  ``end < start`` even for an empty needle (3.13+).
* ``madvise(option, start, None)`` means "to the end" (3.13+).
* ``trackfd=`` exists (3.13+).
* An argument's ``__index__`` that closes the map gives ValueError (3.13+;
  older versions may crash, so they are never run on the stdlib).
"""

import array
import copy
import errno
import operator
import os
import pickle
import weakref

import pytest
from oracle import (
    OLD_WINDOWS_RESIZE,
    OLD_WINDOWS_RESIZE_REASON,
    PAGESIZE,
    POSIX_ARGUMENTS_REASON,
    PY,
    Raises,
    differential,
    stdlib_mmap,
)

import pymmap

DATA = b"hello world\nline two\n\nabc" + bytes(range(256)) + b"tail without newline"
N = len(DATA)
BIG = 2**63
HUGE = 2**100
SSIZE_MAX = 2**63 - 1
#: Behaviour seen in CPython's main branch (3.15) and not in 3.13: compared
#: with the stdlib only from this version on.  Some of it may be in 3.14.
NEWEST = (3, 15)

ACCESS_DEFAULT = stdlib_mmap.ACCESS_DEFAULT
ACCESS_READ = stdlib_mmap.ACCESS_READ
ACCESS_WRITE = stdlib_mmap.ACCESS_WRITE
ACCESS_COPY = stdlib_mmap.ACCESS_COPY
# Windows' mmap has no PROT_*/MAP_*: there the scenarios that pass them
# are skipped (oracle.differential), and the numbers only fill the tables.
_POSIX = getattr(stdlib_mmap, "PROT_READ", None) is not None
PROT_READ = stdlib_mmap.PROT_READ if _POSIX else 1
PROT_WRITE = stdlib_mmap.PROT_WRITE if _POSIX else 2
MAP_SHARED = stdlib_mmap.MAP_SHARED if _POSIX else 1
MAP_PRIVATE = stdlib_mmap.MAP_PRIVATE if _POSIX else 2

#: Every way to say how a map may be used: the access modes and the
#: flags/prot forms, by name.
MODES = {
    "default": {},
    "read": {"access": ACCESS_READ},
    "write": {"access": ACCESS_WRITE},
    "copy": {"access": ACCESS_COPY},
    "explicit-default": {"access": ACCESS_DEFAULT},
    "prot-read": {"prot": PROT_READ},
    "private": {"flags": MAP_PRIVATE},
    "private-prot-read": {"flags": MAP_PRIVATE, "prot": PROT_READ},
    "shared-rw": {"flags": MAP_SHARED, "prot": PROT_READ | PROT_WRITE},
}
WRITABLE_MODES = [name for name, kw in MODES.items()
                  if kw.get("access") != ACCESS_READ and kw.get("prot", PROT_WRITE) & PROT_WRITE]


class Index:
    """An object that is an integer only through ``__index__``."""

    def __init__(self, value):
        self.value = value

    def __index__(self):
        return self.value


def both_backings(test):
    """Parametrize a test over file-backed and anonymous maps."""
    return pytest.mark.parametrize("anonymous", [False, True], ids=["file", "anon"])(test)


def run(scenario, tmp_path, anonymous=False, mode="default", data=DATA, **options):
    """Run ``scenario`` on a map of ``data`` in the given mode, on both implementations."""
    kwargs = dict(MODES[mode])
    kwargs.update(options)
    if anonymous:
        length = kwargs.pop("length", len(data))

        def with_data(mod, m, step):
            if not m.closed and len(data) and not _readonly(kwargs):
                m[: len(data)] = data
            scenario(mod, m, step)

        return differential(with_data if scenario else None, anonymous=True, length=length, **kwargs)
    kwargs.setdefault("length", 0)
    return differential(scenario, tmp_path, data=data, **kwargs)


def _readonly(kwargs):
    return kwargs.get("access") == ACCESS_READ or not kwargs.get("prot", PROT_WRITE) & PROT_WRITE


# --- the module -------------------------------------------------------------------


def test_module_constants_match():
    names = [n for n in dir(stdlib_mmap) if n.isupper()]
    assert names
    for name in names:
        assert getattr(pymmap, name) == getattr(stdlib_mmap, name), name
    assert pymmap.error is stdlib_mmap.error is OSError


def test_method_names_match():
    public = {n for n in dir(stdlib_mmap.mmap) if not n.startswith("_")}
    # seekable() is new in 3.13; pymmap has it everywhere.
    assert public - {"seekable"} <= set(dir(pymmap.mmap))
    assert {"seekable", "closed"} <= set(dir(pymmap.mmap))
    for dunder in ("__enter__", "__exit__", "__len__", "__getitem__", "__setitem__"):
        assert hasattr(pymmap.mmap, dunder)


# --- construction -----------------------------------------------------------------


@pytest.mark.parametrize(
    "length, args, kwargs",
    [
        (0, (), {}),
        (N, (), {}),
        (5, (), {}),
        (0, (MAP_SHARED,), {}),
        (0, (MAP_PRIVATE, PROT_READ), {}),
        (0, (MAP_SHARED, PROT_READ | PROT_WRITE, ACCESS_DEFAULT, 0), {}),
        (0, (MAP_SHARED, PROT_READ | PROT_WRITE, ACCESS_READ), {}),
        (0, (), {"flags": MAP_PRIVATE, "access": ACCESS_READ}),
        (0, (), {"prot": PROT_READ, "access": ACCESS_WRITE}),
        (0, (), {"prot": PROT_READ | PROT_WRITE, "access": ACCESS_COPY}),
        (0, (), {"access": 4}),
        (0, (), {"access": -1}),
        (0, (), {"access": 2**31}),
        (0, (), {"offset": -1}),
        (-1, (), {}),
        (-(2**63), (), {}),
        (BIG, (), {}),
        (HUGE, (), {}),
        (0, (), {"offset": BIG}),
        (0, (), {"offset": 2**64}),
        (0, (), {"offset": -(2**63) - 1}),
        (N + 1, (), {}),
        (1, (), {"offset": PAGESIZE}),
        (0, (), {"offset": PAGESIZE}),
        (0, (), {"offset": 1}),
        (1.5, (), {}),
        ("1", (), {}),
        (None, (), {}),
        (Index(4), (), {}),
        (True, (), {}),
        (0, (), {"flags": 1.5}),
        (0, (), {"prot": "x"}),
        (0, (), {"access": None}),
        (0, (), {"offset": 0.0}),
        (0, (), {"offset": Index(0)}),
        (0, (), {"flags": 2**31}),
        (0, (), {"prot": -(2**31) - 1}),
    ],
)
def test_constructor_file(tmp_path, length, args, kwargs):
    differential(None, tmp_path, data=DATA, length=length, args=args, **kwargs)


@pytest.mark.parametrize(
    "args, kwargs",
    [((), {"bogus": 1}), ((1, 2, 3, 4, 5), {}), ((MAP_SHARED,), {"flags": MAP_SHARED}),
     ((), {"trackfd": True, "fileno": 3})],
)
def test_constructor_bad_signature(tmp_path, args, kwargs):
    # The wording of these TypeErrors is the argument parser's, and varies
    # by version: compare the types only.
    differential(None, tmp_path, data=DATA, args=args, message=False, **kwargs)


@pytest.mark.skipif(PY < (3, 13), reason="the argument parser's wording before 3.13 differs ('...is an invalid "
                    "keyword argument', no keyword-only trackfd); pymmap has the newest (the types are compared "
                    "above on every version)")
@pytest.mark.parametrize(
    "args, kwargs",
    [((), {}), ((-1,), {}), ((-1,), {"bogus": 1}), ((-1, 10), {"bogus": 1}), ((-1, 10, 1, 3, 0, 0, 5), {}),
     ((-1, 10, MAP_SHARED), {"flags": MAP_SHARED}), ((-1, 10), {"fileno": -1}), ((), {"length": 10}),
     ((-1, 10, MAP_SHARED, PROT_READ), {"trackfd": True, "bogus": 2})],
)
def test_constructor_argument_errors_say_what_the_c_parser_says(args, kwargs):
    # PyArg_ParseTupleAndKeywords' own words ("function", no cls counted),
    # which the C module's callers see; pymmap binds as it does.
    errors = []
    for mod in (stdlib_mmap, pymmap):
        with pytest.raises(TypeError) as info:
            mod.mmap(*args, **kwargs)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


@pytest.mark.parametrize(
    "length, kwargs",
    [
        (10, {}),
        (PAGESIZE * 3, {}),
        (10, {"access": ACCESS_READ}),
        (10, {"access": ACCESS_WRITE}),
        (10, {"access": ACCESS_COPY}),
        (10, {"flags": MAP_PRIVATE}),
        (10, {"prot": PROT_READ}),
        (10, {"offset": 0}),
        (10, {"offset": PAGESIZE}),
        (-1, {}),
        (BIG, {}),
        (1.0, {}),
    ],
)
def test_constructor_anonymous(length, kwargs):
    def scenario(mod, m, step):
        step(len, m)
        step(lambda: m[:])

    differential(scenario, anonymous=True, length=length, **kwargs)


def test_constructor_zero_length_anonymous():
    # mmap(-1, 0) asks the kernel for nothing: EINVAL.
    _, ours = differential(None, anonymous=True, length=0)
    assert ours.steps[0].outcome.error[0] == "OSError"
    assert ours.steps[0].outcome.error[2] == errno.EINVAL


@pytest.mark.skipif(not _POSIX, reason=POSIX_ARGUMENTS_REASON)
def test_constructor_keywords(tmp_path):
    def make(mod, fileno, length, **kw):
        return mod.mmap(fileno=fileno, length=length, flags=MAP_SHARED,
                        prot=PROT_READ | PROT_WRITE, access=ACCESS_DEFAULT, offset=0)

    differential(lambda mod, m, step: step(lambda: m[:]), tmp_path, data=DATA, ctor=make)


def test_constructor_empty_file(tmp_path):
    differential(None, tmp_path, data=b"")
    differential(None, tmp_path, data=b"", length=1)
    differential(None, tmp_path, data=b"", access=ACCESS_READ)


@pytest.mark.parametrize("offset", [0, PAGESIZE, 2 * PAGESIZE, 3 * PAGESIZE, 4 * PAGESIZE])
@pytest.mark.parametrize("length", [0, 1, PAGESIZE, PAGESIZE + 10])
def test_constructor_offsets(tmp_path, offset, length):
    data = bytes(i % 251 for i in range(3 * PAGESIZE + 100))

    def scenario(mod, m, step):
        step(len, m)
        step(lambda: m[:20])
        step(lambda: m[-20:])
        step(m.size)
        step(m.find, data[offset + 5 : offset + 9] if offset < len(data) else b"x", 0)

    differential(scenario, tmp_path, data=data, length=length, offset=offset)


@pytest.mark.parametrize("fileno", [-2, -(2**31), 2**31 - 1])
def test_constructor_bad_fileno(fileno):
    def make(mod, _fileno, length, **kw):
        return mod.mmap(fileno, 10)

    differential(None, anonymous=True, ctor=make)


def test_constructor_closed_fileno(tmp_path):
    path = str(tmp_path / "closed.bin")
    with open(path, "wb") as f:
        f.write(DATA)

    def make(mod, _fileno, length, **kw):
        fd = os.open(path, os.O_RDWR)
        os.close(fd)
        return mod.mmap(fd, length, **kw)

    differential(None, anonymous=True, ctor=make, length=10)


@pytest.mark.parametrize("mode", ["default", "write", "read", "copy", "prot-read", "private"])
@pytest.mark.parametrize("open_mode", ["rb", "ab"])
def test_constructor_file_opened_without_the_access(tmp_path, mode, open_mode):
    # A file opened read-only can be mapped for reading or copy-on-write,
    # but a shared writable map of it is refused (EACCES); a write-only
    # file cannot be mapped at all.
    def scenario(mod, m, step):
        step(lambda: m[:5])
        step(m.write, b"X")

    run(scenario, tmp_path, mode=mode, open_mode=open_mode)


def test_constructor_not_a_regular_file(tmp_path):
    # A pipe is not a regular file: no size checks, and mmap(2) says ENODEV.
    def make(mod, _fileno, length, **kw):
        r, w = os.pipe()
        try:
            return mod.mmap(r, 10)
        finally:
            os.close(r)
            os.close(w)

    differential(None, anonymous=True, ctor=make)


def test_subclass(tmp_path):
    def make(mod, fileno, length, **kw):
        class Sub(mod.mmap):
            def __new__(cls, *args, **kwargs):
                self = super().__new__(cls, *args, **kwargs)
                self.extra = "yes"
                return self

            def first(self):
                return self[0]

        return Sub(fileno, length, **kw)

    def scenario(mod, m, step):
        step(lambda: type(m).__name__)
        step(lambda: isinstance(m, mod.mmap))
        step(lambda: m.extra)
        step(m.first)
        step(lambda: m[1:3])
        step(repr, m, since=(3, 9))
        step(lambda: pickle.dumps(m))
        step(m.close)
        step(repr, m, since=(3, 9), expect="<Sub closed=True>")

    differential(scenario, tmp_path, data=DATA, ctor=make)
    differential(scenario, anonymous=True, ctor=make, length=10)


def test_subclass_via_dunder_new(tmp_path):
    def make(mod, fileno, length, **kw):
        class Sub(mod.mmap):
            pass

        return mod.mmap.__new__(Sub, fileno, length)

    differential(lambda mod, m, step: step(lambda: (type(m).__name__, m[:4])), tmp_path, data=DATA, ctor=make)


def test_new_with_a_non_subclass():
    def make(mod, fileno, length, **kw):
        return mod.mmap.__new__(int, fileno, length)

    # The wording is the type machinery's (tp_new_wrapper): types only.
    differential(None, anonymous=True, ctor=make, length=10, message=False)


# --- the sequence protocol ----------------------------------------------------------------

INDICES = [0, 1, 5, -1, -5, N - 1, N, N + 1, -N, -N - 1, SSIZE_MAX, -SSIZE_MAX - 1,
           BIG, -BIG - 1, HUGE, -HUGE, True, False, Index(3), Index(-2), Index(HUGE),
           1.5, "1", None, b"1", [1], (1,)]
SLICE_BOUNDS = [None, 0, 1, 7, -1, -7, N - 1, N, N + 1, -N, -N - 1, SSIZE_MAX, -BIG, HUGE, -HUGE, Index(2)]
SLICE_STEPS = [None, 1, 2, 3, -1, -2, -3, N, -N, BIG, -BIG, HUGE, -HUGE, 0, Index(2)]


@both_backings
@pytest.mark.parametrize("mode", list(MODES))
def test_getitem(tmp_path, anonymous, mode):
    def scenario(mod, m, step):
        step(len, m)
        for i in INDICES:
            step(operator.getitem, m, i)
        step(operator.getitem, m, slice("a", 2))
        step(operator.getitem, m, slice(1.5, 2))

    run(scenario, tmp_path, anonymous, mode)


def test_getitem_slices(tmp_path):
    def scenario(mod, m, step):
        for start in SLICE_BOUNDS:
            for stop in SLICE_BOUNDS:
                for stride in SLICE_STEPS:
                    step(operator.getitem, m, slice(start, stop, stride))

    run(scenario, tmp_path)


def test_getitem_empty_slices_of_a_one_byte_map(tmp_path):
    def scenario(mod, m, step):
        for start in (None, 0, 1, -1, -2, 2):
            for stop in (None, 0, 1, -1, -2, 2):
                for stride in (None, 1, -1, 2, -2):
                    step(operator.getitem, m, slice(start, stop, stride))

    run(scenario, tmp_path, data=b"x")


VALUES = [0, 255, 256, -1, 65, 2**64, -(2**64), True, Index(66), Index(300), Index(HUGE),
          1.5, "a", b"a", b"", b"ab", bytearray(b"a"), None, [1]]


@both_backings
@pytest.mark.parametrize("mode", list(MODES))
def test_setitem_index(tmp_path, anonymous, mode):
    def scenario(mod, m, step):
        for i in (0, 3, -1, -N, N, -N - 1, BIG, HUGE, True, Index(2), Index(HUGE), 1.5, "x", None):
            for v in VALUES:
                step(operator.setitem, m, i, v)
        step(lambda: m[:10])

    run(scenario, tmp_path, anonymous, mode)


SLICE_VALUES = [
    lambda n: b"z" * n,
    lambda n: bytearray(b"y" * n),
    lambda n: memoryview(b"x" * n),
    lambda n: memoryview(b"w" * (2 * n))[::2],  # not contiguous
    lambda n: array.array("B", b"v" * n),
    lambda n: array.array("H", b"uu" * (n // 2)) if n % 2 == 0 else array.array("H"),
    lambda n: memoryview(bytes(range(n % 256)) * 1),
    lambda n: b"t" * (n + 1),
    lambda n: b"s" * max(n - 1, 0),
    lambda n: "r" * n,
    lambda n: [1] * n,
    lambda n: None,
    lambda n: 5,
]


@both_backings
@pytest.mark.parametrize("mode", list(MODES))
def test_setitem_slice(tmp_path, anonymous, mode):
    slices = [slice(None), slice(2, 10), slice(10, 2), slice(-5, None), slice(None, None, 2),
              slice(None, None, -1), slice(1, 20, 3), slice(20, 1, -3), slice(-1, -10, -2),
              slice(0, 0), slice(N, N + 5), slice(HUGE, -HUGE, -1), slice(-HUGE, HUGE, 7),
              slice(0, 10, 0), slice(Index(1), Index(5)), slice("a", 3)]

    def scenario(mod, m, step):
        for s in slices:
            n = len(range(*s.indices(N))) if all(
                isinstance(x, (int, type(None))) for x in (s.start, s.stop, s.step)) and s.step != 0 else 2
            for make in SLICE_VALUES:
                step(operator.setitem, m, s, make(n))
                step(lambda: m[:])

    run(scenario, tmp_path, anonymous, mode)


@both_backings
@pytest.mark.parametrize("mode", ["default", "read", "copy"])
def test_delitem(tmp_path, anonymous, mode):
    def scenario(mod, m, step):
        for item in (0, -1, N, -N - 1, HUGE, Index(1), 1.5, "a", None,
                     slice(0, 1), slice(None), slice(0, 10, 0), slice("a", 1), slice(N, N)):
            step(operator.delitem, m, item)
        step(lambda: m[:])

    run(scenario, tmp_path, anonymous, mode)


@both_backings
@pytest.mark.parametrize("mode", ["default", "read"])
def test_iteration_and_containment(tmp_path, anonymous, mode):
    def scenario(mod, m, step):
        step(list, m)
        step(lambda: list(reversed(m)))
        step(lambda: next(iter(m)))
        step(lambda: [x for x, _ in zip(m, range(3))])
        for needle in (b"h", b"\x00", b"\xff", b"Q", b"", b"he", bytearray(b"h"), memoryview(b"h"),
                       104, "h", None, [104], (104,), b"hello"):
            step(operator.contains, m, needle)
        # No arithmetic or ordering.  The messages name the type by its C
        # tp_name ('mmap.mmap'), which a class written in Python cannot
        # have: compare the exception types only.
        step(lambda: m + m, message=False)
        step(lambda: m + b"x", message=False)
        step(lambda: m * 2, message=False)
        step(lambda: 2 * m, message=False)
        step(lambda: -m, message=False)
        step(lambda: m < m, message=False)
        step(lambda: m == m)
        step(lambda: m != m)
        step(lambda: m == DATA)
        step(lambda: hash(m) == hash(m))
        step(lambda: type(hash(m)).__name__)
        step(lambda: bool(m))
        step(lambda: weakref.ref(m)() is m)
        step(pickle.dumps, m)
        step(pickle.dumps, m, 0)
        step(copy.copy, m)
        step(copy.deepcopy, m)
        step(lambda: m.__reduce_ex__(2))
        step(lambda: bytes(m) == DATA)  # the buffer protocol
        step(lambda: memoryview(m).tobytes() == DATA)
        step(lambda: len(list(m)) == N)

    run(scenario, tmp_path, anonymous, mode)


def test_iteration_of_a_closed_map(tmp_path):
    def scenario(mod, m, step):
        it = iter(m)
        step(next, it)
        rev = reversed(m)
        step(next, rev)
        step(m.close)
        step(list, m)
        step(next, it)
        step(next, rev)
        step(operator.contains, m, b"h")

    run(scenario, tmp_path)


# --- the file protocol ------------------------------------------------------------------


@both_backings
@pytest.mark.parametrize("mode", list(MODES))
def test_read(tmp_path, anonymous, mode):
    def scenario(mod, m, step):
        step(m.read, 5)
        step(m.read, 0)
        step(m.read, -1)
        step(m.read)
        step(m.seek, 3, since=(3, 13), expect=3)
        step(m.read, None)
        step(m.seek, 3, since=(3, 13), expect=3)
        step(m.read, -HUGE // HUGE)
        step(m.seek, 10, since=(3, 13), expect=10)
        step(m.read, BIG - 1)
        step(m.seek, 10, since=(3, 13), expect=10)
        step(m.read, N)
        step(m.seek, 0, since=(3, 13), expect=0)
        step(m.read, Index(4))
        step(m.read, True)
        for bad in (BIG, HUGE, -HUGE, 1.5, "1", b"1", [1]):
            step(m.read, bad)
        step(m.read, 1, 2, message=False)
        step(m.seek, 0, 2, since=(3, 13), expect=N)
        step(m.read, 1)
        step(m.read)

    run(scenario, tmp_path, anonymous, mode)


@both_backings
@pytest.mark.parametrize("mode", ["default", "read", "copy"])
def test_read_byte(tmp_path, anonymous, mode):
    def scenario(mod, m, step):
        for _ in range(3):
            step(m.read_byte)
        step(m.seek, N - 1, since=(3, 13), expect=N - 1)
        step(m.read_byte)
        step(m.read_byte)
        step(m.read_byte, 1, message=False)

    run(scenario, tmp_path, anonymous, mode)


@pytest.mark.parametrize(
    "data",
    [
        DATA,
        b"",
        b"\n",
        b"\n\n\n",
        b"no newline at all",
        b"a" * 300 + b"\n" + b"b" * 1000 + b"\nshort\n" + b"c" * 5000,
        b"x" * 255 + b"\n" + b"y" * 256 + b"\n" + b"z" * 257,
        b"\r\n\r\n\r",
    ],
    ids=lambda d: repr(d[:12]),
)
@both_backings
def test_readline(tmp_path, anonymous, data):
    def scenario(mod, m, step):
        for _ in range(data.count(b"\n") + 2):
            step(m.readline)
        step(m.seek, 0, since=(3, 13), expect=0)
        step(m.readline)
        step(m.seek, 0, 2, since=(3, 13), expect=len(m))
        step(m.readline)
        step(m.readline, 1, message=False)  # arity wording varies by version

    if not data:
        # An empty file cannot be mapped; anonymous memory of one zero byte stands in.
        run(scenario, tmp_path, True, data=b"", length=1)
        return
    run(scenario, tmp_path, anonymous, data=data)


def _lines_ending_at(ends, size):
    """``size`` bytes of text whose lines end (just after a ``\\n``) at ``ends``."""
    data = bytearray(b"." * size)
    for end in ends:
        data[end - 1] = ord("\n")
    return bytes(data)


# Long lines (past readline's first 256-byte look) that end one byte before,
# at and one byte after a page boundary, and lines that end at the end of
# the map, with and without a newline there.
_P = PAGESIZE


@pytest.mark.parametrize(
    "ends, size",
    [
        ((_P - 1,), 2 * _P),
        ((_P,), 2 * _P),
        ((_P + 1,), 2 * _P),
        ((_P - 1, _P, _P + 1, 2 * _P - 1, 2 * _P, 2 * _P + 1), 3 * _P),
        ((700, _P - 1, 2 * _P + 1), 3 * _P),
        ((_P, 2 * _P), 2 * _P),  # the last line ends at the end of the map
        ((_P,), 2 * _P - 1),  # ... and one that runs to the end without a newline
        ((_P + 1,), _P + 1),  # a map one byte past a page, ending in a newline
        ((), 2 * _P),  # no newline at all: one line of two pages
    ],
    ids=lambda v: repr(v) if isinstance(v, int) else "-".join(map(str, v)) or "none",
)
@both_backings
def test_readline_across_page_boundaries(tmp_path, anonymous, ends, size):
    data = _lines_ending_at(ends, size)
    starts = sorted({0, 1, 255, 256, _P - 257, _P - 256, _P - 2, _P - 1, _P, _P + 1, size - 1}
                    & set(range(size)))

    def scenario(mod, m, step):
        for _ in range(len(ends) + 2):  # every line, then b"" at the end
            step(m.readline)
        for start in starts:
            m.seek(start)
            step(m.readline)
            step(m.readline)

    run(scenario, tmp_path, anonymous, data=data)


@both_backings
@pytest.mark.parametrize("mode", list(MODES))
def test_write(tmp_path, anonymous, mode):
    def scenario(mod, m, step):
        step(m.write, b"ABC")
        step(m.write, bytearray(b"DE"))
        step(m.write, memoryview(b"FGHI")[1:3])
        step(m.write, array.array("H", [0x4142, 0x4344]))
        step(m.write, b"")
        step(m.write, memoryview(b"abcdef")[::2])
        step(m.write, "str")
        step(m.write, 5)
        step(m.write, None)
        step(m.write, [1, 2])
        step(m.write, message=False)
        step(m.write, b"a", b"b", message=False)
        step(m.seek, -2, 2, since=(3, 13), expect=N - 2)
        step(m.write, b"xyz")
        step(m.write, b"xy")
        step(m.write, b"")
        step(m.write, b"q")
        step(m.seek, 0, since=(3, 13), expect=0)
        step(m.write, b"w" * N)
        step(m.seek, 0, since=(3, 13), expect=0)
        step(m.write, b"w" * (N + 1))
        step(lambda: m[:])

    run(scenario, tmp_path, anonymous, mode)


@both_backings
@pytest.mark.parametrize("mode", ["default", "read", "copy", "prot-read"])
def test_write_byte(tmp_path, anonymous, mode):
    def scenario(mod, m, step):
        for value in (65, 0, 255, 256, -1, -129, 127, HUGE, True, Index(66), Index(300),
                      1.5, "a", b"a", None):
            step(m.write_byte, value)
        step(m.write_byte, message=False)
        step(m.seek, -1, 2, since=(3, 13), expect=N - 1)
        step(m.write_byte, 90)
        step(m.write_byte, 91)
        step(m.write_byte, 300)
        step(lambda: m[:])

    run(scenario, tmp_path, anonymous, mode)


SEEKS = [
    (0,), (5,), (-1,), (N,), (N + 1,), (BIG,), (HUGE,), (-BIG,), (Index(3),), (True,), (1.5,), ("1",),
    (None,), (0, 0), (3, 1), (-3, 1), (N, 1), (-N, 1), (-1, 2), (0, 2), (1, 2), (-N, 2), (-N - 1, 2),
    (SSIZE_MAX, 1), (SSIZE_MAX, 2), (-SSIZE_MAX - 1, 1), (-SSIZE_MAX - 1, 2), (0, 3), (0, -1),
    (0, 2**31), (0, 2**32), (0, HUGE), (0, 1.0), (0, None), (0, Index(2)), (1, 2, 3),
]


@both_backings
@pytest.mark.parametrize("mode", ["default", "read"])
def test_seek_and_tell(tmp_path, anonymous, mode):
    def scenario(mod, m, step):
        for args in SEEKS:
            before = m.tell()
            outcome = step(m.seek, *args, since=(3, 13), message=len(args) in (1, 2))
            if PY < (3, 13) and outcome.error is None:
                # Before 3.13 seek returned None; pymmap returns the position.
                assert outcome.value in (None, m.tell()) and before is not None
            step(m.seek, 7, since=(3, 13), expect=7)
        step(m.tell)
        step(m.tell, 1, message=False)
        step(m.seek, message=False)
        step(lambda: m.seekable(), since=(3, 13), expect=True)

    run(scenario, tmp_path, anonymous, mode)


# --- searching ----------------------------------------------------------------------------

NEEDLES = [b"l", b"lo", b"hello", b"\n", b"\xff", b"tail", b"newline", b"zzz", b"", bytearray(b"o"),
           memoryview(b"line"), array.array("B", b"ab"), DATA, DATA + b"!"]
BOUNDS = [0, 1, 3, 11, -1, -5, N, N + 1, -N, -N - 1, SSIZE_MAX, -SSIZE_MAX - 1, Index(2)]


@both_backings
@pytest.mark.parametrize("method", ["find", "rfind"])
def test_find(tmp_path, anonymous, method):
    def scenario(mod, m, step):
        find = getattr(m, method)
        for needle in NEEDLES:
            step(find, needle)
            for start in BOUNDS:
                # An empty needle past the end: -1 from 3.15 on (before, the end).
                past_end = not needle and operator.index(start) > N
                step(find, needle, start, since=(3, 15) if past_end else None)
                for end in BOUNDS:
                    if needle in (b"l", b"", b"\n"):
                        # end < start with an empty needle: -1 from 3.13 on
                        # (the older stdlib answered start, or end).
                        step(find, needle, start, end, since=(3, 15) if past_end else (3, 13))
        step(m.seek, 20, since=(3, 13), expect=20)
        for needle in (b"l", b"", b"hello", b"tail"):
            step(find, needle)  # start defaults to the position
            # None bounds (newest): None for start means "from the position,
            # to the end", whatever end says.
            step(find, needle, None, since=NEWEST, expect=getattr(DATA, method)(needle, 20))
            step(find, needle, None, 5, since=NEWEST)
            step(find, needle, 0, None, since=NEWEST, expect=getattr(DATA, method)(bytes(needle)))
            step(find, needle, 25, 10, since=(3, 13))
        for bad in ("l", 108, None, [108], object()):
            step(find, bad)
        for start, end in ((1.5, 1), ("1", 1), (0, 1.5), (0, "1"), (HUGE, 1), (0, -HUGE), (BIG, 1)):
            step(find, b"l", start, end)
        for start, end in ((1.5, None), (HUGE, None)):
            step(find, b"l", start, end, since=NEWEST)
        step(find, message=False)
        step(find, b"l", 0, 1, 2, message=False)

    run(scenario, tmp_path, anonymous)


def test_find_long_haystack(tmp_path):
    data = (b"abcab" * 5000) + b"needle" + (b"xyz" * 20000) + b"needle" + b"q" * 70000

    def scenario(mod, m, step):
        for needle in (b"needle", b"q", b"qq", b"abcab" * 3, b"x" * 2, b"zq", b"cabc", b"nope"):
            step(m.find, needle, 0)
            step(m.rfind, needle, 0)
            step(m.rfind, needle, 0, len(data) - 70001)
            step(m.find, needle, 30000)

    run(scenario, tmp_path, data=data)


# --- whole-map operations ------------------------------------------------------------


@pytest.mark.parametrize("mode", list(MODES))
def test_flush_file(tmp_path, mode):
    data = DATA * (3 * PAGESIZE // N + 1)
    n = len(data)

    def scenario(mod, m, step):
        step(m.write, b"changed")
        step(m.flush)
        step(m.flush, 0)
        step(m.flush, 0, n)
        step(m.flush, 0, 0)
        step(m.flush, PAGESIZE, n - PAGESIZE)
        step(m.flush, PAGESIZE, 10)
        step(m.flush, 0, Index(5))
        # Unaligned offsets: msync(2) says EINVAL (only maps that write through
        # ever call it).
        step(m.flush, 1, 10)
        step(m.flush, 100, 0)
        for args in ((0, n + 1), (-1, 1), (0, -2), (n, 1), (n + 1, 0), (n, 0), (BIG, 0), (0, BIG),
                     (HUGE, 0), (1.5, 0), ("0",), (None,), (0, 0, 0)):
            step(m.flush, *args, message=len(args) <= 2)
        # CPython 3.14 alone took None for "to the end" (3.15 went back to -1).
        step(m.flush, 0, None, since=NEWEST, expect=TypeError)
        # Newest: the default size (and -1) is "from offset to the end".
        step(m.flush, PAGESIZE, since=NEWEST, expect=None)
        step(m.flush, PAGESIZE, -1, since=NEWEST, expect=None)
        step(m.flush, 0, -1, since=NEWEST, expect=None)

    run(scenario, tmp_path, mode=mode, data=data)


def test_flush_anonymous():
    def scenario(mod, m, step):
        step(m.flush)
        step(m.flush, 0, 10)
        step(m.flush, 0, 11)
        step(m.flush, 1, 1)

    differential(scenario, anonymous=True, length=10)


@both_backings
@pytest.mark.parametrize("mode", ["default", "read", "copy", "prot-read"])
def test_move(tmp_path, anonymous, mode):
    def scenario(mod, m, step):
        for args in ((0, 5, 5), (5, 0, 10), (3, 1, 20), (1, 3, 20), (0, 0, N), (N, 0, 0), (0, N, 0),
                     (N - 1, 0, 1), (0, N - 1, 1), (N, 0, 1), (0, N, 1), (0, 0, N + 1), (-1, 0, 1),
                     (0, -1, 1), (0, 0, -1), (BIG, 0, 0), (0, 0, HUGE), (SSIZE_MAX, 0, 1),
                     (1, SSIZE_MAX, 1), (1, 1, SSIZE_MAX), (Index(1), 0, Index(2)), (1.5, 0, 1),
                     ("1", 0, 1), (0, 0), (0, 0, 0, 0)):
            step(m.move, *args, message=len(args) == 3)
            step(lambda: m[:30])
        step(lambda: m[:])

    run(scenario, tmp_path, anonymous, mode)


@both_backings
@pytest.mark.parametrize("mode", ["default", "read"])
def test_madvise(tmp_path, anonymous, mode):
    if not hasattr(stdlib_mmap.mmap, "madvise"):
        pytest.skip("no madvise")
    MADV_NORMAL = stdlib_mmap.MADV_NORMAL
    MADV_WILLNEED = stdlib_mmap.MADV_WILLNEED

    def scenario(mod, m, step):
        for args in ((MADV_NORMAL,), (MADV_WILLNEED, 0), (MADV_NORMAL, 0, N), (MADV_NORMAL, 0, N + 100),
                     (MADV_NORMAL, 0, 0), (MADV_NORMAL, N - 1), (MADV_NORMAL, N), (MADV_NORMAL, -1),
                     (MADV_NORMAL, 0, -1), (MADV_NORMAL, 0, SSIZE_MAX), (MADV_NORMAL, 1, SSIZE_MAX),
                     (MADV_NORMAL, 1), (MADV_NORMAL, 0, HUGE), (MADV_NORMAL, HUGE), (2**31,),
                     (1.5,), ("x",), (MADV_NORMAL, Index(0), Index(5)), (MADV_NORMAL, 0, 1.5),
                     (12345,), (MADV_NORMAL, 0, 0, 0), ()):
            step(m.madvise, *args, message=1 <= len(args) <= 3)
        # Newest: a length of None means "to the end".
        step(m.madvise, MADV_NORMAL, 0, None, since=NEWEST, expect=None)
        step(m.madvise, MADV_NORMAL, None)

    run(scenario, tmp_path, anonymous, mode)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("offset", [0, PAGESIZE])
def test_resize_file(tmp_path, mode, offset):
    data = bytes(i % 253 for i in range(2 * PAGESIZE + 77))

    def scenario(mod, m, step):
        step(m.size)
        step(m.seek, 0, 2, since=(3, 13), expect=len(m))
        step(m.resize, 100)
        step(len, m)
        step(m.size)
        step(lambda: m[:])
        step(m.resize, 3 * PAGESIZE)
        step(len, m)
        step(m.size)
        step(lambda: m[:20])
        step(lambda: m[-20:])
        step(m.write, b"grown")
        # resize(0) is left out on purpose: mremap(2) refuses a zero size
        # (EINVAL), but CPython truncates the file first and pymmap does not
        # (see test_mmap_crashes.test_resize_to_zero_leaves_a_usable_map).
        if OLD_WINDOWS_RESIZE:
            return  # before 3.10 a failed resize closed the map (bpo-40915)
        step(m.resize, -1)
        step(m.resize, SSIZE_MAX)
        step(m.resize, HUGE)
        step(m.resize, 1.5)
        step(m.resize, "1")
        step(m.resize, Index(PAGESIZE))
        step(len, m)
        step(m.resize, message=False)
        step(m.resize, 1, 2, message=False)

    run(scenario, tmp_path, mode=mode, data=data, offset=offset)


@both_backings
def test_resize_keeps_a_position_past_the_end(tmp_path, anonymous):
    if anonymous and OLD_WINDOWS_RESIZE:
        pytest.skip(OLD_WINDOWS_RESIZE_REASON)
    def scenario(mod, m, step):
        step(m.seek, 0, 2, since=(3, 13), expect=N)
        step(m.resize, 10)
        step(m.tell)
        step(m.read)
        step(m.read_byte)
        step(m.readline)
        step(m.write, b"")
        step(m.write, b"x")
        step(m.write_byte, 1)
        # An empty needle is not found past the end (3.15; before, at the end).
        step(m.find, b"", since=(3, 15), expect=-1)
        step(m.rfind, b"", since=(3, 15), expect=-1)
        step(m.seek, 0, 1, since=(3, 13))
        step(m.seek, 0, since=(3, 13), expect=0)

    run(scenario, tmp_path, anonymous)


def test_resize_anonymous_private_shrinks_and_grows():
    def scenario(mod, m, step):
        step(m.write, b"abcdef")
        step(m.resize, 3)
        step(lambda: m[:])
        step(m.resize, 3 * PAGESIZE)
        step(lambda: m[:6])
        step(lambda: m[-3:])

    differential(scenario, anonymous=True, length=PAGESIZE, flags=MAP_PRIVATE)


@pytest.mark.skipif(OLD_WINDOWS_RESIZE, reason=OLD_WINDOWS_RESIZE_REASON)
def test_resize_anonymous_shared_shrink():
    def scenario(mod, m, step):
        step(m.write, b"abcdef")
        step(m.resize, 3)
        step(lambda: m[:])
        step(m.size, since=NEWEST, expect=3)

    differential(scenario, anonymous=True, length=PAGESIZE)


@both_backings
@pytest.mark.parametrize("mode", ["default", "read", "copy"])
def test_size(tmp_path, anonymous, mode):
    def scenario(mod, m, step):
        # Anonymous maps: the length (3.15+); before, OSError(EBADF).
        step(m.size, since=None if not anonymous else (3, 15), expect=N)
        step(m.size, 1, message=False)

    run(scenario, tmp_path, anonymous, mode)


def test_size_follows_the_file(tmp_path):
    def scenario(mod, m, step):
        with open(os.path.join(str(tmp_path), f"twin-{mod.__name__}.bin"), "ab") as f:
            f.write(b"more")
        step(m.size)
        step(len, m)

    run(scenario, tmp_path)


# --- the context manager, close, closed, repr --------------------------------------------------


@both_backings
@pytest.mark.parametrize("mode", ["default", "read", "copy"])
def test_context_manager_and_close(tmp_path, anonymous, mode):
    def scenario(mod, m, step):
        step(lambda: m.closed)
        step(m.__enter__)
        step(m.__exit__, None, None, None)
        step(lambda: m.closed)
        step(m.close)
        step(m.close)
        step(m.__enter__)
        step(m.__exit__, None, None, None)
        step(m.__exit__, message=False)

    run(scenario, tmp_path, anonymous, mode)


def test_with_statement(tmp_path):
    def scenario(mod, m, step):
        def use():
            with m as inner:
                assert inner is m
                inner.write(b"inside")
            return m.closed

        step(use)
        step(use)

    run(scenario, tmp_path)


CLOSED_CALLS = [
    ("read", ()), ("read", (1,)), ("read_byte", ()), ("readline", ()), ("write", (b"x",)),
    ("write_byte", (1,)), ("seek", (0,)), ("tell", ()), ("find", (b"x",)), ("rfind", (b"x",)),
    ("flush", ()), ("move", (0, 0, 1)), ("resize", (10,)), ("madvise", (0,)),
    ("__len__", ()), ("__getitem__", (0,)), ("__getitem__", (slice(0, 1),)), ("__setitem__", (0, 1)),
    ("__setitem__", (slice(0, 1), b"x")), ("__delitem__", (0,)), ("__enter__", ()),
    ("resize", (-1,)), ("flush", (-1,)),
]
# Newest: the arguments are converted before the state is checked, so a bad
# one wins over "closed" (3.13 checked the state first).
CLOSED_CALLS_BAD_ARGUMENTS = [
    ("read", ("x",)), ("seek", ("x",)), ("write", ("x",)), ("find", ("x",)), ("rfind", (1,)),
    ("move", ("x", 0, 0)), ("write_byte", (300,)), ("flush", ("x",)), ("madvise", ("x",)),
    ("resize", ("x",)),
]


@both_backings
@pytest.mark.parametrize("mode", ["default", "read", "copy"])
def test_every_method_after_close(tmp_path, anonymous, mode):
    def scenario(mod, m, step):
        step(m.close)
        for name, args in CLOSED_CALLS:
            if name == "madvise" and not hasattr(stdlib_mmap.mmap, "madvise"):
                continue
            step(getattr(m, name), *args)
        for name, args in CLOSED_CALLS_BAD_ARGUMENTS:
            if name == "madvise" and not hasattr(stdlib_mmap.mmap, "madvise"):
                continue
            error = OverflowError if name == "write_byte" else TypeError
            step(getattr(m, name), *args, since=NEWEST, expect=error)
        step(len, m)
        step(list, m)
        step(lambda: m.closed)
        step(m.size)
        step(lambda: m.seekable(), since=(3, 13), expect=True)
        step(operator.contains, m, b"x")

    run(scenario, tmp_path, anonymous, mode)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("anonymous", [False, True], ids=["file", "anon"])
def test_repr(tmp_path, mode, anonymous):
    # The repr with access, length, pos and offset is new in 3.9 (3.8
    # printed the default object repr): compare with the stdlib from 3.9 on,
    # and check pymmap's format on every version.
    def scenario(mod, m, step):
        access = {ACCESS_DEFAULT: "ACCESS_DEFAULT", ACCESS_READ: "ACCESS_READ",
                  ACCESS_WRITE: "ACCESS_WRITE", ACCESS_COPY: "ACCESS_COPY"}
        kwargs = MODES[mode]
        mode_access = kwargs.get("access", ACCESS_DEFAULT)
        if "prot" in kwargs and not kwargs["prot"] & PROT_WRITE:
            mode_access = ACCESS_READ
        offset = PAGESIZE if not anonymous else 0
        step(repr, m, since=(3, 9),
             expect=f"<mmap.mmap closed=False, access={access[mode_access]}, length={len(m)}, "
                    f"pos=0, offset={offset}>")
        step(m.seek, 5, since=(3, 13), expect=5)
        step(repr, m, since=(3, 9))
        step(m.close)
        step(repr, m, since=(3, 9), expect="<mmap.mmap closed=True>")

    if anonymous:
        run(scenario, tmp_path, True, mode)
    else:
        run(scenario, tmp_path, False, mode, data=DATA * (PAGESIZE // N + 2), offset=PAGESIZE)


def test_repr_prot_write_only(tmp_path):
    # PROT_WRITE alone makes an ACCESS_WRITE map.
    def scenario(mod, m, step):
        step(repr, m, since=(3, 9),
             expect=f"<mmap.mmap closed=False, access=ACCESS_WRITE, length={N}, pos=0, offset=0>")
        step(m.write, b"abc")

    run(scenario, tmp_path, prot=PROT_WRITE)


# --- trackfd (3.13+) --------------------------------------------------------------------


@pytest.mark.skipif(PY < (3, 13), reason="the stdlib has trackfd from 3.13 on")
@pytest.mark.parametrize("mode", ["default", "read", "copy", "write"])
@both_backings
def test_trackfd_false(tmp_path, mode, anonymous):
    def scenario(mod, m, step):
        # Without a descriptor to ask: OSError(EBADF) until 3.14, ValueError
        # from 3.15 on; pymmap's SizeError is both (and keeps the errno).
        step(m.size, expect=Raises(OSError, errno=errno.EBADF), message=False)
        step(m.size, expect=Raises(ValueError), stdlib=False)
        step(m.resize, 10)
        step(m.resize, -1)
        step(lambda: m[:5])
        step(m.write, b"abc")
        step(m.flush)

    run(scenario, tmp_path, anonymous, mode, trackfd=False)


@pytest.mark.skipif(PY < (3, 13), reason="the stdlib has trackfd from 3.13 on")
@pytest.mark.parametrize("value", [True, False, 0, 1, None, "", "x", [], 2.5])
def test_trackfd_values(tmp_path, value):
    differential(lambda mod, m, step: step(lambda: m[:3]), tmp_path, data=DATA, trackfd=value)


# --- offset maps ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["default", "read", "copy"])
def test_methods_on_an_offset_map(tmp_path, mode):
    # Positions, indices and search results are relative to the map, not the file.
    data = bytes(i % 251 for i in range(2 * PAGESIZE)) + b"line one\nline two\n" + b"end"

    def scenario(mod, m, step):
        step(len, m)
        step(m.size)
        step(lambda: m[0])
        step(lambda: m[-3:])
        step(m.find, b"line")
        step(m.rfind, b"line")
        step(m.seek, PAGESIZE, since=(3, 13), expect=PAGESIZE)
        step(m.readline)
        step(m.readline)
        step(m.read)
        step(m.seek, 0, since=(3, 13), expect=0)
        step(m.write, b"offset write")
        step(m.move, 100, 0, 12)
        step(lambda: m[100:112])
        step(m.flush)
        step(m.flush, PAGESIZE, 10)
        step(repr, m, since=(3, 9))

    run(scenario, tmp_path, mode=mode, data=data, offset=PAGESIZE)


# --- the buffer protocol (on every version: see pymmap/exports.py) -------------------------


@pytest.mark.parametrize("mode", ["default", "read", "copy"])
@both_backings
def test_buffer_exports(tmp_path, mode, anonymous):
    def scenario(mod, m, step):
        view = memoryview(m)
        step(lambda: (view.readonly, view.nbytes, view.format, view[0], view[-3:].tobytes()))
        step(operator.setitem, view, 0, 65)
        step(lambda: m[0])
        step(m.close)  # an export is alive
        step(m.resize, 10)
        step(lambda: m.closed)
        part = view[2:5]
        view.release()
        step(m.close)  # the slice still holds the export
        part.release()
        step(lambda: bytes(m)[:5])
        step(lambda: memoryview(m).tobytes() == m[:])
        step(m.close)
        # Before 3.12 the error comes from the view pymmap lends from (README).
        step(memoryview, m, message=PY >= (3, 12))

    run(scenario, tmp_path, anonymous, mode)


def test_buffer_consumers(tmp_path):
    import re
    import struct

    def scenario(mod, m, step):
        step(lambda: re.search(rb"w\w+", m).group())
        step(struct.unpack_from, "<I", m, 4)
        step(struct.pack_into, "<I", m, 0, 0x41424344)
        step(lambda: m[:4])
        step(lambda: bytearray(m)[:6])
        step(lambda: b"hello" in bytes(m))
        step(lambda: DATA.find(m[:5]))

    run(scenario, tmp_path)
