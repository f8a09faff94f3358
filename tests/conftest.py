"""Shared fixtures: temporary files and the stdlib ``mmap`` as the oracle.

The tests (never the library) import the C ``mmap`` module, to run the same
operations on it and on pymmap and compare the results.
"""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # pragma: no cover - when run without installing
    sys.path.insert(0, ROOT)


@pytest.fixture
def make_file(tmp_path):
    """Return a function that writes ``data`` to a new file and returns its path."""
    counter = [0]

    def make(data=b"", name=None):
        counter[0] += 1
        path = tmp_path / (name or f"file{counter[0]}.bin")
        path.write_bytes(data)
        return str(path)

    return make


@pytest.fixture
def open_file(make_file):
    """Return a function that creates a file with ``data`` and opens it (closed at teardown)."""
    opened = []

    def open_(data=b"", mode="r+b"):
        f = open(make_file(data), mode)
        opened.append(f)
        return f

    yield open_
    for f in opened:
        f.close()


# On PyPy, which has no reference counts, MappedRegion.close() cannot tell
# whether another thread still holds the memory, so it always swaps in a
# zero-filled placeholder (one mmap(MAP_FIXED)) and the munmap(2) comes when
# the collector frees the views (see the README's Safety section).  These
# tests assert CPython's exact call sequence (mmap ... munmap at close); the
# trace's format itself is the same on both and is tested on CPython.
EXACT_CLOSE_SEQUENCE = {
    "tests/test_mmap_windows.py::test_the_trace_shows_kernel32s_calls",
    "tests/test_tour.py::test_tour_shows_lines_results_and_system_calls",
    "tests/test_trace.py::test_anonymous_map_lifetime",
    "tests/test_trace.py::test_records_carry_the_raw_call",
    "tests/test_trace.py::test_file_map_flush_resize_advise",
    "tests/test_trace.py::test_nesting_restores_the_outer_tracer",
    "tests/test_trace.py::test_file_object_target",
    "tests/test_trace.py::test_path_target_appends_and_closes",
    "tests/test_trace.py::test_default_target_is_stderr",
    "tests/test_trace.py::test_environment_variable_traces_to_stderr",
    "tests/test_trace.py::test_environment_variable_names_a_file",
}


def pytest_collection_modifyitems(config, items):
    if sys.implementation.name == "cpython":
        return
    skip = pytest.mark.skip(reason="PyPy unmaps at garbage collection: the close() call sequence differs")
    for item in items:
        if item.nodeid.split("[")[0] in EXACT_CLOSE_SEQUENCE:
            item.add_marker(skip)


@pytest.fixture
def block_device(tmp_path):
    """A 1 MiB loop device (needs root and losetup(8)); yields its path."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or shutil.which("losetup") is None:
        pytest.skip("a loop device needs Linux, root and losetup(8)")
    image = tmp_path / "disk.img"
    image.write_bytes(b"d" * (1 << 20))
    made = subprocess.run(["losetup", "--find", "--show", str(image)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"losetup could not attach a loop device: {made.stderr.strip()}")
    device = made.stdout.strip()
    try:
        yield device
    finally:
        subprocess.run(["losetup", "--detach", device], check=True)
