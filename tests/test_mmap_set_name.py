"""``mmap.set_name`` (CPython 3.15): labelling anonymous maps in /proc/self/maps."""

import ctypes
import errno
import os

import pytest
from isolated import run_isolated

import pymmap
from pymmap._platform import backend

PR_SET_VMA = 0x53564D41  # <linux/prctl.h>
PR_SET_VMA_ANON_NAME = 0

if os.name != "posix":
    pytest.skip("set_name() labels anonymous memory in Linux's /proc/self/maps", allow_module_level=True)


def _labelled(name):
    with open("/proc/self/maps") as maps:
        return [line for line in maps if f"cpython:mmap:{name}" in line]


@pytest.mark.parametrize("flags", [pymmap.MAP_SHARED, pymmap.MAP_PRIVATE])
def test_anonymous_maps_get_the_label_where_the_kernel_can(flags):
    m = pymmap.mmap(-1, 2 * pymmap.PAGESIZE, flags=flags)
    assert m.set_name("pymmap-test") is None
    if _labelled("pymmap-test"):
        m.resize(4 * pymmap.PAGESIZE)  # the label follows a moved mapping
        assert _labelled("pymmap-test")
    # (A kernel that cannot name mappings says EINVAL: reported only in
    # development mode, as CPython 3.15 does; see the test below.)
    m.close()


def test_a_kernel_that_cannot_name_says_so_in_development_mode():
    out = run_isolated(
        """
        import errno, sys, pymmap
        assert sys.flags.dev_mode
        m = pymmap.mmap(-1, pymmap.PAGESIZE)
        try:
            m.set_name("pymmap-test")
        except OSError as exc:
            assert exc.errno == errno.EINVAL and "CONFIG_ANON_VMA_NAME" in str(exc), exc
            print("refused")
        else:
            print("labelled")
        """,
        python_options=("-X", "dev"),
    )
    probe = pymmap.mmap(-1, pymmap.PAGESIZE)
    probe.set_name("pymmap-probe")  # quiet here, outside development mode
    kernel_names = bool(_labelled("pymmap-probe"))
    probe.close()
    assert out.strip() == ("labelled" if kernel_names else "refused"), out


def test_argument_errors_come_first():
    m = pymmap.mmap(-1, 10)
    with pytest.raises(TypeError, match="set_name\\(\\) argument must be str, not bytes"):
        m.set_name(b"x")
    with pytest.raises(ValueError, match="embedded null character"):
        m.set_name("a\0b")
    with pytest.raises(ValueError, match="name is too long"):
        m.set_name("x" * 67)
    m.close()
    with pytest.raises(ValueError, match="mmap closed or invalid"):
        m.set_name("x")


def test_file_maps_cannot_be_named(open_file):
    f = open_file(b"abc")
    m = pymmap.mmap(f.fileno(), 0)
    with pytest.raises(ValueError, match="Cannot set annotation on non-anonymous mappings"):
        m.set_name("x" * 66)
    m.close()


def _prctl_calls(m, action):
    """Run ``action(m)`` under a trace; return the prctl calls as (args, name read at the pointer, err)."""
    calls = []

    def record(call):
        if call.name == "prctl":
            # The tracer runs right after the call, while the name buffer lives.
            calls.append((call.args[:4], ctypes.string_at(call.args[4]), call.err))

    with pymmap.trace(record):
        try:
            action(m)
        except OSError:
            pass
    return calls


@pytest.mark.skipif(not backend.HAS_ANON_NAME, reason="prctl(PR_SET_VMA) is Linux's")
def test_the_exact_prctl_call_is_made():
    # This kernel may refuse (EINVAL without CONFIG_ANON_VMA_NAME); the call
    # pymmap makes is the same either way.
    m = pymmap.mmap(-1, 2 * pymmap.PAGESIZE)
    address = m._region.address
    calls = _prctl_calls(m, lambda m: m.set_name("pymmap-test"))
    assert [(args, name) for args, name, _ in calls] == [
        ((PR_SET_VMA, PR_SET_VMA_ANON_NAME, address, 2 * pymmap.PAGESIZE), b"cpython:mmap:pymmap-test"),
    ]
    assert calls[0][2] in (0, errno.EINVAL)
    m.close()


@pytest.mark.skipif(not backend.HAS_ANON_NAME, reason="prctl(PR_SET_VMA) is Linux's")
def test_the_name_is_given_again_after_a_resize(monkeypatch):
    # A kernel that names mappings: a stand-in prctl that succeeds.  Where
    # resize() moves the map, the label must follow it.
    monkeypatch.setattr(backend, "_prctl", lambda *args: 0)
    m = pymmap.mmap(-1, pymmap.PAGESIZE, flags=pymmap.MAP_PRIVATE)
    m.set_name("kept")
    calls = _prctl_calls(m, lambda m: m.resize(64 * pymmap.PAGESIZE))
    assert [(args, name) for args, name, _ in calls] == [
        ((PR_SET_VMA, PR_SET_VMA_ANON_NAME, m._region.address, 64 * pymmap.PAGESIZE), b"cpython:mmap:kept"),
    ]
    m.close()
