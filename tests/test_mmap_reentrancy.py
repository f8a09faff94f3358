"""An argument whose ``__index__`` resizes the map in the middle of the call.

The conversion of an index, a slice bound or a value may run any Python
code, even ``m.resize()``, which moves the memory.  A method must then
work on the map as it is after the conversion: read the real byte, store
the value where it now belongs, and check the bounds against the new size
(CPython 3.15: gh-157335, its ``test_setitem_resize_reentrancy`` and
``test_setitem_slice_resize_reentrancy``).  An older stdlib reads or writes
the old memory here, or crashes, so it is compared only from 3.15 on; pymmap
behaves as 3.15 on every version.  The maps are file maps: 3.15 refuses to
grow a shared anonymous map, which pymmap does grow (README).

The module runs in a child pytest (``in_child``): a crash fails these
tests, not the run.
"""

import sys

import pytest
from oracle import PY, Raises, differential
from test_mmap_differential import NEWEST

import pymmap

pytestmark = pytest.mark.in_child

P = pymmap.PAGESIZE
SMALL, BIG = P, 2 * P
OUT_OF_RANGE = Raises(IndexError, "mmap index out of range")


def _resizing(m, new_size, value):
    """An object whose ``__index__`` resizes ``m`` to ``new_size`` and returns ``value``."""

    class Resize:
        def __index__(self):
            m.resize(new_size)
            return value

    return Resize()


#: name -> (starting size, operation, what it must return or raise)
CASES = {
    "m[i] after growing": (SMALL, lambda m: m[_resizing(m, BIG, 100)], 100 % 256),
    "m[i] after shrinking past i": (BIG, lambda m: m[_resizing(m, SMALL, SMALL + 5)],
                                    Raises(IndexError, "mmap index out of range")),
    "m[i] = v, v shrinks": (BIG, lambda m: m.__setitem__(0, _resizing(m, SMALL, 7)) or m[0], 7),
    "m[i] = v, v shrinks past i": (BIG, lambda m: m.__setitem__(SMALL + 5, _resizing(m, SMALL, 7)),
                                   OUT_OF_RANGE),
    "m[i] = v, i shrinks past itself": (BIG, lambda m: m.__setitem__(_resizing(m, SMALL, SMALL + 5), 7),
                                        OUT_OF_RANGE),
    # Before 3.14.8 the index is checked against the size before the value is
    # converted (pymmap follows the running version there: see
    # pymmap.facade.mmap._setitem); since, the value comes first.
    "m[i] = v, v grows": (SMALL, lambda m: m.__setitem__(SMALL + 5, _resizing(m, BIG, 9)) or m[SMALL + 5],
                          9 if sys.version_info >= (3, 14, 8) else OUT_OF_RANGE),
    "m[a:b] = data, b shrinks": (BIG, lambda m: m.__setitem__(slice(0, _resizing(m, SMALL, 2)), b"xy")
                                 or m[:3], b"xy" + bytes([2])),
    "m[a:b] = data, b grows": (SMALL, lambda m: m.__setitem__(slice(SMALL - 6, _resizing(m, BIG, SMALL + 4)),
                                                              b"z" * 10) or m[SMALL - 6:SMALL + 4], b"z" * 10),
    "m[a:b] = data, b shrinks below a": (BIG, lambda m: m.__setitem__(slice(SMALL + 2, _resizing(m, SMALL, SMALL + 4)),
                                                                      b"zz"),
                                         Raises(IndexError, "mmap slice assignment is wrong size")),
    "m[a:b] after shrinking": (BIG, lambda m: m[SMALL + 2:_resizing(m, SMALL, SMALL + 4)], b""),
    "m[a:b:k] after growing": (SMALL, lambda m: m[SMALL - 2:SMALL + 2:_resizing(m, BIG, 1)],
                               bytes([(SMALL - 2) % 256, (SMALL - 1) % 256, 0, 0])),
}


@pytest.mark.parametrize("name", list(CASES))
def test_index_resizes_the_map(tmp_path, name):
    size, operation, expected = CASES[name]

    def scenario(mod, m, step):
        # Before 3.15 the stdlib may crash here: never run it there.
        step(operation, m, since=NEWEST, stdlib=PY >= NEWEST, expect=expected)
        step(len, m, since=NEWEST, stdlib=PY >= NEWEST)

    data = bytes(i % 256 for i in range(size))
    differential(scenario, tmp_path, data=data, length=size, contents=PY >= NEWEST)
