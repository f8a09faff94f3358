"""The platform layer's shared-memory calls: POSIX shm_open and System V shmget/shmat.

Each wrapper's errno path and the trace lines.  (The ``shmid_ds`` layout is
checked against the C headers, by a compiled peer: ``test_shm.py``.)
"""

import ctypes
import errno
import os
import sys

import cpeer
import pytest
from emulation import EMULATOR
from oserrors import errno_of

from pymmap._platform import backend
from pymmap.trace import format_call

if os.name != "posix":
    pytest.skip('POSIX shm_open and System V shmget/shmat: Windows has neither', allow_module_level=True)

SHM_NAMES = ["HAS_SHM_OPEN", "HAS_SYSV_SHM", "shm_attach", "shm_detach", "shm_get", "shm_open",
             "shm_remove", "shm_stat", "shm_unlink", "shmid_ds"]


def test_the_backend_exports_the_shared_memory_calls():
    for name in SHM_NAMES:
        assert name in backend.__all__ and hasattr(backend, name)
    # Linux has both kinds; System V's segments only in a 64-bit process
    # (the shmid_ds layout: see posix.py).
    assert backend.HAS_SHM_OPEN
    assert (ctypes.sizeof(ctypes.c_void_p) == 8) == backend.HAS_SYSV_SHM


def test_posix_calls_and_their_errors():
    name = cpeer.unique_names()[0].encode()
    assert errno_of(backend.shm_open, name, True, False) == errno.ENOENT
    fd = backend.shm_open(name, True, True)
    try:
        assert errno_of(backend.shm_open, name, True, True) == errno.EEXIST
        backend.truncate(fd, 100)
        assert backend.file_size(fd) == 100
    finally:
        backend.close_fd(fd)
        backend.shm_unlink(name)
    assert errno_of(backend.shm_unlink, name) == errno.ENOENT
    assert errno_of(backend.shm_open, b"/a/b", True, True) == errno.EINVAL


@pytest.mark.skipif(not backend.HAS_SYSV_SHM, reason="System V shared memory is 64-bit Linux's only")
def test_sysv_calls_and_their_errors():
    key = cpeer.unique_names()[1]
    assert errno_of(backend.shm_get, key, 0, False) == errno.ENOENT
    shmid = backend.shm_get(key, 6000, True)
    try:
        assert errno_of(backend.shm_get, key, 6000, True) == errno.EEXIST
        info = backend.shm_stat(shmid)
        mode = info.shm_perm.mode
        if EMULATOR and sys.byteorder == "big" and mode & 0o777 == 0:
            mode >>= 16  # qemu-user's own IPC_STAT on s390x, which C sees too (tests/emulation.py)
        assert (info.shm_segsz, info.shm_nattch, mode & 0o777) == (6000, 0, 0o600)
        assert info.shm_cpid == os.getpid()
        address = backend.shm_attach(shmid, True)
        assert address % backend.PAGESIZE == 0
        assert backend.shm_stat(shmid).shm_nattch == 1
        ctypes.memset(address, 7, 6000)
        reader = backend.shm_attach(shmid, False)
        assert ctypes.string_at(reader + 5999, 1) == b"\x07"
        backend.shm_detach(reader, 6000)
        backend.shm_detach(address, 6000)
        assert errno_of(backend.shm_detach, address, 0) == errno.EINVAL
        assert backend.shm_stat(shmid).shm_nattch == 0
    finally:
        backend.shm_remove(shmid)
    assert errno_of(backend.shm_stat, shmid) == errno.EINVAL
    assert errno_of(backend.shm_attach, shmid, True) == errno.EINVAL
    assert errno_of(backend.shm_remove, shmid) == errno.EINVAL


def test_trace_lines():
    info = backend.shmid_ds(shm_segsz=4096, shm_nattch=2)
    rdonly = 0o10000
    assert format_call("shm_open", (b"/x", os.O_RDONLY, 0o600), 3, 0) == 'shm_open("/x", O_RDONLY, 0600) = 3'
    assert format_call("shm_open", (b"/x", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o640), -1, errno.EEXIST) \
        == 'shm_open("/x", O_RDWR|O_CREAT|O_EXCL, 0640) = -1 EEXIST (File exists)'
    assert format_call("shm_unlink", (b"/x",), 0, 0) == 'shm_unlink("/x") = 0'
    assert format_call("shmget", (0x1234, 4096, 0o1000 | 0o2000 | 0o600), 5, 0) \
        == "shmget(0x1234, 4096, IPC_CREAT|IPC_EXCL|0600) = 5"
    assert format_call("shmget", (-1, 0, 0), -1, errno.ENOENT) \
        == "shmget(0xffffffff, 0, 0) = -1 ENOENT (No such file or directory)"
    assert format_call("shmat", (5, None, rdonly), 0x7F0000001000, 0) == "shmat(5, NULL, SHM_RDONLY) = 0x7f0000001000"
    assert format_call("shmat", (5, None, 0), backend.MAP_FAILED, errno.EACCES) \
        == "shmat(5, NULL, 0) = -1 EACCES (Permission denied)"
    assert format_call("shmdt", (0x7F0000001000,), 0, 0) == "shmdt(0x7f0000001000) = 0"
    assert format_call("shmctl", (5, 2, info), 0, 0) == "shmctl(5, IPC_STAT, {shm_segsz=4096, shm_nattch=2, ...}) = 0"
    assert format_call("shmctl", (5, 2, info), -1, errno.EINVAL) == "shmctl(5, IPC_STAT, 0x...) = -1 EINVAL (Invalid argument)"
    assert format_call("shmctl", (5, 0, None), 0, 0) == "shmctl(5, IPC_RMID, NULL) = 0"
    assert format_call("shmctl", (5, 99, None), 0, 0) == "shmctl(5, 99, NULL) = 0"
