"""Where the stdlib would crash: pymmap alone, in a child process.

These cases kill a stdlib ``mmap`` user with SIGBUS, so the oracle is never
run.  pymmap runs in a child interpreter, so that a crash fails one test
instead of the whole run; what it must do is asserted explicitly.

One case still crashes pymmap, as it crashes every CPython (reading a file
that another process truncated; see the README's Safety section): it is
marked ``xfail(strict=True)``, so that fixing it turns the mark into a
failure to remove.
"""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

import pymmap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGESIZE = pymmap.PAGESIZE


def run_child(code, *args):
    """Run ``code`` with pymmap in a child interpreter; return its stdout.

    A death by a signal fails the calling test with the signal's name.
    """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        env=dict(os.environ, PYTHONPATH=ROOT),
        capture_output=True,
        timeout=120,
    )
    out = proc.stdout.decode()
    err = proc.stderr.decode()
    if proc.returncode < 0:
        raise AssertionError(f"the child died with {signal.Signals(-proc.returncode).name}\n{out}{err}")
    assert proc.returncode == 0, out + err
    return out


def test_growing_a_shared_anonymous_map():
    # The stdlib (3.9-3.13.0) dies with SIGBUS reading the grown pages, and
    # the newest CPython refuses to grow (ValueError, gh-138204).  pymmap
    # grows it: the old bytes are kept and the new ones are zero.
    out = run_child(
        """
        import pymmap
        P = pymmap.PAGESIZE
        m = pymmap.mmap(-1, P)
        m[:5] = b"hello"
        m[-1] = 7
        m.resize(3 * P)
        assert len(m) == 3 * P and m.size() == 3 * P
        assert m[:5] == b"hello" and m[P - 1] == 7
        assert m[P:] == bytes(2 * P)
        m[-1] = 9
        m.resize(10)
        m.resize(2 * P)
        assert m[:5] == b"hello" and m[10:] == bytes(2 * P - 10)
        print("ok")
        """
    )
    assert out == "ok\n"


def test_trackfd_false_on_every_version(tmp_path):
    # The stdlib has trackfd from 3.13 on; pymmap on every version, with
    # 3.13's behaviour: no descriptor is kept, size() has none to ask
    # (OSError EBADF), and resize() is refused.
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100)
    with open(path, "r+b") as f:
        m = pymmap.mmap(f.fileno(), 0, trackfd=False)
    with m:
        assert m[:3] == b"xxx"
        with pytest.raises(OSError) as info:
            m.size()
        assert info.value.errno == 9  # EBADF
        with pytest.raises(ValueError, match=r"mmap can't resize with trackfd=False\."):
            m.resize(10)
        m[0] = ord("y")
    assert path.read_bytes()[:1] == b"y"
    with pymmap.mmap(-1, 10, trackfd=False) as anon:
        with pytest.raises(OSError):
            anon.size()


def test_resize_to_zero_leaves_a_usable_map(tmp_path):
    # mremap(2) refuses a zero length (EINVAL).  CPython truncates the file
    # first, so its map is left longer than the file and the next read dies
    # with SIGBUS.  pymmap refuses before touching the file: OSError, and
    # both the file and the map stay as they were.
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 64)
    run_child(
        """
        import errno, os, sys, pymmap
        with open(sys.argv[1], "r+b") as f:
            m = pymmap.mmap(f.fileno(), 0)
            try:
                m.resize(0)
            except OSError as exc:
                assert exc.errno == errno.EINVAL, exc
            else:
                raise AssertionError("resize(0) did not raise")
            assert m[:] == b"x" * 64
            assert os.path.getsize(sys.argv[1]) == 64
        """,
        path,
    )


@pytest.mark.xfail(strict=True, reason="reads past a file cut by another process raise SIGBUS")
def test_reading_after_another_process_truncates_the_file(tmp_path):
    # Every CPython dies here too.  Anything but a crash would do (an
    # OSError, or the bytes that are still backed).
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * (4 * PAGESIZE))
    run_child(
        """
        import os, sys, pymmap
        with open(sys.argv[1], "r+b") as f:
            m = pymmap.mmap(f.fileno(), 0)
            os.truncate(sys.argv[1], pymmap.PAGESIZE)
            for op in (lambda: m[-1], lambda: m[:], m.read, lambda: m.find(b"y")):
                try:
                    op()
                except OSError:
                    pass
        """,
        path,
    )
