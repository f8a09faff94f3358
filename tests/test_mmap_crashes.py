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
    out = proc.stdout.decode().replace("\r\n", "\n")  # Windows ends lines with CRLF
    err = proc.stderr.decode().replace("\r\n", "\n")
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


@pytest.mark.skipif(os.name == "nt", reason="Windows' mmap takes trackfd only from CPython 3.15, as "
                    "3.13's test_no_trackfd_parameter_on_windows requires")
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


@pytest.mark.skipif(os.name == "nt", reason="Windows refuses to cut a file while a view of it is "
                    "mapped (ERROR_USER_MAPPED_FILE): there is nothing to read past")
@pytest.mark.xfail(strict=True, reason="an ordinary map's reads past a file cut by another process "
                   "raise SIGBUS (a checked map's raise OSError: test_checked.py)")
def test_reading_after_another_process_truncates_the_file(tmp_path):
    # Every CPython dies here too: an ordinary map loads from its pages
    # directly, and nothing can turn that fault into an error.  With
    # checked=True it raises OSError (tests/test_checked.py).
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


FORK_AFTER_DONTFORK = """
    import os, sys, pymmap
    P = pymmap.PAGESIZE

    def in_a_child(check):
        # Fork; run check() in the child; return how the child ended.
        pid = os.fork()
        if pid == 0:
            try:
                os._exit(0 if check() else 1)
            finally:
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
"""


@pytest.mark.skipif(not hasattr(pymmap, "MADV_DONTFORK"), reason="MADV_DONTFORK is Linux's")
def test_a_child_forked_after_madv_dontfork_finds_zeros():
    # The stdlib's child dies with SIGSEGV on the first touch of a page
    # its parent advised MADV_DONTFORK: the page is missing from the
    # child's address space.  pymmap's child finds private zeros there,
    # and shares the rest of the map with its parent as usual.
    out = run_child(
        FORK_AFTER_DONTFORK
        + """
    m = pymmap.mmap(-1, 4 * P)
    m[:] = b"p" * (4 * P)
    m.madvise(pymmap.MADV_DONTFORK, P, 2 * P)
    view = memoryview(m) if sys.version_info >= (3, 12) else None

    def check():
        kept = m[0] == ord("p") and m[3 * P:] == b"p" * P
        zeros = m[P:3 * P] == bytes(2 * P) and m.find(b"p", P) == 3 * P
        if view is not None:
            zeros = zeros and view[P] == 0 and bytes(view[2 * P:2 * P + 8]) == bytes(8)
        m[P] = 1          # private to the child
        m[0] = ord("c")   # shared: the parent sees it
        return kept and zeros and m[P] == 1

    print(in_a_child(check), chr(m[0]), chr(m[P]))
    """
    )
    assert out == "0 c p\n"


@pytest.mark.skipif(not hasattr(pymmap, "MADV_DONTFORK"), reason="MADV_DONTFORK is Linux's")
def test_madv_dontfork_on_a_file_map_survives_resize_and_dofork_undoes_it(tmp_path):
    # mremap(2) keeps the advice on the pages it moves, even on the pages
    # it adds: a child forked after a resize still lacks them all, and
    # still finds zeros.  MADV_DOFORK
    # gives the child its parent's pages again.
    path = tmp_path / "f.bin"
    path.write_bytes(b"f" * (2 * PAGESIZE))
    out = run_child(
        FORK_AFTER_DONTFORK
        + """
    with open(sys.argv[1], "r+b") as f:
        m = pymmap.mmap(f.fileno(), 0)
    m.madvise(pymmap.MADV_DONTFORK)
    m.resize(64 * P)
    # PyPy cannot tell whether a view is held, so its resize maps afresh and
    # copies: the new mapping starts without the advice, and is inherited.
    seen = bytes(2 * P) if hasattr(sys, "getrefcount") else b"f" * (2 * P)
    print(in_a_child(lambda: m[:2 * P] == seen and m[-1] == 0 and len(m) == 64 * P))
    m.madvise(pymmap.MADV_DOFORK)
    print(in_a_child(lambda: m[:2 * P] == b"f" * (2 * P)))
    m.close()
    """,
        path,
    )
    assert out == "0\n0\n"


def test_a_map_past_the_end_of_a_block_device_is_refused(block_device):
    # fstat(2) says a disk has 0 bytes, so the C module maps any length of
    # it, and reading past the disk's end dies with SIGBUS.  pymmap asks
    # the kernel for the device's size and refuses, as for a regular file.
    out = run_child(
        """
        import os, sys, pymmap
        from pymmap._platform import backend
        fd = os.open(sys.argv[1], os.O_RDWR)
        MiB = 1 << 20
        assert os.fstat(fd).st_size == 0 and backend.device_size(fd) == MiB
        for length, offset in ((2 * MiB, 0), (MiB, pymmap.PAGESIZE), (1, 2 * MiB)):
            try:
                pymmap.mmap(fd, length, offset=offset)
            except ValueError as exc:
                print(exc)
        with pymmap.mmap(fd, MiB) as m:
            print(m[:1], m[-1:], m.find(b"x"))
            try:
                m.resize(2 * MiB)  # a disk has the size it has
            except OSError as exc:
                print("resize:", exc.errno != 0)
            print(len(m), m[-1:])
        try:
            pymmap.mmap(fd, 0)  # as in the C module: mmap(2) gets length 0
        except OSError as exc:
            print("length 0:", exc.errno == 22)
        """,
        block_device,
    )
    assert out.splitlines() == ["mmap length is greater than file size"] * 3 + [
        "b'd' b'd' -1", "resize: True", f"{1 << 20} b'd'", "length 0: True"]
