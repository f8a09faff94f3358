"""Differential fuzzing: random sequences of operations, on pymmap and the stdlib at once.

A hypothesis ``RuleBasedStateMachine`` keeps two maps in lock-step: a
``pymmap.mmap`` and a stdlib ``mmap.mmap``, over twin files with the same
bytes (or both anonymous), made with the same access mode
(``ACCESS_DEFAULT``/``READ``/``WRITE``/``COPY``, or the ``flags``/``prot``
forms) and the same offset.  Each rule draws one operation — ``seek`` with
every ``whence``, ``read``/``read_byte``/``readline``, ``write``/
``write_byte``, ``find``/``rfind`` with negative and absurd bounds, indexing
and slice assignment with steps and wrong lengths, ``move``, ``flush``,
``madvise``, ``resize``, ``close`` (and mapping the files again) — and runs
it on both.  The result or the exception *type* must agree; after every
step the position, the length, the closed state and the bytes must agree;
at the end the twin files must hold the same bytes.

pymmap follows the newest CPython; where an older stdlib differs, the
machine says so and does not compare: ``seek`` returns the new position
(3.13+; before, None), ``size()`` of an anonymous map is its length (3.15+;
never compared), ``flush`` is only called in forms every version reads the
same way, empty needles are searched for only on 3.13+, and on a closed map
a bad argument may be reported before the closed map (the newest CPython
converts arguments first; older ones often checked the map first).

Some operations would crash the stdlib, so the stdlib twin never sees them.
Growing a *shared anonymous* map (its new pages have no memory behind
them: SIGBUS) is done by pymmap alone; the machine checks that the old
bytes were kept and the new ones are zero, then gives the stdlib side a
fresh twin with the same bytes and position.

``test_twins`` runs the machine in this process.  ``test_twins_in_a_child``
runs it in a child interpreter, so that a crash (a signal) fails one test
instead of killing the whole run, and there it adds the steps that pymmap
must survive but the stdlib would not: ``resize(0)`` of a file map (the
stdlib cuts the file, mremap(2) fails, and the map outlives its file:
SIGBUS; pymmap must raise ``OSError`` and leave the file alone), and maps
made with ``prot=0`` (the stdlib's first read dies with SIGSEGV; pymmap's
must behave as a ``PROT_READ`` map does).  PyPy's ``mmap`` is not CPython's
(other exception types, and crashes on some inputs), so on PyPy the machine
runs only in the child, with the stdlib twin replaced by a pymmap one: it
still checks that pymmap never crashes there and stays consistent.

The number of examples is bounded for CI (800 in-process and 400 in the
child on CPython 3.11+, 250 and 125 elsewhere).  A longer run is one command::

    PYMMAP_FUZZ_EXAMPLES=5000 python -m pytest -q tests/test_fuzz_stateful.py

(``PYMMAP_FUZZ_STEPS`` sets the number of steps per example, 50 by default.)
"""

import mmap as stdlib_mmap
import operator
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from typing import Any, Callable, Dict, List, Tuple

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import pymmap

if os.name != "posix":
    pytest.skip('the fuzzer drives the POSIX constructor (flags, prot); on Windows tests/test_windows_differential.py compares with the stdlib', allow_module_level=True)

PY = sys.version_info[:2]
CPYTHON = sys.implementation.name == "cpython"
P = pymmap.PAGESIZE

#: Set in the child of test_twins_in_a_child.
IN_CHILD = os.environ.get("PYMMAP_FUZZ_CHILD") == "1"
#: Without CPython's mmap as the oracle, the twin is a second pymmap map.
ORACLE: Any = stdlib_mmap if CPYTHON else pymmap

#: Examples per run: sized so that this file takes about 30 s on CPython 3.13
#: (older CPythons and PyPy run the machine about three times slower).
DEFAULT_EXAMPLES = 800 if CPYTHON and PY >= (3, 11) else 250
EXAMPLES = int(os.environ.get("PYMMAP_FUZZ_EXAMPLES", str(DEFAULT_EXAMPLES)))
STEPS = int(os.environ.get("PYMMAP_FUZZ_STEPS", "50"))

ACCESS_DEFAULT = pymmap.ACCESS_DEFAULT
ACCESS_READ = pymmap.ACCESS_READ
ACCESS_WRITE = pymmap.ACCESS_WRITE
ACCESS_COPY = pymmap.ACCESS_COPY

#: Every way to say how a map may be used, by name: (keywords, writable, resizable).
MODES: Dict[str, Tuple[Dict[str, int], bool, bool]] = {
    "default": ({}, True, True),
    "explicit-default": ({"access": ACCESS_DEFAULT}, True, True),
    "read": ({"access": ACCESS_READ}, False, False),
    "write": ({"access": ACCESS_WRITE}, True, True),
    "copy": ({"access": ACCESS_COPY}, True, False),
    "private": ({"flags": pymmap.MAP_PRIVATE}, True, True),
    "prot-read": ({"prot": pymmap.PROT_READ}, False, False),
}
if IN_CHILD:
    # prot=0 (PROT_NONE): the stdlib maps it as asked, and its first read dies
    # with SIGSEGV.  pymmap maps it readable; its twin is a PROT_READ map.
    MODES["prot-none"] = ({"prot": 0}, False, False)
#: What the stdlib twin is made with, where that differs.
TWIN_KWARGS = {"prot-none": {"prot": pymmap.PROT_READ}}

# --- strategies ---------------------------------------------------------------------------

#: Bytes drawn from a small alphabet, so that searches and readline find something.
ALPHABET = b"ab\n\x00"
#: Integers beyond what a Py_ssize_t holds, and the extremes of what it holds.
ABSURD = [2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 2**64, -(2**100)]

#: A position or count: somewhere in the map, near its end or its position,
#: small, near a page boundary, or absurd.  The tuples are resolved against
#: the map when the rule runs (see Twins._resolve).
where = st.one_of(
    st.tuples(st.just("in"), st.integers(0, 2**16)),
    st.tuples(st.sampled_from(["len", "pos"]), st.integers(-3, 3)),
    st.integers(-8, 8),
    st.sampled_from([P - 1, P, P + 1, 2 * P, -P, -1]),
    st.integers(-3 * P - 16, 3 * P + 16),
    st.sampled_from(ABSURD),
)
#: A position inside the map (most operations should succeed, too).
inside = st.tuples(st.just("in"), st.integers(0, 2**16))
needles = st.binary(max_size=4).map(lambda b: bytes(ALPHABET[x % 4] for x in b))
small_data = st.binary(max_size=24).map(lambda b: bytes(ALPHABET[x % 4] for x in b))
long_data = st.builds(lambda n, c: bytes([c]) * n, st.integers(0, 3 * P + 8), st.sampled_from(ALPHABET))
data = st.one_of(small_data, small_data, small_data, long_data)
steps = st.one_of(st.none(), st.sampled_from([1, 1, 2, 3, -1, -2, -5, 0, 2**63 - 1, -(2**63) + 1]))
slice_bound = st.one_of(st.none(), where)
slices = st.tuples(slice_bound, slice_bound, steps)


def _outcome(call: Callable[[], Any]) -> Tuple[str, Any]:
    """Run ``call()``: ("ok", value) or ("raised", the exception's type name)."""
    try:
        value = call()
    except Exception as exc:  # recording is the point
        return "raised", type(exc).__name__
    return "ok", value


def _build(seed: int, size: int) -> bytes:
    """The contents of a map or file: ``size`` bytes from the alphabet."""
    rng = random.Random(seed)
    return bytes(rng.choice(ALPHABET) for _ in range(size))


class Twins(RuleBasedStateMachine):
    """A pymmap map and its stdlib twin, driven by the same random operations."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="pymmap-fuzz-")
        self.paths = {"ours": os.path.join(self.dir, "ours.bin"),
                      "std": os.path.join(self.dir, "std.bin")}
        self.ours: Any = None
        self.std: Any = None
        self.backing = "anon"
        self.mode = "default"
        self.offset = 0
        self.views: List[memoryview] = []  # exported views, in (ours, stdlib) pairs

    # --- making the twins ----------------------------------------------------------------

    def _open(self, mod: Any, which: str, length: int) -> Any:
        kwargs = dict(MODES[self.mode][0])
        if mod is not pymmap:
            kwargs = TWIN_KWARGS.get(self.mode, kwargs)
        if self.backing == "anon":
            return mod.mmap(-1, length, **kwargs)
        with open(self.paths[which], "r+b") as f:
            return mod.mmap(f.fileno(), length, offset=self.offset, **kwargs)

    @initialize(backing=st.sampled_from(["file", "anon"]), mode=st.sampled_from(sorted(MODES)),
                seed=st.integers(0, 2**32), pages=st.sampled_from([0, 1, 1, 2, 2]), extra=st.integers(1, 300),
                offset_pages=st.integers(0, 2), length=st.one_of(st.just(0), st.integers(1, 3 * P)))
    def make(self, backing: str, mode: str, seed: int, pages: int, extra: int,
             offset_pages: int, length: int) -> None:
        self.backing, self.mode = backing, mode
        size = pages * P + extra
        contents = _build(seed, size)
        if backing == "file":
            self.offset = min(offset_pages, pages) * P  # always inside the file
            available = size - self.offset
            length = min(length, available)
            for path in self.paths.values():
                with open(path, "wb") as f:
                    f.write(contents)
        else:
            self.offset = 0
            length = size
        self.ours = self._open(pymmap, "ours", length)
        self.std = self._open(ORACLE, "std", length)
        if backing == "anon" and MODES[mode][1]:
            self.ours[:] = self.std[:] = contents

    @precondition(lambda self: self.ours is not None and self.ours.closed)
    @rule(mode=st.sampled_from(sorted(MODES)), length=st.one_of(st.just(0), st.integers(1, 2 * P)))
    def reopen(self, mode: str, length: int) -> None:
        """After close(): map the (same) twin files, or fresh memory, again."""
        self._reopen(mode, length)

    def _reopen(self, mode: str, length: int) -> None:
        self.mode = mode
        if self.backing == "file":
            size = os.path.getsize(self.paths["ours"])
            assert size == os.path.getsize(self.paths["std"])
            if size == 0:  # a file cut to nothing cannot be mapped: start it again
                for path in self.paths.values():
                    with open(path, "wb") as f:
                        f.write(b"ab\n" * 500)
                size = 1500
            self.offset = 0
            length = min(length, size)
        elif length == 0:
            length = 1
        self.ours = self._open(pymmap, "ours", length)
        self.std = self._open(ORACLE, "std", length)

    # --- running one operation on both --------------------------------------------------

    def _resolve(self, value: Any, room: int = 0) -> Any:
        """A drawn position: absolute; ("in", n): one where ``room`` bytes still
        fit before the end; ("len"/"pos", delta): relative to the length or
        the position now."""
        if isinstance(value, tuple):
            anchor, n = value
            ours = self.ours
            if ours.closed:
                return n
            if anchor == "in":
                return n % max(len(ours) - room + 1, 1)
            return (len(ours) if anchor == "len" else ours.tell()) + n
        return value

    def both(self, op: Callable[[Any], Any], seek: bool = False) -> Tuple[str, Any]:
        """Run ``op`` on each map; assert that they agree; return pymmap's outcome."""
        closed = self.ours.closed
        std = _outcome(lambda: op(self.std))
        ours = _outcome(lambda: op(self.ours))
        if CPYTHON and PY < (3, 15):
            if seek and PY < (3, 13) and std == ("ok", None) and ours[0] == "ok":
                std = ("ok", self.std.tell())  # seek() returns the new position since 3.13
            if closed and std == ("raised", "ValueError") and ours[1] in ("OverflowError", "TypeError"):
                # The newest CPython converts the arguments before it finds the
                # map closed; older ones often looked at the map first.
                std = ours
        assert ours == std, f"pymmap {ours!r:.200}, stdlib {std!r:.200}"
        return ours

    @invariant()
    def agree(self) -> None:
        """After every step: the same position, length, state and bytes."""
        if self.ours is None:
            return
        assert self.ours.closed == self.std.closed
        self.both(lambda m: m.tell())
        self.both(len)
        self.both(lambda m: m[:])

    def teardown(self) -> None:
        try:
            for view in self.views:
                view.release()
            for m in (self.ours, self.std):
                if m is not None:
                    m.close()
            if self.backing == "file":
                with open(self.paths["ours"], "rb") as f:
                    ours = f.read()
                with open(self.paths["std"], "rb") as f:
                    std = f.read()
                assert ours == std, "the twin files differ after close()"
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- the file protocol ---------------------------------------------------------------

    @rule(pos=where, whence=st.sampled_from([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, -1, 2**31]))
    def seek(self, pos: Any, whence: int) -> None:
        pos = self._resolve(pos)
        self.both(lambda m: m.seek(pos, whence), seek=True)

    @rule(pos=where)
    def seek_default_whence(self, pos: Any) -> None:
        pos = self._resolve(pos)
        self.both(lambda m: m.seek(pos), seek=True)

    @rule(n=st.one_of(st.none(), where))
    def read(self, n: Any) -> None:
        n = self._resolve(n)
        self.both(lambda m: m.read(n))

    @rule()
    def read_all(self) -> None:
        self.both(lambda m: m.read())

    @rule()
    def read_byte(self) -> None:
        self.both(lambda m: m.read_byte())

    @rule()
    def readline(self) -> None:
        self.both(lambda m: m.readline())

    @rule(payload=data)
    def write(self, payload: bytes) -> None:
        self.both(lambda m: m.write(payload))

    @rule(value=st.one_of(st.integers(0, 255), st.integers(0, 255), st.sampled_from([-1, 256, 2**63])))
    def write_byte(self, value: int) -> None:
        self.both(lambda m: m.write_byte(value))

    # --- searching -------------------------------------------------------------------------

    @rule(method=st.sampled_from(["find", "rfind"]), needle=needles,
          bounds=st.one_of(st.just(()), st.tuples(where), st.tuples(where, where)))
    def find(self, method: str, needle: bytes, bounds: Tuple[Any, ...]) -> None:
        args = tuple(self._resolve(b) for b in bounds)
        if not needle and (PY < (3, 13) or (PY < (3, 15) and self._past_end(args))):
            # An empty needle answers -1 with end < start since 3.13, and
            # with a start past the end since 3.15 (pymmap's answer).
            needle = b"a"
        self.both(lambda m: getattr(m, method)(needle, *args))

    def _past_end(self, args: Tuple[Any, ...]) -> bool:
        """True if a search with these bounds would start past the end of the map."""
        if self.ours.closed:
            return False
        start = args[0] if args else self.ours.tell()
        try:
            start = operator.index(start)
        except TypeError:
            return False
        return start > len(self.ours)

    @rule(byte=st.sampled_from([b"a", b"\n", b"q", b"", b"ab", bytearray(b"b")]))
    def contains(self, byte: bytes) -> None:
        self.both(lambda m: byte in m)

    # --- the sequence protocol --------------------------------------------------------------

    @rule(index=st.one_of(inside, where))
    def getitem(self, index: Any) -> None:
        index = self._resolve(index)
        self.both(lambda m: m[index])

    @rule(parts=slices)
    def getslice(self, parts: Tuple[Any, Any, Any]) -> None:
        s = slice(self._resolve(parts[0]), self._resolve(parts[1]), parts[2])
        self.both(lambda m: m[s])

    @rule(index=st.one_of(inside, where),
          value=st.one_of(st.integers(0, 255), st.integers(0, 255), st.sampled_from([-1, 256, b"a"])))
    def setitem(self, index: Any, value: Any) -> None:
        index = self._resolve(index)

        def assign(m: Any) -> None:
            m[index] = value

        self.both(assign)

    @rule(parts=slices, wrong_by=st.sampled_from([0, 0, 0, 1, -1]), fill=st.sampled_from(ALPHABET))
    def setslice(self, parts: Tuple[Any, Any, Any], wrong_by: int, fill: int) -> None:
        s = slice(self._resolve(parts[0]), self._resolve(parts[1]), parts[2])
        try:
            n = len(range(*s.indices(len(self.ours)))) if not self.ours.closed else 0
        except (ValueError, OverflowError):
            n = 1  # step 0, or a bound slice.indices() refuses: the maps must refuse too
        payload = bytes([fill]) * max(n + wrong_by, 0)

        def assign(m: Any) -> None:
            m[s] = payload

        self.both(assign)

    # --- whole-map operations -----------------------------------------------------------------

    @rule(dest=st.one_of(inside, inside, where), src=st.one_of(inside, inside, where),
          count=st.one_of(st.integers(0, 64), st.integers(0, 64), where))
    def move(self, dest: Any, src: Any, count: Any) -> None:
        count = self._resolve(count)
        room = count if isinstance(count, int) and 0 <= count < 2**63 else 0
        dest, src = self._resolve(dest, room), self._resolve(src, room)
        self.both(lambda m: m.move(dest, src, count))

    @rule(form=st.sampled_from(["none", "both"]),
          offset=st.sampled_from([0, 0, P, 2 * P, 1, P + 1, -1, 2**63]),
          size=st.one_of(st.integers(0, 3 * P), st.sampled_from([-2, -(2**63), 2**63])))
    def flush(self, form: str, offset: int, size: int) -> None:
        # Not flush(offset) alone, nor size=-1: the newest CPython reads them
        # as "to the end", older versions did not.
        if form == "none":
            self.both(lambda m: m.flush())
        else:
            self.both(lambda m: m.flush(offset, size))

    @rule(option=st.sampled_from(["MADV_NORMAL", "MADV_RANDOM", "MADV_SEQUENTIAL",
                                  "MADV_WILLNEED", "MADV_DONTNEED", "MADV_REMOVE"]),
          start=st.one_of(st.sampled_from([0, 0, 0, P, 2 * P, 1]), where),
          length=st.one_of(st.just(None), inside, where))
    def madvise(self, option: str, start: Any, length: Any) -> None:
        if not hasattr(ORACLE, option):
            return
        advice = getattr(ORACLE, option)
        start = self._resolve(start)
        if length is None:  # madvise(option, start): None itself is 3.15+
            self.both(lambda m: m.madvise(advice, start))
        else:
            length = self._resolve(length)
            self.both(lambda m: m.madvise(advice, start, length))

    @precondition(lambda self: self.backing == "file")
    @rule()
    def size(self) -> None:
        self.both(lambda m: m.size())

    @rule(newsize=st.one_of(st.integers(1, 3 * P + 9), st.sampled_from([P, 2 * P, -1, 2**63])))
    def resize(self, newsize: int) -> None:
        ours = self.ours
        grows = not ours.closed and len(ours) < newsize < 2**63
        shared_anon = self.backing == "anon" and self.mode != "private"
        if not (grows and shared_anon and MODES[self.mode][2] and not self.views):
            self.both(lambda m: m.resize(newsize))
            return
        if ours.tell() > newsize:
            return  # the stdlib's twin could not be given that position
        # Growing shared anonymous memory: the stdlib would die on the new
        # pages, so pymmap grows alone, and the stdlib side gets a fresh twin.
        before, pos = ours[:], ours.tell()
        ours.resize(newsize)
        assert len(ours) == newsize
        assert ours[: len(before)] == before, "resize() lost bytes"
        assert ours[len(before):] == bytes(newsize - len(before)), "new bytes are not zero"
        self.std.close()
        self.std = self._open(ORACLE, "std", newsize)
        self.std[:] = ours[:]
        self.std.seek(pos)

    @precondition(lambda self: self.backing == "file" and IN_CHILD)
    @rule()
    def resize_to_zero(self) -> None:
        # pymmap alone (the stdlib would cut the file and then crash): OSError,
        # and the file and the map are as they were.
        ours = self.ours
        size = os.path.getsize(self.paths["ours"])
        outcome = _outcome(lambda: ours.resize(0))
        if ours.closed:
            assert outcome == ("raised", "ValueError")
        elif self.views:
            assert outcome == ("raised", "BufferError")
        elif not MODES[self.mode][2]:
            assert outcome == ("raised", "TypeError")
        else:
            assert outcome == ("raised", "OSError")
        assert os.path.getsize(self.paths["ours"]) == size

    @rule(stay_closed=st.sampled_from([False, False, False, True]),
          mode=st.sampled_from(sorted(MODES)), length=st.one_of(st.just(0), st.integers(1, 2 * P)))
    def close(self, stay_closed: bool, mode: str, length: int) -> None:
        self.both(lambda m: m.close())  # BufferError on both while views are exported
        self.agree()
        if not stay_closed and self.ours.closed:
            # Mostly map again at once: a closed map has little left to test.
            self._reopen(mode, length)

    # --- exported buffers (the buffer protocol: 3.12+) ------------------------------------------

    @precondition(lambda self: PY >= (3, 12) and CPYTHON and len(self.views) < 4)
    @rule()
    def export(self) -> None:
        ours = _outcome(lambda: memoryview(self.ours))
        std = _outcome(lambda: memoryview(self.std))
        assert ours[0] == std[0], (ours, std)
        if ours[0] == "ok":
            assert ours[1].tobytes() == std[1].tobytes()
            assert ours[1].readonly == std[1].readonly
            self.views += [ours[1], std[1]]
        else:
            assert ours == std

    @precondition(lambda self: bool(self.views))
    @rule()
    def release(self) -> None:
        ours, std = self.views[-2:]
        del self.views[-2:]
        assert ours.tobytes() == std.tobytes()
        ours.release()
        std.release()


SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.skipif(not CPYTHON, reason="needs CPython's mmap as the oracle (see the module docstring)")
def test_twins() -> None:
    run_state_machine_as_test(Twins, settings=SETTINGS)


def test_twins_in_a_child(tmp_path: Any) -> None:
    if IN_CHILD:
        pytest.skip("already in the child")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYMMAP_FUZZ_CHILD="1", PYTHONPATH=root,
               PYMMAP_FUZZ_EXAMPLES=str(max(EXAMPLES // 2, 1)))
    child = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         "--override-ini=addopts=", f"{os.path.abspath(__file__)}::test_child_run"],
        cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=1800,
    )
    out = child.stdout.decode("utf-8", "replace")
    if child.returncode < 0:
        name = signal.Signals(-child.returncode).name
        raise AssertionError(f"the fuzzing child crashed with {name}:\n{out[-4000:]}")
    assert child.returncode == 0, out[-4000:]


def test_child_run() -> None:
    """The machine, with the pymmap-only steps that would crash the stdlib (child only)."""
    if not IN_CHILD:
        pytest.skip("run by test_twins_in_a_child")
    run_state_machine_as_test(Twins, settings=SETTINGS)
