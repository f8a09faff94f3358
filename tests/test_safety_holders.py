"""The objects through which pymmap reaches a map's memory keep it mapped on their own.

pymmap's safety rests on one rule (pymmap/lease.py): an address range is
unmapped only when no ctypes array over it is alive, and every object that
reaches the memory keeps such an array alive.  On PyPy the objects the hot
paths use are made over cffi's (pymmap/copying.py), which hold nothing
(``ffi.cast``, pointer arithmetic, ``ffi.buffer`` of those), as PyPy's
memoryviews hold nothing: the stand-ins that use them must hold the array
themselves.  On CPython a memoryview holds its array, and so do the views
the region hands out.

Each test keeps exactly one such object, drops the map and its region,
closes the map and runs the collector.  The range must still be mapped (a
read gives the zeros of the placeholder pages that replaced the file; on
Windows, which has no such swap, the file's own bytes: the view stays
until its last holder lets go), and must be unmapped once the object goes
too.  Were the object to hold
nothing, the collector would unmap the range and the read would die with
SIGSEGV: the module runs in a child pytest (see conftest.py).
"""

import ctypes
import gc
import sys

import pytest

import pymmap
from pymmap import copying

pytestmark = pytest.mark.in_child

P = pymmap.PAGESIZE


def _collect():
    for _ in range(4):  # PyPy frees in stages (finalizers, weak references, their callbacks)
        gc.collect()


WINDOWS = sys.platform == "win32"



def _after_close(file_byte):
    """What a holder reads from a closed map: the placeholder's zeros, or (Windows) the file's byte."""
    return file_byte if WINDOWS else 0


def _mapped(address):
    """True if ``address`` lies in some mapping of this process (/proc/self/maps; VirtualQuery)."""
    if WINDOWS:
        from pymmap._platform import win32  # (kernel32: importable on Windows only)

        info = win32.MEMORY_BASIC_INFORMATION()
        assert win32.VirtualQuery(address, ctypes.byref(info), ctypes.sizeof(info)) == ctypes.sizeof(info)
        return info.State != win32.MEM_FREE
    with open("/proc/self/maps") as maps:
        for line in maps:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if lo <= address < hi:
                return True
    return False


def _byte(value):
    """A byte read through any of the objects: an int, or a 1-byte bytes."""
    return value if isinstance(value, int) else value[0]


#: name -> (how to get the object from an open map, how to read its byte 5)
HOLDERS = {
    "the facade's cached view": (lambda m: m._view, lambda h: h[5]),
    "the facade's cached array": (lambda m: m._array, lambda h: h[5]),
    "a slice the facade's array copies": (lambda m: m._array, lambda h: h[0:8][5]),
    "the region's own array": (lambda m: m._region.array, lambda h: h[5]),
    "a new array from the region": (lambda m: m._region.new_array(), lambda h: h[5]),
}
if copying.SLOW_SLICES:
    HOLDERS.update({
        # The stand-ins, made anew, over the cffi objects that hold nothing.
        "a new FastArray": (lambda m: copying.FastArray(m._region.new_array()), lambda h: h[5]),
        "a new FastView": (lambda m: copying.FastView(m._region.view, m._region.array), lambda h: h[5]),
    })
else:
    HOLDERS.update({
        # On CPython a memoryview holds its array: the region's views do.
        "the region's view": (lambda m: m._region.view, lambda h: h[5]),
        "a slice of the region's view": (lambda m: m._region.view[P:3 * P], lambda h: h[5]),
        "a cast of the region's view": (lambda m: m._region.view.cast("I"), lambda h: h[1] & 0xFF),
        "the view the typed gate returns": (lambda m: m._region.memory_for(0, 8, False)[0], lambda h: h[5]),
        "copying.view_of(a new array)": (lambda m: copying.view_of(m._region.new_array()), lambda h: h[5]),
    })


def _open(path, access):
    with open(path, "r+b" if access != pymmap.ACCESS_READ else "rb") as f:
        return pymmap.mmap(f.fileno(), 0, access=access)


@pytest.mark.parametrize("access", [pymmap.ACCESS_WRITE, pymmap.ACCESS_READ], ids=["write", "read"])
@pytest.mark.parametrize("name", list(HOLDERS))
def test_one_holder_keeps_a_closed_map_mapped(tmp_path, name, access):
    path = tmp_path / "data.bin"
    path.write_bytes(b"\xab" * (4 * P))
    get, read = HOLDERS[name]
    m = _open(path, access)
    assert _byte(read(get(m))) == 0xAB
    lease = m._region._lease
    address = lease.address
    holder = get(m)
    m.close()
    del m
    _collect()
    # The file's pages are gone (the placeholder's zeros), the range is not.
    assert _byte(read(holder)) == _after_close(0xAB) and _mapped(address) and not lease._released
    del holder
    _collect()
    assert lease._released and not _mapped(address)


@pytest.mark.parametrize("name", list(HOLDERS))
def test_one_holder_keeps_memory_mapped_across_a_resize(tmp_path, name):
    # resize() may move the mapping; it must not unmap the old range under a holder.
    path = tmp_path / "data.bin"
    path.write_bytes(b"\xcd" * (4 * P))
    get, read = HOLDERS[name]
    m = _open(path, pymmap.ACCESS_WRITE)
    lease = m._region._lease
    holder = get(m)
    try:
        m.resize(64 * P)
        m.resize(2 * P)
    except OSError as error:
        # Windows cannot change the size of a file while a view of it is
        # mapped (ERROR_USER_MAPPED_FILE): the holder keeps the view, and
        # the map stays as it was.
        assert WINDOWS and error.winerror == 1224, error
        assert len(m) == 4 * P
    _collect()
    assert _byte(read(holder)) in (0, 0xCD) and not lease._released
    m.close()
    del holder, m
    _collect()
    assert lease._released
