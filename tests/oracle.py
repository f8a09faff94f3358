"""The oracle: run one scenario on ``pymmap.mmap`` and on the stdlib's ``mmap.mmap``.

This is the shared mixin of the differential tests, in the spirit of CPython's
``Lib/test/test_memoryio.py``, which runs one body of tests against the
Python and the C ``BytesIO``.  Here a *scenario* is a function
``scenario(mod, m, step)``: ``mod`` is the module under test (``pymmap`` or
the stdlib ``mmap``), ``m`` a map made by ``mod.mmap``, and ``step`` the
recorder.  Every operation of the scenario goes through ``step``::

    def scenario(mod, m, step):
        step(m.seek, 3)
        step(m.read, 2)
        step(lambda: m[1:4])

:func:`differential` runs the scenario twice, once per module, over twin
files with identical contents (or over anonymous memory), and asserts that
the two runs agree on

* the outcome of every step: the value returned, or the exception raised
  (its type, its message, and for ``OSError`` its errno),
* ``m.tell()`` after every step (or the exception ``tell`` raises),
* the contents of the file after the map is closed.

Only the tests import the stdlib ``mmap``; the library never does.

pymmap follows the newest CPython.  Where an older stdlib behaves otherwise
(or crashes), the step says so: ``since=(3, 13)`` compares with the stdlib
only from that version on, and ``expect=`` gives the newest outcome that
pymmap must produce on every version.  ``stdlib=False`` never runs the step
on the stdlib at all (use it where the stdlib would crash the process).
"""

import mmap as stdlib_mmap
import os
import re
import sys
from typing import Any, Callable, List, NamedTuple, Optional, Tuple

import pytest

import pymmap

#: The oracle is CPython's C module.  PyPy's ``mmap`` is another
#: implementation, with its own messages and edge cases (it even crashes on
#: ``move(sys.maxsize, 0, 1)``), so on PyPy the comparisons are not made:
#: pymmap follows CPython there too, which the pymmap-only tests and PyPy's
#: own ``test_mmap`` (tests/test_conformance.py) check.
ORACLE_IS_CPYTHON = sys.implementation.name == "cpython"
PYPY_ORACLE_REASON = "the oracle is CPython's mmap; PyPy's mmap is a different implementation"

assert stdlib_mmap.mmap is not pymmap.mmap, "the oracle must be the C module"

PY = sys.version_info[:2]
PAGESIZE = stdlib_mmap.PAGESIZE
assert pymmap.PAGESIZE == PAGESIZE

#: On Windows the oracle is the Windows stdlib: its constructor takes
#: ``tagname`` where POSIX takes ``flags`` and ``prot``, so a scenario that
#: passes those is about POSIX alone.
WINDOWS = os.name == "nt"
#: Before 3.10 the Windows stdlib could not resize paging-file memory, and a
#: failed resize closed the map (bpo-40915): no oracle for those scenarios.
OLD_WINDOWS_RESIZE = WINDOWS and PY < (3, 10)
OLD_WINDOWS_RESIZE_REASON = ("CPython before 3.10 cannot resize paging-file memory on Windows "
                             "(bpo-40915); pymmap's resize is checked in test_windows_differential.py")
POSIX_ARGUMENTS_REASON = "POSIX constructor arguments (flags, prot): Windows' mmap has tagname instead"

#: The two implementations, oracle first.
MODULES = (stdlib_mmap, pymmap)

_MISSING: Any = object()


class Raises(NamedTuple):
    """An expected exception: its type, and optionally its exact message and errno."""

    type: type
    message: Optional[str] = None
    errno: Optional[int] = None


class Outcome(NamedTuple):
    """What one call did: returned ``value``, or raised ``error`` (name, message, errno)."""

    value: Any = None
    error: Optional[Tuple[str, str, Optional[int]]] = None

    def __repr__(self) -> str:
        if self.error is None:
            return f"returned {self.value!r}"
        name, message, err = self.error
        extra = f" [errno {err}]" if err is not None else ""
        return f"raised {name}({message!r}){extra}"


# Messages that older stdlib versions word differently, for the same
# exception type.  The newest wording is what pymmap uses; the old one is
# rewritten to it before comparing.  Each entry is (regex, replacement).
_OLD_MESSAGES: List[Tuple[str, str]] = [
    # 3.8/3.9: the argument parser's wording for floats.
    (r"^integer argument expected, got float$", "'float' object cannot be interpreted as an integer"),
    # 3.8-3.12 on Windows: PyArg_ParseTupleAndKeywords' older wording.
    (r"^'(\w+)' is an invalid keyword argument for this function$",
     r"this function got an unexpected keyword argument '\1'"),
    # 3.8/3.9: formats i and b, for other non-integers.
    (r"^an integer is required \(got type (\w+)\)$", r"'\1' object cannot be interpreted as an integer"),
]


def _normalise_message(message: str) -> str:
    for pattern, replacement in _OLD_MESSAGES:
        message = re.sub(pattern, replacement, message)
    return message


def _record_value(value: Any) -> Any:
    """Internal: make a result comparable across the two implementations."""
    for mod in MODULES:
        if isinstance(value, mod.mmap):
            return "<the map>"
    if isinstance(value, memoryview):
        return ("memoryview", value.tobytes())
    return value


def _error_name(exc: BaseException) -> str:
    """Internal: the name an exception is compared by.

    pymmap's own exception classes derive from the built-in ones the C
    module raises (``pymmap.facade.SizeError`` is both an ``OSError`` and a
    ``ValueError``, as CPython 3.13 raises one and 3.15 the other): they are
    named by those built-in bases, ``"OSError|ValueError"``, and match
    either (see :func:`_same_error`).
    """
    kind = type(exc)
    if kind.__module__ == "builtins":
        return kind.__name__
    return "|".join(base.__name__ for base in kind.__mro__
                    if base.__module__ == "builtins" and base not in (BaseException, Exception, object)
                    and not any(issubclass(other, base) and other is not base
                                for other in kind.__mro__ if other.__module__ == "builtins"))


def _same_error(ours: str, theirs: str) -> bool:
    """Internal: True if an error named ``ours`` (see :func:`_error_name`) is one named ``theirs``."""
    return theirs in ours.split("|")


def _call(fn: Callable[..., Any], args: Tuple[Any, ...]) -> Tuple[Any, Outcome]:
    """Internal: call ``fn(*args)``; return its raw result and its :class:`Outcome`."""
    try:
        value = fn(*args)
    except Exception as exc:
        err = exc.errno if isinstance(exc, OSError) else None
        return None, Outcome(error=(_error_name(exc), _normalise_message(str(exc)), err))
    return value, Outcome(value=_record_value(value))


def outcome_of(fn: Callable[..., Any], *args: Any) -> Outcome:
    """Call ``fn(*args)`` and return what it did, as an :class:`Outcome`."""
    return _call(fn, args)[1]


def matches(outcome: Outcome, expected: Any) -> bool:
    """True if ``outcome`` is what ``expected`` describes.

    ``expected`` is an exception class (type only), a :class:`Raises`, or a
    plain value that must have been returned.
    """
    if isinstance(expected, type) and issubclass(expected, BaseException):
        expected = Raises(expected)
    if isinstance(expected, Raises):
        if outcome.error is None:
            return False
        name, message, err = outcome.error
        return (
            _same_error(name, expected.type.__name__)
            and (expected.message is None or message == expected.message)
            and (expected.errno is None or err == expected.errno)
        )
    return outcome.error is None and outcome.value == expected


class Step(NamedTuple):
    """One recorded step: where it is in the test, how to compare it, what happened."""

    where: str
    outcome: Optional[Outcome]  # None: not run (stdlib=False)
    tell: Optional[Outcome]
    compare: bool  # compare with the oracle?
    expect: Any  # what pymmap must do when not compared (or _MISSING)
    message: bool  # compare messages, or only types?


class Recorder:
    """The ``step`` callable handed to scenarios: runs and records one operation."""

    def __init__(self, mod: Any) -> None:
        self.mod = mod
        self.m: Any = None
        self.value: Any = None  # the raw result of the last step
        self.steps: List[Step] = []

    @property
    def is_stdlib(self) -> bool:
        return self.mod is stdlib_mmap

    def __call__(
        self,
        fn: Callable[..., Any],
        *args: Any,
        since: Optional[Tuple[int, int]] = None,
        expect: Any = _MISSING,
        stdlib: bool = True,
        message: bool = True,
    ) -> Outcome:
        frame = sys._getframe(1)
        where = f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"
        compare = stdlib and (since is None or since <= PY)
        if self.is_stdlib and not stdlib:
            outcome = None
        else:
            self.value, outcome = _call(fn, args)
        tell = outcome_of(self.m.tell) if self.m is not None and outcome is not None else None
        self.steps.append(Step(where, outcome, tell, compare, expect, message))
        return outcome if outcome is not None else Outcome()


class Run(NamedTuple):
    """Everything one implementation did in one scenario."""

    steps: List[Step]
    contents: Optional[bytes]


def run_scenario(
    mod: Any,
    scenario: Optional[Callable[[Any, Any, Recorder], None]],
    *,
    path: Optional[str] = None,
    data: Optional[bytes] = None,
    length: int = 0,
    open_mode: str = "r+b",
    args: Tuple[Any, ...] = (),
    ctor: Optional[Callable[..., Any]] = None,
    message: bool = True,
    **kwargs: Any,
) -> Run:
    """Run ``scenario`` on one implementation.

    With ``path``, the file is (re)written with ``data`` and opened with
    ``open_mode``; otherwise the map is anonymous (fileno -1).  The map is
    made as step 0, by ``mod.mmap(fileno, length, *args, **kwargs)`` or by
    ``ctor(mod, fileno, length, *args, **kwargs)``.  If that fails, the
    scenario is not run.  The map is closed at the end (if the scenario did
    not), then the file's contents are read back.  ``message=False``
    compares only the type of an exception the constructor raises.
    """
    step = Recorder(mod)
    f = None
    if path is not None:
        with open(path, "wb") as out:
            out.write(data or b"")
        f = open(path, open_mode)
    try:
        fileno = f.fileno() if f is not None else -1
        if ctor is None:
            made = step(lambda: mod.mmap(fileno, length, *args, **kwargs), message=message)
        else:
            made = step(lambda: ctor(mod, fileno, length, *args, **kwargs), message=message)
        if made.error is None:
            m = step.m = step.value
            try:
                if scenario is not None:
                    scenario(mod, m, step)
            finally:
                try:
                    m.close()
                except BufferError:  # a scenario left an export alive
                    pass
    finally:
        if f is not None:
            f.close()
    contents = None
    if path is not None:
        with open(path, "rb") as g:
            contents = g.read()
    return Run(step.steps, contents)


def compare_runs(oracle: Run, ours: Run, contents: bool = True) -> None:
    """Assert that pymmap's run agrees with the oracle's, step by step.

    Steps marked not to compare (``since``/``stdlib=False``) are checked
    against their ``expect`` instead, when one is given.
    """
    assert len(oracle.steps) == len(ours.steps), (oracle.steps, ours.steps)
    for i, (std, py) in enumerate(zip(oracle.steps, ours.steps)):
        label = f"step {i} at {py.where}"
        assert py.outcome is not None
        if py.expect is not _MISSING:
            assert matches(py.outcome, py.expect), (
                f"{label}: pymmap {py.outcome!r}, expected {py.expect!r}"
            )
        if py.compare:
            assert std.outcome is not None
            got, want = py.outcome, std.outcome
            if got.error is not None and want.error is not None and _same_error(got.error[0], want.error[0]):
                # One of pymmap's classes that is both: compared as the stdlib's
                # (with its errno only if the stdlib's has one).
                errno_ = got.error[2] if want.error[2] is not None else None
                got = Outcome(error=(want.error[0], got.error[1], errno_))
            if not py.message and got.error is not None and want.error is not None:
                got = Outcome(error=(got.error[0], "", got.error[2]))
                want = Outcome(error=(want.error[0], "", want.error[2]))
            assert got == want, f"{label}: pymmap {py.outcome!r}, stdlib {std.outcome!r}"
        if std.outcome is not None:
            # Even where the results differ by version, the position agrees.
            assert py.tell == std.tell, f"{label}: tell() pymmap {py.tell!r}, stdlib {std.tell!r}"
    if contents:
        assert ours.contents == oracle.contents, "file contents differ after close"


def differential(
    scenario: Optional[Callable[[Any, Any, Recorder], None]],
    tmp_path: Any = None,
    *,
    anonymous: bool = False,
    contents: bool = True,
    **options: Any,
) -> Tuple[Run, Run]:
    """Run ``scenario`` on the stdlib and on pymmap, and compare the runs.

    File-backed by default (``tmp_path`` is the directory for the twin
    files); ``anonymous=True`` maps anonymous memory; ``contents=False``
    does not compare the files afterwards (for scenarios whose writing
    steps the stdlib does not run).  ``options`` go to
    :func:`run_scenario`.  Returns both runs (oracle first).
    """
    if not ORACLE_IS_CPYTHON:
        pytest.skip(PYPY_ORACLE_REASON)
    if WINDOWS and ("flags" in options or "prot" in options
                    or any(isinstance(a, int) for a in options.get("args", ()))):
        pytest.skip(POSIX_ARGUMENTS_REASON)
    runs = []
    for mod in MODULES:
        path = None
        if not anonymous:
            path = os.path.join(str(tmp_path), f"twin-{mod.__name__}.bin")
        runs.append(run_scenario(mod, scenario, path=path, **options))
    compare_runs(runs[0], runs[1], contents)
    return runs[0], runs[1]
