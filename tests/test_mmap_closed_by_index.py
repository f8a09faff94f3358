"""An argument whose ``__index__`` closes the map in the middle of the call.

CPython's ``test_mmap_closed_by_int_scenarios`` (gh-103987) checks a few of
these; here every method that takes an integer gets one.  The newest CPython
converts all arguments first and then finds the map closed:
``ValueError("mmap closed or invalid")``.  pymmap does the same on every
version.

The module runs in a child pytest (``in_child``, see conftest.py): were
pymmap to touch unmapped memory here, the crash would fail these tests, not
end the whole run.

The stdlib is compared from 3.13 on.  Before 3.13 it may read or write
unmapped memory and crash, so it is not run at all there.  3.13 itself still
checks the state before converting the arguments of a few methods (seek,
flush, resize, and write_byte/move on read-only maps), and then works on the
closed map; those are compared only from ``NEWEST`` on.
"""

import os

import pytest
from oracle import PY, Raises, differential, stdlib_mmap
from test_mmap_differential import NEWEST

pytestmark = pytest.mark.in_child

CLOSED = Raises(ValueError, "mmap closed or invalid")
READONLY = Raises(TypeError, "mmap can't modify a readonly memory map.")
NO_DELETION = Raises(TypeError, "mmap doesn't support item deletion")

#: name -> (operation, the value its closing __index__ returns)
CASES = {
    "m[i]": (lambda m, X: m[X()], 10),
    "m[i:j]": (lambda m, X: m[X():20], 10),
    "m[i:j:k]": (lambda m, X: m[X():20:2], 10),
    "m[j:i:-k]": (lambda m, X: m[20:X():-2], 10),
    "m[j:i:step]": (lambda m, X: m[20:10:X()], -2),
    "m[i] = v": (lambda m, X: m.__setitem__(X(), 1), 10),
    "m[0] = value": (lambda m, X: m.__setitem__(0, X()), 10),
    "m[i:j] = b": (lambda m, X: m.__setitem__(slice(X(), 20), b"1" * 10), 10),
    "m[i:j:k] = b": (lambda m, X: m.__setitem__(slice(X(), 20, 2), b"1" * 5), 10),
    "m[j:i:-k] = b": (lambda m, X: m.__setitem__(slice(20, X(), -2), b"1" * 5), 10),
    "del m[i]": (lambda m, X: m.__delitem__(X()), 10),
    "read(n)": (lambda m, X: m.read(X()), 10),
    "find(s, start)": (lambda m, X: m.find(b"1", X()), 10),
    "find(s, 1, end)": (lambda m, X: m.find(b"1", 1, X()), 10),
    "rfind(s, start)": (lambda m, X: m.rfind(b"1", X()), 10),
    "rfind(s, 1, end)": (lambda m, X: m.rfind(b"1", 1, X()), 10),
    "seek(pos)": (lambda m, X: m.seek(X()), 10),
    "seek(0, whence)": (lambda m, X: m.seek(0, X()), 0),
    "write_byte(b)": (lambda m, X: m.write_byte(X()), 10),
    "move(dest, 0, 1)": (lambda m, X: m.move(X(), 0, 1), 10),
    "move(0, src, 1)": (lambda m, X: m.move(0, X(), 1), 10),
    "move(1, 2, count)": (lambda m, X: m.move(1, 2, X()), 10),
    "flush(offset)": (lambda m, X: m.flush(X()), 0),
    "flush(0, size)": (lambda m, X: m.flush(0, X()), 10),
    "resize(n)": (lambda m, X: m.resize(X()), 10),
    "madvise(option)": (lambda m, X: m.madvise(X()), 0),
    "madvise(0, start)": (lambda m, X: m.madvise(0, X()), 0),
    "madvise(0, 0, length)": (lambda m, X: m.madvise(0, 0, X()), 10),
}

ACCESS = {
    "default": stdlib_mmap.ACCESS_DEFAULT,
    "read": stdlib_mmap.ACCESS_READ,
    "write": stdlib_mmap.ACCESS_WRITE,
    "copy": stdlib_mmap.ACCESS_COPY,
}

#: Where 3.13 still checks the state before converting the arguments.
STATE_FIRST_IN_3_13 = {"seek(pos)", "seek(0, whence)", "flush(offset)", "flush(0, size)", "resize(n)"}
WRITES = {"write_byte(b)", "move(dest, 0, 1)", "move(0, src, 1)", "move(1, 2, count)"}


def newest_outcome(name, access):
    """What the newest CPython does, and so what pymmap must do."""
    readonly = access == "read"
    if name.startswith("del "):
        # Deletion is refused after the index is converted and checked.
        return READONLY if readonly else NO_DELETION
    if " = " in name and readonly:
        # Item assignment checks for a read-only map before converting.
        return READONLY
    return CLOSED


def since(name, access):
    """The first version whose stdlib behaves as the newest does."""
    if name in STATE_FIRST_IN_3_13 or (name in WRITES and access == "read"):
        return NEWEST
    return (3, 13)


@pytest.mark.parametrize("access", list(ACCESS))
@pytest.mark.parametrize("name", list(CASES))
def test_index_closes_the_map(tmp_path, name, access):
    if name.startswith("madvise") and not hasattr(stdlib_mmap.mmap, "madvise"):
        pytest.skip("no madvise")
    operation, value = CASES[name]
    first = since(name, access)

    def scenario(mod, m, step):
        class X:
            def __index__(self):
                m.close()
                return value

        # Below 3.13 the stdlib may crash here: never run it there.  Nor on
        # Windows for resize(): CPython 3.13's Windows resize uses the closed
        # map's handles (an access violation, seen under Wine's kernel32).
        stdlib = PY >= (3, 13) and not (name == "resize(n)" and os.name == "nt")
        step(operation, m, X, since=first, stdlib=stdlib, expect=newest_outcome(name, access))
        # Refused as read-only before any conversion: __index__ never ran.
        refused_first = access == "read" and (" = " in name or name.startswith("del "))
        step(lambda: m.closed, stdlib=stdlib, expect=not refused_first)

    differential(scenario, tmp_path, data=bytes(range(100)), length=100, access=ACCESS[access])


@pytest.mark.parametrize("name", ["m[i]", "m[0] = value", "read(n)", "find(s, 1, end)", "move(1, 2, count)"])
def test_index_closes_an_anonymous_map(name):
    operation, value = CASES[name]

    def scenario(mod, m, step):
        class X:
            def __index__(self):
                m.close()
                return value

        step(operation, m, X, since=(3, 13), stdlib=PY >= (3, 13), expect=CLOSED)

    differential(scenario, anonymous=True, length=100)
