"""No leaks: thousands of maps made and dropped leave the process as it was.

A map holds a file descriptor (its own duplicate of the file's) and a
mapping (an address range in ``/proc/self/maps``).  Every test here makes
many maps, of every backing and access mode, and lets them go in every way
a program can: ``close()``, a ``with`` block, dropping the last reference,
or dropping a reference cycle that only the garbage collector frees.  Then
:func:`leakcheck.no_leaks` checks that the descriptors, the mappings (line
count, the lines naming the test's files, and the total size) and pymmap's
own ledger of ``mmap``/``munmap``/``dup``/``close`` calls are back where
they started.  Constructors that fail halfway, after the descriptor was
duplicated, and resizes that fail, must leave nothing behind either.

On PyPy objects die only when the collector runs; ``no_leaks`` collects
before it measures, so the same tests apply.
"""

import gc
import os
import sys
import threading
from typing import Any, Callable, Dict, List

import pytest
from leakcheck import PYPY, checked_twice, mapping_lines

import pymmap

if os.name != "posix":
    pytest.skip("counts descriptors and mappings in /proc/self and maps at page offsets; on Windows the stand-in's handle and section accounting (tests/test_mmap_windows.py, on Linux) checks leaks", allow_module_level=True)

P = pymmap.PAGESIZE
#: How many maps each test makes (and drops).
COUNT = 1200

ACCESS = {
    "default": pymmap.ACCESS_DEFAULT,
    "read": pymmap.ACCESS_READ,
    "write": pymmap.ACCESS_WRITE,
    "copy": pymmap.ACCESS_COPY,
}
BUFFER_PROTOCOL = sys.version_info >= (3, 12) or PYPY


@pytest.fixture
def data_file(tmp_path: Any) -> str:
    """A 3-page file of varied bytes."""
    path = str(tmp_path / "data.bin")
    with open(path, "wb") as f:
        f.write(bytes(range(256)) * (3 * P // 256))
    return path


def _drop(m: Any, how: int) -> None:
    """Let go of ``m`` in one of four ways (the caller holds no other reference)."""
    if how == 0:
        m.close()
    elif how == 1:
        with m:
            m.read(3)
    elif how == 2:
        pass  # the last reference dies when this function returns
    else:
        cycle: List[Any] = [m]
        cycle.append(cycle)  # only the garbage collector frees this


def _use(m: Any, writable: bool) -> None:
    """Touch the map the way programs do, so that its pages are really faulted in."""
    m.seek(P - 2)
    m.read(5)
    m.find(b"\x05\x06")
    m[-1]
    if writable:
        m[1] = 7
        m.seek(0)
        m.write(b"ab")


@pytest.mark.parametrize("access", sorted(ACCESS))
@pytest.mark.parametrize("backing", ["file", "anon"])
def test_dropped_maps_leak_nothing(backing: str, access: str, data_file: str) -> None:
    kwargs = {"access": ACCESS[access]}
    writable = access != "read"

    def make(i: int) -> Any:
        if backing == "anon":
            return pymmap.mmap(-1, (i % 3 + 1) * P, **kwargs)
        with open(data_file, "r+b") as f:
            # The whole file, or part of it, from the start or from a page in.
            offset = (i % 2) * P
            length = 0 if i % 4 < 2 else P + 10
            return pymmap.mmap(f.fileno(), length, offset=offset, **kwargs)

    def churn() -> None:
        for i in range(COUNT):
            m = make(i)
            _use(m, writable)
            _drop(m, i % 4)
            del m

    ledger = checked_twice(churn, watch=[data_file], what=f"{COUNT} {backing} maps ({access})")
    assert ledger.calls["mmap"] >= COUNT
    if backing == "file":
        assert ledger.calls["dup"] == ledger.calls["close"] == COUNT


def test_a_dropped_map_lets_its_file_go_at_the_first_collection(data_file: str) -> None:
    # Nothing between a map and its mapping has a finalizer (the map's own
    # descriptor is closed by a small object of its own), so one collection
    # frees the whole chain.  It matters on PyPy, where an object with a
    # finalizer keeps everything it reaches alive for one more collection:
    # the file stayed mapped, and the address range taken, until a second one.
    def mapped() -> bool:
        return any(data_file in line for line in mapping_lines())

    with open(data_file, "r+b") as f:
        m = pymmap.mmap(f.fileno(), 0)
    m[0] = 1
    assert mapped()
    cycle: List[Any] = [m]
    cycle.append(cycle)  # a cycle: CPython frees it at the collection too
    del m, cycle
    gc.collect()
    assert not mapped()


def test_maps_without_their_own_descriptor_leak_nothing(data_file: str) -> None:
    # trackfd=False: the map keeps no duplicate; closing the file must be enough.
    def churn() -> None:
        for i in range(COUNT):
            with open(data_file, "r+b") as f:
                m = pymmap.mmap(f.fileno(), 0, trackfd=False)
            _use(m, True)
            _drop(m, i % 4)
            del m

    ledger = checked_twice(churn, watch=[data_file], what="trackfd=False maps")
    assert "dup" not in ledger.calls


@pytest.mark.parametrize("backing", ["file", "anon-shared", "anon-private"])
def test_resized_maps_leak_nothing(backing: str, tmp_path: Any) -> None:
    # Growing and shrinking takes three paths: mremap(2) for files and private
    # memory, a fresh mapping (and the old one given back) for shared memory.
    path = str(tmp_path / "grow.bin")

    def make() -> Any:
        if backing == "anon-shared":
            return pymmap.mmap(-1, P)
        if backing == "anon-private":
            return pymmap.mmap(-1, P, flags=pymmap.MAP_PRIVATE)
        with open(path, "w+b") as f:
            f.write(b"r" * P)
            f.flush()
            return pymmap.mmap(f.fileno(), 0)

    def churn() -> None:
        for i in range(COUNT // 4):
            m = make()
            m[0] = 1
            m.resize(3 * P + 5)
            m[3 * P + 4] = 2
            m.resize(P // 2)
            m.resize(2 * P)
            assert m[0] == 1 and m[2 * P - 1] == 0
            _drop(m, i % 4)
            del m

    ledger = checked_twice(churn, watch=[str(tmp_path)], what=f"resized {backing} maps")
    assert ledger.calls.get("mremap", 0) + ledger.calls["mmap"] >= COUNT


@pytest.mark.skipif(PYPY, reason=(
    "by design on PyPy, which never reports a released view: a range whose view "
    "was handed out stays mapped (zero-filled) until the process ends"))
@pytest.mark.parametrize("backing", ["file", "anon"])
def test_maps_with_exported_views_leak_nothing(backing: str, data_file: str) -> None:
    def churn() -> None:
        for i in range(COUNT // 2):
            if backing == "anon":
                m = pymmap.mmap(-1, 2 * P)
            else:
                with open(data_file, "r+b") as f:
                    m = pymmap.mmap(f.fileno(), 0)
            view = memoryview(m) if BUFFER_PROTOCOL and i % 2 else m.buffer()
            part = view[10:20]
            part[0] = 9
            if i % 3 == 0:
                # Release the views, then close the map.
                part.release()
                view.release()
                m.close()
            elif i % 3 == 1:
                # Drop the map first; its memory lives on in the views until they go.
                del m
                assert part[0] == 9
                del part, view
            else:
                del view, part, m  # all at once

    checked_twice(churn, watch=[data_file], what=f"{backing} maps with exported views")


# --- failures ------------------------------------------------------------------------


def _failures(data_file: str, tmp_path: Any) -> Dict[str, Callable[[], Any]]:
    """Constructor calls that fail, most of them after the descriptor was duplicated."""
    directory = str(tmp_path)

    def with_fd(path: str, flags: int, length: int = 0, **kwargs: Any) -> Callable[[], Any]:
        def call() -> Any:
            fd = os.open(path, flags)
            try:
                return pymmap.mmap(fd, length, **kwargs)
            finally:
                os.close(fd)

        return call

    return {
        # After dup(2): mmap(2) refuses.
        "misaligned offset": with_fd(data_file, os.O_RDWR, offset=1),
        "a directory": with_fd(directory, os.O_RDONLY, length=P, access=pymmap.ACCESS_READ),
        "a read-only file, mapped for writing": with_fd(data_file, os.O_RDONLY),
        "a write-only file": with_fd(data_file, os.O_WRONLY, access=pymmap.ACCESS_READ),
        "a huge length, anonymous": lambda: pymmap.mmap(-1, 2**62),
        # Before dup(2): the file's size says no.
        "offset past the end": with_fd(data_file, os.O_RDWR, offset=4 * P),
        "length past the end": with_fd(data_file, os.O_RDWR, length=4 * P),
        # The descriptor itself is bad.
        "a closed descriptor": lambda: pymmap.mmap(10**6, P),
        "fd -2": lambda: pymmap.mmap(-2, P),
    }


def test_failed_constructors_leak_nothing(data_file: str, tmp_path: Any) -> None:
    failures = _failures(data_file, tmp_path)

    def churn() -> None:
        for _ in range(COUNT):
            for call in failures.values():
                with pytest.raises((OSError, ValueError)):
                    call()

    ledger = checked_twice(churn, watch=[data_file], what="failed constructors")
    # The descriptor was duplicated (and closed again) for the first four.
    assert ledger.calls["dup"] == ledger.calls["close"] >= 4 * COUNT


@pytest.mark.parametrize("backing", ["file", "anon-shared", "anon-private"])
def test_failed_resizes_leak_nothing(backing: str, tmp_path: Any) -> None:
    path = str(tmp_path / "f.bin")
    with open(path, "wb") as f:
        f.write(b"s" * 2 * P)

    def churn() -> None:
        for _ in range(COUNT // 4):
            if backing == "file":
                with open(path, "r+b") as f:
                    m = pymmap.mmap(f.fileno(), 0)
            else:
                flags = pymmap.MAP_SHARED if backing == "anon-shared" else pymmap.MAP_PRIVATE
                m = pymmap.mmap(-1, 2 * P, flags=flags)
            for size in (2**62, 0, -1):
                with pytest.raises((OSError, ValueError)):
                    m.resize(size)
            assert len(m) == 2 * P
            m[2 * P - 1] = 1  # the map still works, and still has its file behind it
            m.close()

    checked_twice(churn, watch=[path], what=f"failed resizes of {backing} maps")
    assert os.path.getsize(path) == 2 * P


def test_interrupted_constructor_leaks_nothing(monkeypatch: Any, data_file: str) -> None:
    # A KeyboardInterrupt (or MemoryError) can arrive between mmap(2) and the
    # moment the region has built the views that own the mapping.
    def interrupted(self: Any, lease: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pymmap.MappedRegion, "_attach", interrupted)

    def churn() -> None:
        for _ in range(50):
            with pytest.raises(KeyboardInterrupt):
                pymmap.mmap(-1, P)
            with open(data_file, "r+b") as f, pytest.raises(KeyboardInterrupt):
                pymmap.mmap(f.fileno(), 0)

    checked_twice(churn, watch=[data_file], what="interrupted constructors")


# --- memory given back while someone still holds it ---------------------------------------


def test_region_closed_while_held_is_unmapped_when_let_go(data_file: str) -> None:
    # close() while another holder still has the memory swaps in a zero-filled
    # placeholder; the address range itself goes back when the holder lets go.
    def churn() -> None:
        for i in range(COUNT // 2):
            with open(data_file, "r+b") as f:
                region = pymmap.MappedRegion(2 * P, fd=f.fileno()) if i % 2 else pymmap.MappedRegion(P)
            held = region.array
            assert held is not None
            region.close()
            assert held[:4] == b"\0\0\0\0"
            del held, region

    checked_twice(churn, watch=[data_file], what="regions closed while held")


def test_maps_closed_by_another_thread_leak_nothing(data_file: str) -> None:
    # Readers in one thread, close() in another: whichever way the race goes,
    # every mapping and descriptor must be given back.
    def churn() -> None:
        for _ in range(COUNT // 20):
            with open(data_file, "r+b") as f:
                maps = [pymmap.mmap(f.fileno(), 0) for _ in range(10)]

            def read_all(maps: List[Any] = maps) -> None:
                for m in maps:
                    try:
                        for _ in range(20):
                            m.find(b"\xff\x00")
                            m[: 2 * P]
                    except ValueError:  # closed under us: the documented outcome
                        pass

            reader = threading.Thread(target=read_all)
            reader.start()
            for m in maps:
                m.close()
            reader.join()
            del maps, m

    # Threads make glibc map malloc arenas and cache stacks: see leakcheck.compare.
    checked_twice(churn, watch=[data_file], what="maps closed while another thread reads",
                  process_wide=False)
