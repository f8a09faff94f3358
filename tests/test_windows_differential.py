"""Differential tests on Windows: ``pymmap.mmap`` against the Windows stdlib's ``mmap.mmap``.

Run by the official Windows CPython under Wine's kernel32 (``.ci/windows``).
Each scenario runs on both implementations through :func:`oracle.differential`
(twin files, or the paging file), which compares every step's result or
exception (type, message, errno), ``tell()`` after it, and the file's
contents after ``close()``.  The Windows constructor takes ``tagname`` where
POSIX takes ``flags`` and ``prot``; offsets come in units of
``ALLOCATIONGRANULARITY`` (64 KiB); a map past the end of its file makes the
file longer; and a paging-file map can be resized.
"""

import os
import sys
import uuid

import pytest
from oracle import PY, Raises, compare_runs, differential, matches, run_scenario, stdlib_mmap

import pymmap

if os.name != "nt":
    pytest.skip("compares with the Windows stdlib: runs on Windows (.ci/windows, under Wine)",
                allow_module_level=True)

GRAN = stdlib_mmap.ALLOCATIONGRANULARITY
DATA = bytes(i % 251 for i in range(2 * GRAN + 1000))
#: seek() returns the new position from CPython 3.13 on (before: None).
SEEK_RETURNS = (3, 13)
#: Before 3.10 the Windows stdlib could not resize a paging-file map
#: (ERROR_INVALID_PARAMETER), and a failed resize closed the map
#: (bpo-40915); pymmap resizes it, as 3.10+ do.
RESIZES_MEMORY = (3, 10)
ACCESS = {"default": stdlib_mmap.ACCESS_DEFAULT, "read": stdlib_mmap.ACCESS_READ,
          "write": stdlib_mmap.ACCESS_WRITE, "copy": stdlib_mmap.ACCESS_COPY}


def tag(label):
    """A tagname of our own, different for each implementation's run (no sharing across them)."""
    return f"pymmap-{label}-{uuid.uuid4().hex}"


def test_module_has_the_windows_names():
    std = {n for n in dir(stdlib_mmap) if n.isupper()}
    assert std <= set(dir(pymmap))
    assert not hasattr(pymmap, "PROT_READ") and not hasattr(pymmap, "MAP_SHARED")
    for name in std:
        assert getattr(pymmap, name) == getattr(stdlib_mmap, name), name
    assert pymmap.ALLOCATIONGRANULARITY == 65536 and hasattr(pymmap.mmap, "madvise") is False


#: What the newest CPython raises where 3.8's Windows mmap differs: it parsed
#: the tagname with the other arguments (``TypeError: argument 3 must be str
#: or None``, before the access check), and took no ``trackfd``.  pymmap
#: follows the newest; on 3.13+ these are compared with the stdlib.
NEWEST = {
    "tagname-int": Raises(TypeError, "expected str or None for 'tagname', not int"),
    "tagname-bytes": Raises(TypeError, "expected str or None for 'tagname', not bytes"),
    "tagname-int-bad-access": Raises(ValueError, "mmap invalid access parameter."),
    "trackfd": Raises(TypeError, "this function got an unexpected keyword argument 'trackfd'"),
}


@pytest.mark.parametrize(
    "length, kwargs, newest",
    [
        (0, {}, None), (10, {}, None), (len(DATA), {}, None),
        (len(DATA) + 5000, {}, None),  # grows the file
        (len(DATA) + 5000, {"access": 1}, None),  # cannot grow a read-only map's file
        (len(DATA) + 5000, {"access": 3}, None),
        (0, {"offset": GRAN}, None), (100, {"offset": GRAN}, None), (0, {"offset": 2 * GRAN}, None),
        (0, {"offset": 3 * GRAN}, None), (10, {"offset": 4096}, None), (0, {"offset": 1}, None),
        (0, {"offset": -1}, None), (-1, {}, None), (2**63, {}, None), (1.5, {}, None),
        (0, {"offset": 2**63}, None), (0, {"offset": -(2**63) - 1}, None), (0, {"offset": 2**64}, None),
        (0, {"access": 4}, None), (-1, {"access": 4}, None), (0, {"access": None}, None),
        (0, {"tagname": None}, None), (0, {"tagname": ""}, None), (0, {"tagname": 5}, "tagname-int"),
        (0, {"tagname": b"x"}, "tagname-bytes"), (0, {"tagname": "a\0b"}, None),
        (0, {"tagname": 5, "access": 9}, "tagname-int-bad-access"),
        (0, {"flags": 1}, None), (0, {"bogus": 1}, None), (0, {"trackfd": False}, "trackfd"),
    ],
)
def test_constructor_file(tmp_path, length, kwargs, newest):
    def make(mod, fileno, length, **kw):
        return mod.mmap(fileno, length, **kwargs)

    def scenario(mod, m, step):
        step(len, m)
        step(lambda: m[:20])
        step(lambda: m[-20:])
        step(m.size)

    if newest is not None and PY < (3, 13):
        path = str(tmp_path / "newest.bin")
        made = run_scenario(pymmap, None, path=path, data=DATA, length=length, ctor=make)
        assert matches(made.steps[0].outcome, NEWEST[newest]), made.steps[0].outcome
        return
    differential(scenario, tmp_path, data=DATA, length=length, ctor=make)


@pytest.mark.parametrize(
    "args",
    [(), (-1,), (-1, 10, None, 0, 0, 1), (-1, 10, None)],
)
def test_constructor_signature(args):
    def make(mod, _fileno, _length, **kw):
        if len(args) == 3:
            return mod.mmap(*args, tagname=None)  # by name and by position
        return mod.mmap(*args)

    differential(None, anonymous=True, ctor=make)


@pytest.mark.parametrize("fileno", [-2, 98765, -(2**31), 2**31 - 1, 2**31])
@pytest.mark.parametrize("tagname", [None, b"x", "a\0b"])
def test_constructor_bad_descriptor_comes_before_the_tagname(fileno, tagname):
    def make(mod, _fileno, _length, **kw):
        return mod.mmap(fileno, 10, tagname=tagname)

    if tagname is not None and PY < (3, 13):
        pytest.skip("before 3.13 the tagname was converted first (pymmap follows the newest)")
    differential(None, anonymous=True, ctor=make)


@pytest.mark.parametrize("length", [1, 10, 4096, GRAN + 1, 0])
@pytest.mark.parametrize("fileno", [-1, 0])
def test_paging_file_maps(length, fileno):
    def make(mod, _fileno, length, **kw):
        return mod.mmap(fileno, length)

    def scenario(mod, m, step):
        step(len, m)
        step(lambda: m[:5])
        step(m.write, b"hello")
        step(m.seek, 0, since=SEEK_RETURNS, expect=0)
        step(m.read, 7)
        step(m.size)
        step(m.find, b"llo", 0)

    differential(scenario, anonymous=True, ctor=make, length=length)


@pytest.mark.parametrize("mode", sorted(ACCESS))
def test_file_operations(tmp_path, mode):
    def make(mod, fileno, length, **kw):
        return mod.mmap(fileno, 0, access=ACCESS[mode])

    def scenario(mod, m, step):
        step(lambda: m[5])
        step(lambda: m[10:20])
        step(m.seek, 100, since=SEEK_RETURNS, expect=100)
        step(m.read, 10)
        step(m.read_byte)
        step(m.readline)
        step(m.write, b"XYZ")
        step(m.write_byte, 65)
        step(lambda: m.__setitem__(0, 66))
        step(lambda: m.__setitem__(slice(1, 4), b"abc"))
        step(m.move, 0, 100, 50)
        step(m.find, DATA[2000:2010])
        step(m.rfind, DATA[2000:2004], 0)
        step(m.flush)
        step(m.flush, 0, 100)
        step(m.flush, 1, 100)
        step(m.flush, GRAN, 100)
        step(m.seek, 0, 2, since=SEEK_RETURNS, expect=len(DATA))
        step(m.tell)
        step(m.size)
        step(repr, m, since=(3, 9))  # the detailed repr is new in 3.9

    differential(scenario, tmp_path, data=DATA, ctor=make)


@pytest.mark.parametrize("newsize", [1, 100, GRAN, len(DATA), len(DATA) + GRAN, 0])
@pytest.mark.parametrize("offset", [0, GRAN])
def test_resize_a_file_map(tmp_path, newsize, offset):
    def make(mod, fileno, length, **kw):
        return mod.mmap(fileno, 1000, offset=offset)

    def scenario(mod, m, step):
        step(m.seek, 500, since=SEEK_RETURNS, expect=500)
        step(m.resize, newsize)
        step(len, m)
        step(m.size)
        step(lambda: m[:10])
        step(lambda: m[-10:])
        step(m.write, b"end")

    if newsize == 0:
        pytest.skip("resize(0) of a file map: pymmap refuses first (EINVAL), a deliberate difference")
    differential(scenario, tmp_path, data=DATA, ctor=make)


@pytest.mark.parametrize("newsize", [1, 100, 4096, GRAN + 7, 3 * GRAN])
@pytest.mark.parametrize("named", [False, True])
def test_resize_a_paging_file_map(newsize, named):
    def make(mod, _fileno, length, **kw):
        return mod.mmap(-1, 5000, tagname=tag("resize") if named else None)

    def scenario(mod, m, step):
        step(lambda: m.__setitem__(slice(0, 5), b"kept!"))
        step(m.seek, 4000, since=SEEK_RETURNS, expect=4000)
        step(m.resize, newsize, since=RESIZES_MEMORY, expect=None)
        step(len, m, since=RESIZES_MEMORY, expect=newsize)
        step(lambda: m[:5], since=RESIZES_MEMORY, expect=b"kept!"[:newsize])
        step(lambda: m[-3:], since=RESIZES_MEMORY, expect=b"kept!"[:newsize][-3:] if newsize <= 5 else
             bytes(3))
        step(m.size, since=RESIZES_MEMORY, expect=newsize)

    if PY < RESIZES_MEMORY:
        # The old stdlib's failed resize closed its map: check pymmap's steps alone.
        ours = run_scenario(pymmap, scenario, ctor=make)
        compare_runs(ours, ours)  # (each step against its expected outcome)
        return
    differential(scenario, anonymous=True, ctor=make)


def test_a_named_map_cannot_resize_while_another_holds_its_name():
    names = {}

    def make(mod, _fileno, length, **kw):
        names[mod] = tag("held")
        return mod.mmap(-1, 4096, tagname=names[mod])

    def scenario(mod, m, step):
        other = mod.mmap(-1, 4096, tagname=names[mod])
        step(other.__setitem__, 0, 42)
        step(lambda: m[0])
        step(m.resize, 8192)
        step(len, m)
        step(lambda: m[0])
        other.close()

    if PY < RESIZES_MEMORY:
        # The old stdlib closed the map when its resize failed: pymmap alone.
        steps = run_scenario(pymmap, scenario, ctor=make).steps
        assert matches(steps[3].outcome, Raises(OSError, None, 22))  # ERROR_USER_MAPPED_FILE
        assert [s.outcome.value for s in steps[4:]] == [4096, 42]
        return
    differential(scenario, anonymous=True, ctor=make)


def test_tagnames_share_memory_with_the_stdlib():
    name = tag("shared")
    theirs = stdlib_mmap.mmap(-1, 4096, tagname=name)
    ours = pymmap.mmap(-1, 4096, tagname=name)
    theirs[:5] = b"hello"
    assert ours[:5] == b"hello"
    ours[5:11] = b" world"
    assert theirs[:11] == b"hello world"
    ours.close()
    theirs.close()


def test_sizeof_counts_the_tagname():
    name = "abcd"
    for mod in (stdlib_mmap, pymmap):
        plain, named = mod.mmap(-1, 10), mod.mmap(-1, 10, tagname=tag(name))
        extra = sys.getsizeof(named) - sys.getsizeof(plain)
        if mod is stdlib_mmap:
            expected = extra  # 3.13+: a wchar_t copy with its NUL; before, UTF-8 and a NUL
        else:
            assert extra == expected
        plain.close()
        named.close()


@pytest.mark.parametrize("mode", sorted(ACCESS))
def test_every_method_after_close(tmp_path, mode):
    def make(mod, fileno, length, **kw):
        return mod.mmap(fileno, 0, access=ACCESS[mode])

    def scenario(mod, m, step):
        step(m.close)
        for name in ("read", "readline", "read_byte", "size", "tell", "flush"):
            step(getattr(m, name))
        step(m.seek, 0, since=SEEK_RETURNS)
        step(m.write, b"x")
        step(m.resize, 10)
        step(m.find, b"x")
        step(lambda: m[0])
        step(len, m)
        step(repr, m, since=(3, 9))  # the detailed repr is new in 3.9

    differential(scenario, tmp_path, data=DATA, ctor=make)
