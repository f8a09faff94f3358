"""Absurd arguments: each is refused with the stdlib's exception, and leaks nothing.

Every row of the tables below is one call with a nonsensical argument:
a negative, huge (beyond ``Py_ssize_t``, beyond 2**64), misaligned or
non-integer size, offset, position or count; a descriptor that is not one
(-2, a closed one, a huge one) or that cannot be mapped (a directory, a
pipe, a socket, a file opened without the access asked for).  Each row names
the outcome the newest CPython gives (the exception type, or a normal
return), and:

* pymmap must give exactly that outcome, on every interpreter;
* on CPython the stdlib ``mmap`` (the oracle) is run too, and must agree,
  which keeps the tables honest.  Rows where pymmap follows a CPython newer
  than the running one say since when the stdlib agrees (``since``); rows
  the stdlib would crash on are never run on it (``since=None``).  PyPy's
  own ``mmap`` is not CPython's, so there only pymmap runs.
* each table runs twice (the first run warms the interpreter up), the
  second inside :func:`leakcheck.no_leaks`: no descriptor, no mapping and
  no traced ``mmap``/``dup`` may be left behind, including by constructors
  that fail halfway (after duplicating the descriptor).

Calls that would crash the process in the stdlib (a map the CPU may not
read, ``resize(0)`` cutting the file under the map, ``madvise`` advice that
makes the pages fault, ``MAP_FIXED`` without an address) are at the end;
they run in a child process, so that a crash fails the test instead of
killing the run.  The last two are expected failures until the platform
layer refuses them.
"""

import contextlib
import errno
import os
import socket
import subprocess
import sys
import textwrap
import types
from fractions import Fraction
from typing import Any, Callable, Iterator, List, NamedTuple, Optional, Tuple

import pytest
from emulation import EMULATOR
from leakcheck import checked_twice

import pymmap

if os.name != "posix":
    pytest.skip("the expected errors are POSIX's (flags, prot, errno from mmap(2)); Windows' are compared with its stdlib in tests/test_windows_differential.py", allow_module_level=True)

if sys.implementation.name == "cpython":
    import mmap as stdlib_mmap

    ORACLE: Any = stdlib_mmap
else:  # PyPy's mmap module differs from CPython's, and crashes on some of these
    ORACLE = None

PY = sys.version_info[:2]
P = pymmap.PAGESIZE
L = 2 * P + 64  # the length of every map the method tables use: not a page multiple
SSIZE_MAX = sys.maxsize
SSIZE_MIN = -sys.maxsize - 1
INT_MAX = 2**31 - 1
INT_MIN = -(2**31)

ACCESS_DEFAULT = pymmap.ACCESS_DEFAULT
ACCESS_READ = pymmap.ACCESS_READ
ACCESS_WRITE = pymmap.ACCESS_WRITE
ACCESS_COPY = pymmap.ACCESS_COPY
MAP_SHARED = pymmap.MAP_SHARED
MAP_PRIVATE = pymmap.MAP_PRIVATE
PROT_READ = pymmap.PROT_READ
PROT_WRITE = pymmap.PROT_WRITE


class Index:
    """An integer only through ``__index__``, as numpy's integers are."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return f"Index({self.value})"


#: A normal return (as opposed to an exception type).
OK = "returns"

# --- the values -------------------------------------------------------------------

#: Integers that fit a Py_ssize_t but are negative.
NEGATIVE = [-1, -P - 1, INT_MIN, SSIZE_MIN]
#: Integers that fit a Py_ssize_t but are larger than any map.
LARGE = [L + 1, 2**31, 2**62, SSIZE_MAX]
#: Integers no Py_ssize_t (or off_t) can hold.
BEYOND = [2**63, SSIZE_MIN - 1, 2**64, 2**64 + 1, 2**100, -(2**100), Index(2**64)]
#: Objects that are not integers at all.
NOT_INTEGER = [1.5, "1", b"1", Fraction(1, 2), 1j, [1]]
ALL = NEGATIVE + LARGE + BEYOND + NOT_INTEGER


def _int(value: Any) -> Optional[int]:
    """The integer ``value`` stands for, or None if it is not one."""
    if isinstance(value, Index):
        return value.value
    return value if isinstance(value, int) else None


def ssize(value: Any, then: Callable[[int], Any]) -> Any:
    """Expectation for a ``Py_ssize_t`` argument: conversion errors, else ``then(value)``."""
    v = _int(value)
    if v is None:
        return TypeError
    if not SSIZE_MIN <= v <= SSIZE_MAX:
        return OverflowError
    return then(v)


def c_int(value: Any, then: Callable[[int], Any]) -> Any:
    """Expectation for a C ``int`` argument."""
    v = _int(value)
    if v is None:
        return TypeError
    if not INT_MIN <= v <= INT_MAX:
        return OverflowError
    return then(v)


def ok_if(condition: bool, otherwise: Any = ValueError) -> Any:
    return OK if condition else otherwise


# --- running one call on both implementations ----------------------------------------


def outcome(call: Callable[[], Any]) -> Tuple[Any, Optional[int], Any]:
    """Run ``call()``; return (``OK`` or the exception type, the errno, the value)."""
    try:
        value = call()
    except Exception as exc:  # recording is the point
        kind = OSError if isinstance(exc, OSError) else type(exc)
        return kind, getattr(exc, "errno", None), None
    return OK, None, value


def describe(kind: Any, err: Optional[int]) -> str:
    if kind is OK:
        return "a normal return"
    name = getattr(kind, "__name__", str(kind))
    return f"{name} [{errno.errorcode.get(err, err)}]" if err else name


def oracle_agrees(since: Optional[Tuple[int, int]]) -> bool:
    """Is the stdlib of this interpreter a reference for a row marked ``since``?"""
    return ORACLE is not None and since is not None and since <= PY


# --- the constructor --------------------------------------------------------------------


class Files:
    """The files the constructor rows map: a 3-page file, an empty one, their directory."""

    def __init__(self, root: str) -> None:
        self.dir = root
        self.data = os.path.join(root, "data.bin")
        self.empty = os.path.join(root, "empty.bin")
        with open(self.data, "wb") as f:
            f.write(bytes(range(256)) * (3 * P // 256))
        open(self.empty, "wb").close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: Any) -> Files:
    return Files(str(tmp_path_factory.mktemp("absurd")))


@contextlib.contextmanager
def descriptor(kind: str, files: Files) -> Iterator[int]:
    """Open a descriptor of the given kind for one call; close it afterwards."""
    closers: List[Callable[[], None]] = []
    if kind == "rw":
        fd = os.open(files.data, os.O_RDWR)
    elif kind == "ro":
        fd = os.open(files.data, os.O_RDONLY)
    elif kind == "wo":
        fd = os.open(files.data, os.O_WRONLY)
    elif kind == "empty":
        fd = os.open(files.empty, os.O_RDWR)
    elif kind == "path":  # O_PATH: names the file, cannot read or map it
        fd = os.open(files.data, getattr(os, "O_PATH", 0o10000000))  # PyPy 3.9 lacks the name
    elif kind == "dir":
        fd = os.open(files.dir, os.O_RDONLY)
    elif kind == "closed":
        fd = os.open(files.data, os.O_RDONLY)
        os.close(fd)
    elif kind == "pipe":
        fd, w = os.pipe()
        closers.append(lambda: os.close(w))
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        fd = s.detach()
    elif kind == "devnull":
        fd = os.open(os.devnull, os.O_RDWR)
    else:
        raise AssertionError(kind)
    if kind != "closed":
        closers.append(lambda: os.close(fd))
    try:
        yield fd
    finally:
        for close in closers:
            close()


class Fd(str):
    """A kind of descriptor for :func:`descriptor` to open (not a plain string argument)."""


class Ctor(NamedTuple):
    label: str
    fd: Any  # an Fd kind for descriptor(), or a plain value
    length: Any
    kwargs: dict
    expect: Any
    errno: Optional[int] = None
    since: Optional[Tuple[int, int]] = (3, 8)


def _ctor_rows() -> List[Ctor]:
    rows = []
    # Lengths, anonymous and of a 3-page file.
    for fd in (-1, Fd("rw")):
        where = "anon" if fd == -1 else "file"
        for v in NEGATIVE + BEYOND + NOT_INTEGER:
            expect = ssize(v, lambda v: OverflowError)  # "memory mapped length must be positive"
            rows.append(Ctor(f"{where} length={v!r}", fd, v, {}, expect))
        for v in (2**62, SSIZE_MAX):  # no address space is that large
            expect, err = (OSError, errno.ENOMEM) if fd == -1 else (ValueError, None)
            rows.append(Ctor(f"{where} length={v!r}", fd, v, {}, expect, err))
        rows.append(Ctor(f"{where} length=Index({P})", fd, Index(P), {}, OK))
    rows.append(Ctor("anon length=0", -1, 0, {}, OSError, errno.EINVAL))
    rows.append(Ctor("file length past the end", Fd("rw"), 3 * P + 1, {}, ValueError))
    # Offsets: negative, beyond off_t, misaligned, past the end of the file.
    for fd in (-1, Fd("rw")):
        where = "anon" if fd == -1 else "file"
        length = P if fd == -1 else 0
        for v in NEGATIVE + BEYOND + NOT_INTEGER:
            expect = ssize(v, lambda v: OverflowError)  # "memory mapped offset must be positive"
            rows.append(Ctor(f"{where} offset={v!r}", fd, length, {"offset": v}, expect))
        # Misaligned offsets reach mmap(2), after the descriptor was duplicated.
        for v in (1, P - 1, P + 1):
            rows.append(Ctor(f"{where} offset={v}", fd, length, {"offset": v}, OSError, errno.EINVAL))
    for v in (3 * P, 4 * P, 2**62, SSIZE_MAX - P + 1):
        rows.append(Ctor(f"file offset={v} length=0", Fd("rw"), 0, {"offset": v}, ValueError))
        rows.append(Ctor(f"file offset={v} length=P", Fd("rw"), P, {"offset": v}, ValueError))
    # Descriptors that are not, or cannot be mapped.
    for fd, err in ((-2, errno.EBADF), (INT_MIN, errno.EBADF), (INT_MAX, errno.EBADF),
                    (10**6, errno.EBADF), (Fd("closed"), errno.EBADF),
                    (Fd("path"), errno.EBADF), (Fd("dir"), errno.ENODEV),
                    (Fd("pipe"), errno.ENODEV), (Fd("socket"), errno.ENODEV),
                    (Fd("devnull"), errno.ENODEV)):
        for length in (0, P):
            for kwargs in ({}, {"access": ACCESS_READ}, {"access": ACCESS_COPY}):
                label = f"fd={fd!r} length={length} {kwargs}"
                if length == 0 and fd in ("dir", "pipe", "socket", "devnull"):
                    # Not a regular file, so no size to take: mmap(2) sees length 0.
                    rows.append(Ctor(label, fd, length, kwargs, OSError, errno.EINVAL))
                elif fd in ("dir", "pipe") and not kwargs:
                    # Opened read-only, so a shared writable map is refused first.
                    rows.append(Ctor(label, fd, length, kwargs, OSError, errno.EACCES))
                else:
                    rows.append(Ctor(label, fd, length, kwargs, OSError, err))
    for fd in (INT_MIN - 1, INT_MAX + 1, 2**63, 2**64, -(2**100)):
        rows.append(Ctor(f"fd={fd!r}", fd, P, {}, OverflowError))
    for fd in [*NOT_INTEGER, None]:
        rows.append(Ctor(f"fd={fd!r}", fd, P, {}, TypeError))
    # A file opened without the access the map asks for.
    for kind, kwargs, expect, err in (
        (Fd("ro"), {}, OSError, errno.EACCES),
        (Fd("ro"), {"access": ACCESS_WRITE}, OSError, errno.EACCES),
        (Fd("ro"), {"prot": PROT_READ | PROT_WRITE}, OSError, errno.EACCES),
        (Fd("ro"), {"prot": PROT_WRITE}, OSError, errno.EACCES),
        (Fd("ro"), {"access": ACCESS_READ}, OK, None),
        (Fd("ro"), {"access": ACCESS_COPY}, OK, None),  # private pages: the file never changes
        (Fd("ro"), {"flags": MAP_PRIVATE}, OK, None),
        (Fd("wo"), {}, OSError, errno.EACCES),
        (Fd("wo"), {"access": ACCESS_READ}, OSError, errno.EACCES),
        (Fd("wo"), {"access": ACCESS_WRITE}, OSError, errno.EACCES),
        (Fd("wo"), {"access": ACCESS_COPY}, OSError, errno.EACCES),
        (Fd("empty"), {}, ValueError, None),  # "cannot mmap an empty file"
        (Fd("empty"), {"access": ACCESS_READ}, ValueError, None),
    ):
        rows.append(Ctor(f"{kind}-file {kwargs}", kind, 0, kwargs, expect, err))
    rows.append(Ctor("empty-file length=P", Fd("empty"), P, {}, ValueError))
    # access, flags and prot.
    for v in (-1, 4, INT_MAX, INT_MIN):
        rows.append(Ctor(f"access={v}", Fd("rw"), 0, {"access": v}, ValueError))
    for v in (INT_MAX + 1, 2**63, 2**64):
        rows.append(Ctor(f"access={v}", Fd("rw"), 0, {"access": v}, OverflowError))
        rows.append(Ctor(f"flags={v}", Fd("rw"), 0, {"flags": v}, OverflowError))
        rows.append(Ctor(f"prot={v}", Fd("rw"), 0, {"prot": v}, OverflowError))
    for v in NOT_INTEGER:
        for name in ("access", "flags", "prot"):
            rows.append(Ctor(f"{name}={v!r}", Fd("rw"), 0, {name: v}, TypeError))
    for name, value in (("flags", MAP_PRIVATE), ("prot", PROT_READ)):
        rows.append(Ctor(f"access=ACCESS_WRITE and {name}", Fd("rw"), 0,
                         {"access": ACCESS_WRITE, name: value}, ValueError))
    for v in (0, -1, INT_MAX, INT_MIN):
        rows.append(Ctor(f"flags={v}", Fd("rw"), 0, {"flags": v}, OSError, errno.EINVAL))
        rows.append(Ctor(f"anon flags={v}", -1, P, {"flags": v}, OSError, errno.EINVAL))
    # MAP_SHARED | MAP_PRIVATE is MAP_SHARED_VALIDATE: fine for a file, not for memory.
    rows.append(Ctor("flags=MAP_SHARED|MAP_PRIVATE", Fd("rw"), 0, {"flags": 3}, OK))
    rows.append(Ctor("anon flags=MAP_SHARED|MAP_PRIVATE", -1, P, {"flags": 3}, OSError, errno.EINVAL))
    # The kernel ignores the bits of prot it does not know.
    for v in (-1, INT_MIN):
        rows.append(Ctor(f"prot={v}", Fd("rw"), 0, {"prot": v}, OK))
    # trackfd=False (3.13+) skips the dup; mmap(2) still checks the descriptor.
    for fd, err in ((-2, errno.EBADF), (Fd("closed"), errno.EBADF), (Fd("dir"), errno.ENODEV),
                    (Fd("pipe"), errno.ENODEV)):
        rows.append(Ctor(f"trackfd=False fd={fd!r}", fd, P,
                         {"trackfd": False, "access": ACCESS_READ}, OSError, err, since=(3, 13)))
    return rows


CTOR_ROWS = _ctor_rows()


def _make(mod: Any, row: Ctor, files: Files) -> Tuple[Any, Optional[int]]:
    """Run one constructor row on ``mod``; close the map if one was made."""
    if isinstance(row.fd, Fd):
        with descriptor(row.fd, files) as fd:
            kind, err, m = outcome(lambda: mod.mmap(fd, row.length, **row.kwargs))
    else:
        kind, err, m = outcome(lambda: mod.mmap(row.fd, row.length, **row.kwargs))
    if m is not None:
        m.close()
    return kind, err


def _check_ctor(rows: List[Ctor], files: Files) -> None:
    failures = []
    for row in rows:
        kind, err = _make(pymmap, row, files)
        std = _make(ORACLE, row, files) if oracle_agrees(row.since) else None
        # The tables hold Linux's answers: under an emulator, the stdlib on the
        # same emulated kernel is the reference (tests/emulation.py).
        expected = std if EMULATOR and std is not None else (row.expect, row.errno)
        if (kind, err) != expected:
            failures.append(f"mmap({row.label}): pymmap gave {describe(kind, err)}, "
                            f"expected {describe(*expected)}")
        elif std is not None and std != (kind, err):
            failures.append(f"mmap({row.label}): pymmap gave {describe(kind, err)}, "
                            f"the stdlib {describe(*std)}")
    assert not failures, f"{len(failures)} of {len(rows)} calls:\n" + "\n".join(failures)


def _ctor_group(label: str) -> str:
    """Internal: which test a constructor row belongs to."""
    if "trackfd" in label:
        return "trackfd"
    if label.startswith("fd="):
        return "descriptor"
    if "-file" in label:
        return "file-opened-without-access"
    if "offset" in label:
        return "offset"
    if "length" in label:
        return "length"
    return "access-flags-prot"


CTOR_GROUPS = sorted({_ctor_group(row.label) for row in CTOR_ROWS})


@pytest.mark.parametrize("group", CTOR_GROUPS)
def test_constructor(group: str, files: Files) -> None:
    rows = [row for row in CTOR_ROWS if _ctor_group(row.label) == group]
    checked_twice(lambda: _check_ctor(rows, files), watch=[files.dir],
                  what=f"mmap() with bad {group} arguments")


# --- the methods -------------------------------------------------------------------------

#: The maps the method rows run on: (backing, constructor keywords, access class).
#: The access class says which checks apply: "rw" (writable and resizable),
#: "ro" (ACCESS_READ: no writes) or "cow" (ACCESS_COPY: writes, no resize).
MODES = {
    "file-default": ("file", {}, "rw"),
    "file-write": ("file", {"access": ACCESS_WRITE}, "rw"),
    "file-read": ("file", {"access": ACCESS_READ}, "ro"),
    "file-copy": ("file", {"access": ACCESS_COPY}, "cow"),
    "file-offset": ("file", {"offset": P}, "rw"),
    "anon": ("anon", {}, "rw"),
    "anon-private": ("anon", {"flags": MAP_PRIVATE}, "rw"),
    "anon-read": ("anon", {"access": ACCESS_READ}, "ro"),
    "anon-copy": ("anon", {"access": ACCESS_COPY}, "cow"),
}

DATA = (b"abc\n" + bytes(range(256))) * (L // 260 + 1)
DATA = DATA[:L]


class Call(NamedTuple):
    label: str
    call: Callable[[Any, Any], Any]  # call(mod, m)
    #: The outcome; or {access class: outcome}; or a function of the mode giving either.
    expect: Any
    #: Compare with the stdlib from this version on (None: never; "file" or
    #: "anon": only for maps of that backing; "unless-shared-anon": except a
    #: shared anonymous map on CPython 3.14+, see _compared).
    since: Any = (3, 8)


def at_end(m: Any) -> Any:
    """Move ``m``'s position to its end; return ``m``."""
    m.seek(0, 2)
    return m


def _slice_len(s: slice) -> int:
    return len(range(*s.indices(L)))


def _method_rows() -> List[Call]:
    rows: List[Call] = []
    add = rows.append

    def write_op(ok: Any) -> Any:
        """The outcome of a write: TypeError on a read-only map, after argument checks."""
        if ok in (TypeError, OverflowError):
            return ok
        return {"rw": ok, "cow": ok, "ro": TypeError}

    for v in [*ALL, None, Index(3)]:
        r = repr(v)
        add(Call(f"seek({r})", lambda mod, m, v=v: m.seek(v),
                 ssize(v, lambda v: ok_if(0 <= v <= L))))
        add(Call(f"seek({r}, 1)", lambda mod, m, v=v: (m.seek(P), m.seek(v, 1))[1],
                 ssize(v, lambda v: ok_if(0 <= P + v <= L))))
        add(Call(f"seek({r}, 2)", lambda mod, m, v=v: m.seek(v, 2),
                 ssize(v, lambda v: ok_if(0 <= L + v <= L))))
        add(Call(f"seek(0, {r})", lambda mod, m, v=v: m.seek(0, v),
                 c_int(v, lambda v: ok_if(v in (0, 1, 2)))))
        add(Call(f"read({r})", lambda mod, m, v=v: m.read(v),
                 OK if v is None else ssize(v, lambda v: OK)))
        for name in ("find", "rfind"):
            # None: "from the position" / "to the end", as the newest CPython reads it.
            expect = OK if v is None else ssize(v, lambda v: OK)
            add(Call(f"{name}(b'abc', {r})",
                     lambda mod, m, v=v, name=name: getattr(m, name)(b"abc", v), expect,
                     since=None if v is None else (3, 8)))
            add(Call(f"{name}(b'abc', 0, {r})",
                     lambda mod, m, v=v, name=name: getattr(m, name)(b"abc", 0, v), expect,
                     since=None if v is None else (3, 8)))
        add(Call(f"move({r}, 0, 1)", lambda mod, m, v=v: m.move(v, 0, 1),
                 write_op(ssize(v, lambda v: ok_if(0 <= v <= L - 1)))))
        add(Call(f"move(0, {r}, 1)", lambda mod, m, v=v: m.move(0, v, 1),
                 write_op(ssize(v, lambda v: ok_if(0 <= v <= L - 1)))))
        add(Call(f"move(0, 0, {r})", lambda mod, m, v=v: m.move(0, 0, v),
                 write_op(ssize(v, lambda v: ok_if(0 <= v <= L)))))
        add(Call(f"move(1, 0, {r})", lambda mod, m, v=v: m.move(1, 0, v),
                 write_op(ssize(v, lambda v: ok_if(0 <= v <= L - 1)))))

        def byte(v: Any) -> Any:
            w = _int(v)
            if w is None:
                return TypeError
            return OK if 0 <= w <= 255 else OverflowError

        add(Call(f"write_byte({r})", lambda mod, m, v=v: m.write_byte(v), write_op(byte(v))))

        def index(v: Any) -> Any:
            w = _int(v)
            if w is None:
                return TypeError
            return OK if -L <= w < L else IndexError

        add(Call(f"m[{r}]", lambda mod, m, v=v: m[v], index(v)))
        add(Call(f"m[{r}] = 1", lambda mod, m, v=v: m.__setitem__(v, 1),
                 {"rw": index(v), "cow": index(v), "ro": TypeError}))

        def value(v: Any) -> Any:
            w = _int(v)
            if w is None:
                return TypeError
            if not SSIZE_MIN <= w <= SSIZE_MAX:
                return TypeError  # the C module converts with PyNumber_AsSsize_t(v, TypeError)
            return OK if 0 <= w <= 255 else ValueError

        add(Call(f"m[0] = {r}", lambda mod, m, v=v: m.__setitem__(0, v),
                 {"rw": value(v), "cow": value(v), "ro": TypeError}))

        def slice_ok(v: Any, make: Callable[[Any], slice]) -> Any:
            if v is not None and _int(v) is None:
                return TypeError  # "slice indices must be integers or None ..."
            s = make(v)
            if s.step == 0:
                return ValueError
            return OK

        for text, make in ((f"m[{r}:]", lambda v: slice(v, None)),
                           (f"m[:{r}]", lambda v: slice(None, v)),
                           (f"m[::{r}]", lambda v: slice(None, None, v))):
            add(Call(text, lambda mod, m, make=make, v=v: m[make(v)], slice_ok(v, make)))
        for text, make in ((f"m[{r}:] = b''", lambda v: slice(v, None)),
                           (f"m[::{r}] = b'ab'", lambda v: slice(None, None, v))):
            data = b"" if text.endswith("b''") else b"ab"

            def assign(v: Any, make: Callable[[Any], slice] = make, data: bytes = data) -> Any:
                kind = slice_ok(v, make)
                if kind is not OK:
                    return kind
                return OK if _slice_len(make(v)) == len(data) else IndexError

            add(Call(text, lambda mod, m, make=make, v=v, data=data: m.__setitem__(make(v), data),
                     {"rw": assign(v), "cow": assign(v), "ro": TypeError}))
        add(Call(f"madvise(MADV_NORMAL, {r})",
                 lambda mod, m, v=v: m.madvise(mod.MADV_NORMAL, v),
                 # madvise(2) itself wants a page-aligned start
                 ssize(v, lambda v: ValueError if not 0 <= v < L else ok_if(v % P == 0, OSError))))
        add(Call(f"madvise(MADV_NORMAL, 0, {r})",
                 lambda mod, m, v=v: m.madvise(mod.MADV_NORMAL, 0, v),
                 # None: "to the end", as the newest CPython reads it
                 OK if v is None else ssize(v, lambda v: ok_if(v >= 0)),
                 since=None if v is None else (3, 8)))

        def delete(v: Any) -> Any:
            # pymmap follows the running version here (CPython 3.13's own
            # tests want its order): since 3.14.8 deletion is refused once the
            # index is converted; before, an index out of range came first.
            if sys.version_info >= (3, 14, 8):
                w = _int(v)
                if w is None:
                    return TypeError
                return TypeError if SSIZE_MIN <= w <= SSIZE_MAX else IndexError
            kind = index(v)
            return TypeError if kind is OK else kind  # "mmap doesn't support item deletion"

        add(Call(f"del m[{r}]", lambda mod, m, v=v: m.__delitem__(v),
                 {"rw": delete(v), "cow": delete(v), "ro": TypeError}))

        def flush(offset: Any, size: Any) -> Any:
            o, s = _int(offset), _int(size)
            if o is None or s is None:
                return TypeError
            if not (SSIZE_MIN <= o <= SSIZE_MAX and SSIZE_MIN <= s <= SSIZE_MAX):
                return OverflowError
            if s == -1:
                s = L - o  # CPython 3.14+: -1 means "to the end"
            if s < 0 or o < 0 or L - o < s:
                return ValueError
            # Only a writable map calls msync(2), which wants an aligned offset.
            return {"rw": OSError if o % P else OK, "ro": OK, "cow": OK}

        # -1: "to the end" (3.15; before, out of range).  None: TypeError,
        # except on 3.14, which alone took None for "to the end".
        add(Call(f"flush(0, {r})", lambda mod, m, v=v: m.flush(0, v), flush(0, v),
                 since=None if _int(v) == -1 else (3, 15) if v is None else (3, 8)))
        add(Call(f"flush({r}, 1)", lambda mod, m, v=v: m.flush(v, 1), flush(v, 1)))

        def resize(v: Any) -> Callable[[str], Any]:
            def by_mode(mode: str) -> Any:
                # Conversion first, then the access check, then the range.
                kind = ssize(v, lambda v: OK)
                if kind is not OK:
                    return kind
                w = _int(v)
                if w < 0 or w > SSIZE_MAX - MODES[mode][1].get("offset", 0):
                    rw: Any = ValueError  # "new size out of range"
                elif w <= 2**31:
                    rw = OK
                else:
                    rw = OSError  # no file system, no address space takes that much
                return {"rw": rw, "ro": TypeError, "cow": TypeError}

            return by_mode

        w = _int(v)
        since: Any = "file" if w is not None and 0 <= w <= 2**31 else "unless-shared-anon"
        if w is not None and 2**30 < w <= SSIZE_MAX < 2**32:
            # In a 32-bit process a map of 1-2 GiB fits if the address space
            # has a hole that large: the stdlib grows in place (mremap), pymmap
            # may map anew, and under qemu-user only pymmap found one.
            since = None
        add(Call(f"resize({r})", lambda mod, m, v=v: m.resize(v), resize(v),
                 # Growing a shared anonymous map crashes the stdlib before
                 # 3.14 and is refused (ValueError) since; pymmap grows it.
                 # The maps that do grow are compared for files only.
                 since=since))

    # Misaligned and nonsensical option values.
    for option, expect in ((-1, OSError), (INT_MAX, OSError), (INT_MAX + 1, OverflowError),
                           (2**64, OverflowError), (1.5, TypeError), ("1", TypeError)):
        add(Call(f"madvise({option!r})", lambda mod, m, o=option: m.madvise(o), expect))
    for start in (1, P - 1, P + 1):
        add(Call(f"madvise(MADV_NORMAL, {start})",
                 lambda mod, m, s=start: m.madvise(mod.MADV_NORMAL, s), OSError))
    add(Call("madvise(MADV_NORMAL, P, SSIZE_MAX)",
             lambda mod, m: m.madvise(mod.MADV_NORMAL, P, SSIZE_MAX), OverflowError))
    for offset in (1, P - 1, P + 1):
        add(Call(f"flush({offset}, 1)", lambda mod, m, o=offset: m.flush(o, 1),
                 {"rw": OSError, "ro": OK, "cow": OK}))
    add(Call("resize(0)", lambda mod, m: m.resize(0),
             {"rw": OSError, "ro": TypeError, "cow": TypeError},
             # The stdlib cuts the file to nothing and then fails: its map is then
             # longer than its file, and the next access dies (SIGBUS).
             since="anon"))
    # Positions at and past the end.
    add(Call("read_byte() at the end", lambda mod, m: at_end(m).read_byte(), ValueError))
    add(Call("write_byte(1) at the end", lambda mod, m: at_end(m).write_byte(1),
             write_op(ValueError)))
    add(Call("write(b'x') at the end", lambda mod, m: at_end(m).write(b"x"),
             write_op(ValueError)))
    add(Call("read() at the end", lambda mod, m: at_end(m).read(), OK))
    add(Call("readline() at the end", lambda mod, m: at_end(m).readline(), OK))
    # Data that is not bytes-like, or too long.
    for data, expect in (("abc", TypeError), (None, TypeError), (3, TypeError),
                         ([1, 2, 3], TypeError), (b"\0" * (L + 1), ValueError),
                         (memoryview(b"abcd").cast("I"), OK), (bytearray(b"ab"), OK)):
        text = repr(data)[:24]
        add(Call(f"write({text})", lambda mod, m, d=data: m.write(d), write_op(expect)))
        assign = IndexError if expect is OK and len(memoryview(data).tobytes()) != 3 else expect
        if expect is ValueError:
            assign = IndexError
        add(Call(f"m[0:3] = {text}", lambda mod, m, d=data: m.__setitem__(slice(0, 3), d),
                 {"rw": assign, "cow": assign, "ro": TypeError}))
        find = TypeError if expect is TypeError else OK
        add(Call(f"find({text})", lambda mod, m, d=data: m.find(d), find))
        add(Call(f"rfind({text})", lambda mod, m, d=data: m.rfind(d), find))
    for value in (b"a", 1.0, None, "a"):
        add(Call(f"m[0] = {value!r}", lambda mod, m, v=value: m.__setitem__(0, v),
                 {"rw": TypeError, "cow": TypeError, "ro": TypeError}))
    return rows


METHOD_ROWS = _method_rows()


def _open(mod: Any, mode: str, path: str) -> Any:
    """Make a map of ``L`` bytes of DATA in the given mode (file maps over ``path``)."""
    backing, kwargs, _ = MODES[mode]
    if backing == "anon":
        m = mod.mmap(-1, L, **kwargs)
        if kwargs.get("access") != ACCESS_READ:
            m[:] = DATA
        return m
    offset = kwargs.get("offset", 0)
    with open(path, "wb") as f:
        f.write(b"\xee" * offset + DATA)
    with open(path, "r+b") as f:
        return mod.mmap(f.fileno(), 0, **kwargs)


class Run(NamedTuple):
    """What one row did to one implementation's map."""

    kind: Any
    errno: Optional[int]
    value: Any
    tell: Any
    contents: bytes


def _run_row(mod: Any, mode: str, row: Call, path: str) -> Run:
    """Run one row on a fresh map; return what it did."""
    m = _open(mod, mode, path)
    try:
        kind, _, value = outcome(lambda: row.call(mod, m))
        if row.label.startswith("seek") and PY < (3, 13):
            value = None  # seek() returns the new position since CPython 3.13
        if isinstance(value, (mod.mmap, memoryview)):
            value = "<the map>"
        tell = outcome(m.tell)[::2]
        contents = m[: L + 1]
    finally:
        m.close()
    # (The errno is not compared: a failed grow reports ENOMEM or EINVAL,
    # depending on which system call found it impossible.)
    return Run(kind, None, value, tell, contents)


def _expected(row: Call, mode: str) -> Any:
    expect = row.expect(mode) if isinstance(row.expect, types.FunctionType) else row.expect
    return expect[MODES[mode][2]] if isinstance(expect, dict) else expect


def _compared(row: Call, mode: str) -> bool:
    since = row.since
    if since in ("file", "anon"):
        return ORACLE is not None and MODES[mode][0] == since
    if since == "unless-shared-anon":
        # CPython 3.14+ refuses to grow a shared anonymous map (ValueError);
        # pymmap grows it, and fails only where the kernel does (README).
        return ORACLE is not None and not (mode == "anon" and PY >= (3, 14))
    return oracle_agrees(since)


def _check_methods(mode: str, rows: List[Call], path: str) -> None:
    failures = []
    for row in rows:
        expect = _expected(row, mode)
        ours = _run_row(pymmap, mode, row, path)
        std = _run_row(ORACLE, mode, row, path) if _compared(row, mode) else None
        if EMULATOR and std is not None:
            expect = std.kind  # (as for the constructor rows)
        if ours.kind is not expect:
            failures.append(f"{row.label}: pymmap gave {describe(ours.kind, ours.errno)}, "
                            f"expected {describe(expect, None)}")
            continue
        if std is not None and std != ours:
            failures.append(
                f"{row.label}: pymmap gave {describe(ours.kind, ours.errno)} "
                f"{ours.value!r:.40} (tell {ours.tell}), the stdlib "
                f"{describe(std.kind, std.errno)} {std.value!r:.40} (tell {std.tell})"
                + ("; the bytes differ" if std.contents != ours.contents else ""))
    assert not failures, f"{len(failures)} of {len(rows)} calls on a {mode} map:\n" + "\n".join(failures)


#: The rows, in groups small enough that a failure points somewhere.
GROUPS = {
    "seek": lambda label: label.startswith("seek"),
    "read": lambda label: label.startswith(("read", "write")),
    "find": lambda label: label.startswith(("find", "rfind")),
    "move": lambda label: label.startswith("move"),
    "index": lambda label: label.startswith(("m[", "del")),
    "madvise": lambda label: label.startswith("madvise"),
    "flush": lambda label: label.startswith("flush"),
    "resize": lambda label: label.startswith("resize"),
}


def test_groups_cover_every_row() -> None:
    for row in METHOD_ROWS:
        assert sum(match(row.label) for match in GROUPS.values()) == 1, row.label


@pytest.mark.parametrize("group", sorted(GROUPS))
@pytest.mark.parametrize("mode", sorted(MODES))
def test_methods(mode: str, group: str, tmp_path: Any) -> None:
    rows = [row for row in METHOD_ROWS if GROUPS[group](row.label)]
    path = str(tmp_path / "twin.bin")
    checked_twice(lambda: _check_methods(mode, rows, path), watch=[str(tmp_path)],
                  what=f"{group} calls on a {mode} map")


# --- calls that would crash the process: run in a child --------------------------------


def run_child(code: str) -> str:
    """Run ``code`` in a fresh interpreter; fail (naming the signal) if it crashes."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          env=dict(os.environ, PYTHONPATH=root),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode >= 0, f"the child died with signal {-proc.returncode}:\n{out}"
    assert proc.returncode == 0, out
    return out


@pytest.mark.parametrize("prot", ["0", "pymmap.PROT_EXEC", "pymmap.PROT_WRITE"])
@pytest.mark.parametrize("backing", ["anon", "file"])
def test_prot_without_read_cannot_crash(prot: str, backing: str, tmp_path: Any) -> None:
    # The stdlib maps prot=0 (PROT_NONE) as asked, and its first read dies with
    # SIGSEGV.  pymmap's map must be readable, and refuse writes unless PROT_WRITE.
    out = run_child(f"""
        import pymmap
        P = pymmap.PAGESIZE
        if {backing!r} == "anon":
            m = pymmap.mmap(-1, P, prot={prot})
        else:
            with open({str(tmp_path / 'f.bin')!r}, "w+b") as f:
                f.write(b"x" * P)
                f.flush()
                m = pymmap.mmap(f.fileno(), 0, prot={prot})
        print(m[0], m[:3], m.read(2), m.find(b"q"), m.readline()[:2])
        try:
            m[0] = 65
        except TypeError:
            print("read-only")
        else:
            print("written", m[0])
        m.close()
    """)
    first = ord("x") if backing == "file" else 0
    writable = prot == "pymmap.PROT_WRITE"
    assert out.split()[0] == str(first), out
    assert ("written 65" in out) == writable and ("read-only" in out) != writable, out


def test_resize_to_zero_leaves_the_file_alone(tmp_path: Any) -> None:
    # mmap(2) and mremap(2) refuse a length of 0.  The stdlib cuts the file to
    # `offset` bytes first, then fails, and its map outlives its file: the next
    # access dies with SIGBUS.  pymmap must fail before touching the file.
    path = str(tmp_path / "f.bin")
    out = run_child(f"""
        import os, pymmap
        P = pymmap.PAGESIZE
        with open({path!r}, "w+b") as f:
            f.write(b"y" * 3 * P)
            f.flush()
            for offset in (0, P):
                m = pymmap.mmap(f.fileno(), P, offset=offset)
                try:
                    m.resize(0)
                except OSError as exc:
                    print("OSError", exc.errno)
                print(len(m), os.fstat(f.fileno()).st_size, m[0], m[-1])
                m.close()
    """)
    assert out.split() == ["OSError", str(errno.EINVAL), str(P), str(3 * P), "121", "121"] * 2, out


def test_madvise_cannot_make_the_map_unreadable(tmp_path: Any) -> None:
    # Advice that turns the pages into guard pages (or poisons them: MADV_HWPOISON,
    # not run here, as it takes a physical page away) makes every later access
    # fault.  pymmap must refuse it, or the map must stay readable.
    run_child(f"""
        import pymmap
        P = pymmap.PAGESIZE
        with open({str(tmp_path / 'g.bin')!r}, "w+b") as f:
            f.write(b"g" * P)
            f.flush()
            for m in (pymmap.mmap(-1, P, flags=pymmap.MAP_PRIVATE), pymmap.mmap(f.fileno(), 0)):
                try:
                    m.madvise(102)  # MADV_GUARD_INSTALL
                except ValueError:
                    pass  # pymmap refuses advice that makes the pages fault
                print(m[0], m[:2])
                m.close()
    """)


def test_map_fixed_without_an_address_is_refused_cleanly() -> None:
    # The stdlib has no address argument, so MAP_FIXED means "at address 0".
    # Without CAP_SYS_RAWIO the kernel says EPERM; as root it maps page 0.
    # Either way pymmap must raise OSError and leave nothing mapped there.
    out = run_child("""
        import pymmap
        P = pymmap.PAGESIZE
        for fixed in (0x10, 0x100000):  # MAP_FIXED, MAP_FIXED_NOREPLACE
            try:
                m = pymmap.mmap(-1, P, flags=pymmap.MAP_SHARED | fixed)
            except Exception as exc:
                print("OSError" if isinstance(exc, OSError) else type(exc).__name__)
            else:
                print("mapped", len(m))
                m.close()
        with open("/proc/self/maps") as maps:
            print("page0" if any(line.startswith("00000000-") for line in maps) else "clean")
    """)
    lines = out.split()
    assert lines[-1] == "clean", out
    assert all(word == "OSError" for word in lines[:-1]), out
