"""``mmap.set_name`` (CPython 3.15): labelling anonymous maps in /proc/self/maps."""

import errno
import os

import pytest

import pymmap

if os.name != "posix":
    pytest.skip("set_name() labels anonymous memory in Linux's /proc/self/maps", allow_module_level=True)


def _labelled(name):
    with open("/proc/self/maps") as maps:
        return [line for line in maps if f"cpython:mmap:{name}" in line]


@pytest.mark.parametrize("flags", [pymmap.MAP_SHARED, pymmap.MAP_PRIVATE])
def test_anonymous_maps_get_the_label_or_a_clear_oserror(flags):
    m = pymmap.mmap(-1, 2 * pymmap.PAGESIZE, flags=flags)
    try:
        m.set_name("pymmap-test")
    except OSError as exc:
        # This kernel cannot name mappings: the error says why.
        assert exc.errno == errno.EINVAL
        assert "CONFIG_ANON_VMA_NAME" in str(exc)
    else:
        assert _labelled("pymmap-test")
        m.resize(4 * pymmap.PAGESIZE)  # the label follows a moved mapping
        assert _labelled("pymmap-test")
    m.close()


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
