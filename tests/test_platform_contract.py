"""The backend contract: what every platform backend provides, and what it may.

``pymmap._platform.REQUIRED`` and ``OPTIONAL`` write it down; the backends
are held to it here: Windows' everywhere (it imports anywhere and reaches
kernel32 only on its first call), POSIX's where it imports (not on Windows).
"""

import importlib
import os

import pytest

from pymmap._platform import OPTIONAL, REQUIRED


def _backends():
    names = ["windows"] if os.name == "nt" else ["posix", "windows"]
    return [importlib.import_module(f"pymmap._platform.{name}") for name in names]


@pytest.mark.parametrize("backend", _backends(), ids=lambda module: module.__name__.rsplit(".", 1)[-1])
def test_a_backend_provides_the_contract_and_nothing_unnamed(backend):
    exported = set(backend.__all__)
    assert set(REQUIRED) <= exported, sorted(set(REQUIRED) - exported)
    assert exported - set(REQUIRED) <= set(OPTIONAL), sorted(exported - set(REQUIRED) - set(OPTIONAL))
    for name in exported:
        if name not in ("PAGESIZE", "ALLOCATIONGRANULARITY"):  # (Windows asks kernel32 on first use)
            assert hasattr(backend, name), name


def test_naming_mappings_comes_with_handles_and_resize():
    for backend in _backends():
        if "map_named" in backend.__all__:
            assert {"handle_of", "resize"} <= set(backend.__all__)


def test_the_contract_does_not_list_a_name_twice():
    assert len(set(REQUIRED)) == len(REQUIRED)
    assert not set(REQUIRED) & set(OPTIONAL)


def test_checked_maps_work_or_are_refused_at_once_with_the_reason():
    # kernel_copies() is the contract's one way to checked maps: where the
    # system has no copy the kernel makes for this process, the map is
    # refused before anything is mapped, and the message says what was tried.
    import pymmap
    from pymmap._platform import backend

    try:
        copies = backend.kernel_copies()
    except OSError as exc:
        with pytest.raises(OSError) as refused:
            pymmap.mmap(-1, pymmap.PAGESIZE, checked=True)
        assert str(refused.value) == str(exc)
        assert "checked=True needs" in str(exc)
    else:
        with pymmap.mmap(-1, pymmap.PAGESIZE, checked=True) as m:
            m[:2] = b"ok"
            assert m[:2] == b"ok" and copies.name in (
                "process_vm_readv", "/proc/self/mem", "ReadProcessMemory")
