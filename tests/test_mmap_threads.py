"""Threads: every method of a map is one step for the other threads, as in the C module.

The races themselves are in ``tests/races.py``: eight threads write, read,
readline, seek, move, flush, borrow buffers and records from one map while
another thread resizes or closes it, and each race ends with a check of
what "one step" promises (every byte written and read exactly once, no
position update lost, no read of a half-done resize, no write lost to a
mapping a resize retired).  Each runs in a child process (a crash fails the
test, not pytest), for some rounds, with a thread switch interval that
makes a GIL change hands between almost every two bytecodes.

Each race runs twice: against pymmap, and against the stdlib's ``mmap``,
which shows that the invariant is one the C module keeps.  Before the map
had a lock, these races failed on their first or second round on CPython
3.8 and free-threaded 3.14 (write, write_byte, seek, read, read_byte,
readline, resize, flush, exports; move on free-threaded 3.14 only), and
on CPython 3.13 and PyPy in read, readline, resize, flush and exports.
"""

import os
import sys

import pytest
import races
from isolated import run_isolated

HERE = os.path.dirname(os.path.abspath(__file__))
PYPY = sys.implementation.name == "pypy"
WINDOWS = os.name == "nt"

#: Rounds per race.  Every race that failed before failed within two rounds.
#: Under Wine each map costs round trips to Wine's server: fewer rounds.
ROUNDS = 10 if WINDOWS else 20
#: Thread switches: every microsecond.  PyPy hands its GIL over more slowly
#: (a contended lock then costs a whole switch interval per handover): every
#: 100 microseconds, which still failed every race above before the lock.
SWITCH_INTERVAL = 1e-4 if PYPY else 1e-6

CASES = [(name, kind) for name in races.SCENARIOS for kind in races.KINDS[name]]

#: Races the stdlib itself cannot run, with the reason.
STDLIB_CANNOT = {}
if WINDOWS and sys.version_info < (3, 10):
    # bpo-40915: before 3.10, Windows' C module could not resize paging-file
    # memory (and a failed resize closed the map).
    STDLIB_CANNOT.update({("resize", "anon"): "bpo-40915", ("exports", "anon"): "bpo-40915"})
if PYPY:
    # PyPy's own mmap dies with SIGSEGV when another thread resizes the map
    # (seen with PyPy 7.3 for Python 3.9 and PyPy 8.0 for 3.11).
    for kind in ("file", "anon"):
        for scenario in ("resize", "flush", "exports"):
            STDLIB_CANNOT[scenario, kind] = "PyPy's mmap crashes when another thread resizes it"
    if sys.version_info < (3, 10):
        # PyPy 7.3's own move() is not one step: a reader sliced a block in
        # the middle of a move, on every kind of map (anonymous twice in CI,
        # [10, 14] then [3, 14]; a private copy here, [2, 13]), a round in
        # tens.  PyPy 3.11's never did.
        for kind in races.KINDS["move"]:
            STDLIB_CANNOT["move", kind] = "PyPy 3.9's own move() let a reader see a block mid-move"


def _race(module, scenario, kind, rounds):
    code = f"""
        import sys
        sys.path.insert(0, {HERE!r})
        sys.argv[1:] = {[module, scenario, kind, str(rounds), str(SWITCH_INTERVAL)]!r}
        import races
        races.main()
        """
    out = run_isolated(code, timeout=900)
    assert out.strip() == f"ok {rounds}", out


@pytest.mark.parametrize(("scenario", "kind"), CASES)
def test_every_method_is_one_step(scenario, kind):
    _race("pymmap", scenario, kind, ROUNDS)


@pytest.mark.parametrize(("scenario", "kind"), CASES)
def test_the_stdlib_keeps_the_same_invariant(scenario, kind):
    if (scenario, kind) in STDLIB_CANNOT:
        pytest.skip(f"the stdlib cannot run it here: {STDLIB_CANNOT[scenario, kind]}")
    _race("mmap", scenario, kind, 3)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX's")
def test_a_child_forked_while_another_thread_holds_the_lock_can_use_the_map():
    # The other thread searches a large map (each search holds the map's
    # lock for milliseconds) when this one forks.  That thread does not
    # exist in the child, and would never release the lock: the child
    # gets new locks, and can use the map.  (Before it did, the child hung
    # here until the alarm killed it.)
    code = r"""
        import os, signal, threading, time, pymmap
        m = pymmap.mmap(-1, 256 << 20)
        started = threading.Event()
        def search():
            started.set()
            while True:
                m.find(b"absent!", 0)
        threading.Thread(target=search, daemon=True).start()
        started.wait()
        time.sleep(0.05)
        pid = os.fork()
        if pid == 0:
            signal.alarm(20)
            m.seek(0)
            m.write(b"child")
            os._exit(0 if m[:5] == b"child" and m.find(b"child", 0) == 0 else 1)
        _, status = os.waitpid(pid, 0)
        print(os.WIFEXITED(status) and os.WEXITSTATUS(status))
        """
    assert run_isolated(code, timeout=120).strip() == "0"
