"""Shared fixtures: temporary files and the stdlib ``mmap`` as the oracle.

The tests (never the library) import the C ``mmap`` module, to run the same
operations on it and on pymmap and compare the results.
"""

import os
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
