"""The POSIX backend: libc's memory-mapping calls, bound with ctypes.

Everything here is a declaration or a thin wrapper.  Each C function is
declared once, with ``argtypes`` and ``restype``, on one handle to the C
library opened with ``use_errno=True``, so that ``ctypes.get_errno()`` reads
the ``errno`` the call left behind.  Each wrapper that makes a system call goes
through :func:`_syscall`, the single place where a failure becomes
``OSError(errno, strerror)`` and where the syscall trace (``pymmap.trace``)
sees every call.  (On 64-bit PyPy, ``mmap`` and ``munmap`` are bound a
second time, with cffi, whose calls PyPy's JIT compiles: see
:func:`_bind_mapping_calls_with_cffi`.)

Addresses are plain ``int`` values (``c_void_p``), lengths are ``size_t`` and
file offsets are 64-bit ``off_t`` (``mmap64`` on 32-bit glibc, where libc's
plain ``mmap`` takes a 32-bit offset).

The search helpers (``memmem``, ``memchr``, ``memrchr``) are not system
calls; they are the C library's fast byte searches, used on the hot path
without tracing.

The last section binds shared memory: POSIX ``shm_open(3)`` objects and
System V segments (``shmget(2)``, ``shmat(2)``), the two ways C programs on
Linux share memory by name.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import fcntl
import os
import stat
import struct
import sys
from ctypes import c_char_p, c_int, c_int64, c_size_t, c_ubyte, c_uint, c_ulong, c_void_p

from .._interpreter import PYPY, Lock
from . import _common, tables
from ._common import REQUIRED, KernelCopies, os_call
from ._common import set_tracer as set_tracer  # (a part of the contract: re-exported)

TYPE_CHECKING = False  # typing's flag, without importing typing: see pymmap/__init__.py
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, NoReturn, Optional, Tuple

#: The contract (see ``_common.REQUIRED``), and what only this backend has.
__all__ = [*REQUIRED, "UNSAFE_ADVICE", "cachestat", "fill_holes", "page_flags", "shmid_ds"]

_TABLE_NAME = tables.select()
_TABLE = tables.TABLES[_TABLE_NAME]

#: The public constants of this platform (``PROT_*``, ``MAP_*``, ``MADV_*``, ``MS_*``).
CONSTANTS: Dict[str, int] = {k: v for k, v in _TABLE.items() if not k.startswith("_")}
#: The constants ``pymmap`` exports: on POSIX, all of them.
PUBLIC_CONSTANTS: Dict[str, int] = CONSTANTS

_MAP_FIXED = _TABLE["MAP_FIXED"]
# MAP_FIXED_NOREPLACE (Linux 4.17+, <linux/mman.h>) also takes the address literally.
_MAP_NOREPLACE = 0x100000 if sys.platform.startswith("linux") else 0
_MAP_FIXED_ANY = _MAP_FIXED | _MAP_NOREPLACE

#: Advice after which touching the pages kills the process: MADV_HWPOISON
#: poisons them (SIGBUS), and MADV_GUARD_INSTALL (102, Linux 6.13+) turns them
#: into guard pages (SIGSEGV).  The region refuses these (see MappedRegion.advise).
UNSAFE_ADVICE = frozenset(
    value
    for value in (_TABLE.get("MADV_HWPOISON"), 102 if sys.platform.startswith("linux") else None)
    if value is not None
)
_MAP_PRIVATE = _TABLE["MAP_PRIVATE"]
_MAP_ANONYMOUS = _TABLE["MAP_ANONYMOUS"]
_PROT_READ = _TABLE["PROT_READ"]
_PROT_WRITE = _TABLE["PROT_WRITE"]

#: ``mmap`` returns ``(void *) -1`` on failure; as a ``c_void_p`` value that is
#: the all-ones address, never -1.
MAP_FAILED: int = c_void_p(-1).value  # type: ignore[assignment]


def _load_libc() -> ctypes.CDLL:
    """Internal: open the C library once, with errno capture.

    ``CDLL(None)`` is the running program's own symbol table, which includes
    libc on Linux and the BSDs and costs no search; ``find_library('c')`` is
    the documented fallback.
    """
    handle = ctypes.CDLL(None, use_errno=True)
    if hasattr(handle, "mmap"):
        return handle
    return _library("c", _LIBC_NAMES)  # pragma: no cover - a program without libc's symbols


#: The C library's file name on the systems pymmap knows (glibc, musl,
#: macOS, FreeBSD), tried before ``ctypes.util.find_library``, which runs
#: ``ldconfig`` or a compiler in a subprocess to look (slow, and missing on
#: some systems).
_LIBC_NAMES = ("libc.so.6", "libc.musl-x86_64.so.1", "/usr/lib/libSystem.B.dylib", "libc.so.7")


def _library(short: str, names: Tuple[str, ...]) -> ctypes.CDLL:  # pragma: no cover - fallbacks
    """Internal: open the C library ``short`` (``"c"``, ``"rt"``) by its known ``names``, else by search."""
    for name in names:
        try:
            return ctypes.CDLL(name, use_errno=True)
        except OSError:
            continue
    from ctypes.util import find_library  # (only here: it may spawn processes to search)

    found = find_library(short)
    if found is None:
        raise ImportError(f"pymmap cannot find the C library lib{short}")
    return ctypes.CDLL(found, use_errno=True)


_libc = _load_libc()


def _declare(name: str, restype: Any, argtypes: Tuple[Any, ...],
             library: Optional[ctypes.CDLL] = None) -> Any:
    """Internal: look up one C function and declare its prototype, or None if absent.

    The function is looked up in the C library, or in ``library`` if given.
    """
    try:
        fn = getattr(_libc if library is None else library, name)
    except AttributeError:
        return None
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


# void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
# On 32-bit glibc, mmap's off_t is 32 bits and mmap64 takes the 64-bit one.
# macOS, FreeBSD, musl and every 64-bit system have only a 64-bit off_t, and
# may have no mmap64 at all.
_MMAP_ARGTYPES = (c_void_p, c_size_t, c_int, c_int, c_int, c_int64)
_mmap = _declare("mmap64", c_void_p, _MMAP_ARGTYPES) if ctypes.sizeof(c_void_p) == 4 else None
if _mmap is None:
    _mmap = _declare("mmap", c_void_p, _MMAP_ARGTYPES)
# int munmap(void *addr, size_t length);
_munmap = _declare("munmap", c_int, (c_void_p, c_size_t))
# int msync(void *addr, size_t length, int flags);
_msync = _declare("msync", c_int, (c_void_p, c_size_t, c_int))
# void *mremap(void *old_address, size_t old_size, size_t new_size, int flags, ...);
# (Linux only; the optional fifth argument is never used here.)
_mremap = _declare("mremap", c_void_p, (c_void_p, c_size_t, c_size_t, c_int))
# int madvise(void *addr, size_t length, int advice);
_madvise = _declare("madvise", c_int, (c_void_p, c_size_t, c_int))
# int mprotect(void *addr, size_t len, int prot);
_mprotect = _declare("mprotect", c_int, (c_void_p, c_size_t, c_int))
# int mlock(const void *addr, size_t len);  int munlock(const void *addr, size_t len);
_mlock = _declare("mlock", c_int, (c_void_p, c_size_t))
_munlock = _declare("munlock", c_int, (c_void_p, c_size_t))
# int mincore(void *addr, size_t length, unsigned char *vec);
_mincore = _declare("mincore", c_int, (c_void_p, c_size_t, ctypes.POINTER(c_ubyte)))
# long sysconf(int name);
_sysconf = _declare("sysconf", ctypes.c_long, (c_int,))
# int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4,
#           unsigned long arg5);  (Linux)
_prctl = _declare("prctl", c_int, (c_int, c_ulong, c_ulong, c_ulong, c_ulong))
# void *memmem(const void *haystack, size_t haystacklen,
#              const void *needle, size_t needlelen);
_memmem = _declare("memmem", c_void_p, (c_void_p, c_size_t, c_char_p, c_size_t))
# void *memchr(const void *s, int c, size_t n);  void *memrchr(...)  (GNU, BSD)
_memchr = _declare("memchr", c_void_p, (c_void_p, c_int, c_size_t))
_memrchr = _declare("memrchr", c_void_p, (c_void_p, c_int, c_size_t))

# ssize_t process_vm_readv(pid_t pid, const struct iovec *local_iov, unsigned long liovcnt,
#     const struct iovec *remote_iov, unsigned long riovcnt, unsigned long flags);
# ssize_t process_vm_writev(...the same...);  (Linux 3.2+, glibc 2.15+: checked maps)
_VM_ARGTYPES = (c_int, c_void_p, c_ulong, c_void_p, c_ulong, c_ulong)
_process_vm_readv = _declare("process_vm_readv", ctypes.c_ssize_t, _VM_ARGTYPES)
_process_vm_writev = _declare("process_vm_writev", ctypes.c_ssize_t, _VM_ARGTYPES)

HAS_REMAP = _mremap is not None
HAS_MADVISE = _madvise is not None
HAS_ANON_NAME = sys.platform.startswith("linux") and _prctl is not None


def _bind_mapping_calls_with_cffi(page_calls: Tuple[str, ...]) -> Dict[str, Callable[..., int]]:
    """Internal (PyPy, 64-bit): ``mmap``, ``munmap`` and ``page_calls`` through cffi, as through ctypes.

    PyPy's ctypes is written in Python: converting the six arguments of
    ``mmap`` and its result costs it several microseconds a call, more
    than the system call itself, and every map makes three such calls (its
    ``mmap``; at close, the placeholder's ``mmap`` and the final
    ``munmap``).  cffi is part of PyPy, and the JIT compiles a call through
    it to a plain machine-level call.  The two prototypes are the ones
    above, declared again for cffi (``off_t`` is ``int64_t`` on every
    64-bit system), with cffi's backend module, as ``ffi.cdef`` and
    ``ffi.dlopen`` would declare them once they had parsed the C text (the
    parser costs PyPy 100-200 ms to import).  The wrappers take and return
    what the ctypes functions do (``None`` for NULL, addresses as ints) and
    hand ``errno`` to ctypes, so :func:`_syscall` and the trace see no
    difference.  ``page_calls`` names functions declared ``int f(void *,
    size_t, int)`` that the C library has (``msync``, ``madvise``,
    ``mprotect``: ``flush()``, ``madvise()`` and ``protect()`` make
    them), which go the same way: through ctypes, PyPy spent 1.3-1.5 us on
    each call, against 0.1-0.2 us for its own ``mmap`` module's whole
    method.  Returns the wrappers by C name.
    """
    import _cffi_backend as cffi  # cffi's core, part of PyPy itself

    def c_type(name: str) -> Any:
        return cffi.new_primitive_type(name)

    void_p = cffi.new_pointer_type(cffi.new_void_type())
    size_t, c_int, int64_t, uintptr_t = (c_type(name) for name in ("size_t", "int", "int64_t", "uintptr_t"))
    libc = cffi.load_library(None)
    # void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset);
    c_mmap = libc.load_function(
        cffi.new_function_type((void_p, size_t, c_int, c_int, c_int, int64_t), void_p, False), "mmap")
    # int munmap(void *addr, size_t length);
    c_munmap = libc.load_function(cffi.new_function_type((void_p, size_t), c_int, False), "munmap")
    cast, null = cffi.cast, cffi.cast(void_p, 0)

    def mmap(address: Optional[int], length: int, prot: int, flags: int, fd: int, offset: int) -> int:
        result = int(cast(uintptr_t, c_mmap(null if address is None else cast(void_p, address),
                                            length, prot, flags, fd, offset)))
        if result == MAP_FAILED:
            ctypes.set_errno(cffi.get_errno())
        return result

    def munmap(address: int, length: int) -> int:
        result: int = c_munmap(cast(void_p, address), length)
        if result == -1:
            ctypes.set_errno(cffi.get_errno())
        return result

    calls: Dict[str, Callable[..., int]] = {"mmap": mmap, "munmap": munmap}

    def page_call(name: str) -> Callable[..., int]:
        # int name(void *addr, size_t length, int flags);
        c_call = libc.load_function(cffi.new_function_type((void_p, size_t, c_int), c_int, False), name)

        def call(address: int, length: int, flags: int) -> int:
            result: int = c_call(cast(void_p, address), length, flags)
            if result == -1:
                ctypes.set_errno(cffi.get_errno())
            return result
        return call

    for name in page_calls:
        calls[name] = page_call(name)
    return calls


if PYPY and ctypes.sizeof(c_void_p) == 8:
    _cffi_calls = _bind_mapping_calls_with_cffi(
        tuple(name for name, fn in (("msync", _msync), ("madvise", _madvise), ("mprotect", _mprotect))
              if fn is not None))
    _mmap, _munmap = _cffi_calls["mmap"], _cffi_calls["munmap"]
    _msync = _cffi_calls.get("msync", _msync)
    _madvise = _cffi_calls.get("madvise", _madvise)
    _mprotect = _cffi_calls.get("mprotect", _mprotect)



class ipc_perm(ctypes.Structure):
    """The owner and permissions of a System V IPC object (Linux, 64-bit).

    From glibc's ``<bits/ipc-perm.h>``, which matches the kernel's
    ``struct ipc64_perm``::

        struct ipc_perm {
            key_t          __key;    uid_t uid;  gid_t gid;
            uid_t          cuid;     gid_t cgid; mode_t mode;
            unsigned short __seq;    unsigned short __pad2;
            unsigned long  __glibc_reserved1, __glibc_reserved2;
        };
    """

    _fields_ = [
        ("key", c_int),
        ("uid", c_uint),
        ("gid", c_uint),
        ("cuid", c_uint),
        ("cgid", c_uint),
        ("mode", c_uint),
        ("seq", ctypes.c_ushort),
        ("pad2", ctypes.c_ushort),
        ("reserved1", c_ulong),
        ("reserved2", c_ulong),
    ]


class shmid_ds(ctypes.Structure):
    """What ``shmctl(IPC_STAT)`` reports about a System V segment (Linux, 64-bit).

    From glibc's ``<bits/types/struct_shmid_ds.h>`` (the kernel's
    ``struct shmid64_ds``); 112 bytes, ``shm_segsz`` at offset 48::

        struct shmid_ds {
            struct ipc_perm shm_perm;
            size_t   shm_segsz;                         /* size in bytes */
            time_t   shm_atime, shm_dtime, shm_ctime;
            pid_t    shm_cpid, shm_lpid;
            shmatt_t shm_nattch;                        /* attachments */
            unsigned long __glibc_reserved5, __glibc_reserved6;
        };

    The layout holds for x86-64 and the architectures that use the kernel's
    generic ``<asm-generic/shmbuf.h>`` (AArch64, RISC-V, LoongArch);
    :data:`HAS_SYSV_SHM` is False elsewhere.
    """

    _fields_ = [
        ("shm_perm", ipc_perm),
        ("shm_segsz", c_size_t),
        ("shm_atime", ctypes.c_long),
        ("shm_dtime", ctypes.c_long),
        ("shm_ctime", ctypes.c_long),
        ("shm_cpid", c_int),
        ("shm_lpid", c_int),
        ("shm_nattch", c_ulong),
        ("reserved5", c_ulong),
        ("reserved6", c_ulong),
    ]


def _load_librt() -> Optional[ctypes.CDLL]:
    """Internal: librt, where glibc before 2.34 kept ``shm_open``; None if libc has it."""
    if hasattr(_libc, "shm_open"):
        return None
    try:  # pragma: no cover - glibc < 2.34
        return _library("rt", ("librt.so.1",))
    except ImportError:  # pragma: no cover
        return None


_librt = _load_librt()
# int shm_open(const char *name, int oflag, mode_t mode);
# int shm_unlink(const char *name);
_shm_open = _declare("shm_open", c_int, (c_char_p, c_int, c_uint), _librt)
_shm_unlink = _declare("shm_unlink", c_int, (c_char_p,), _librt)
# int shmget(key_t key, size_t size, int shmflg);
_shmget = _declare("shmget", c_int, (c_int, c_size_t, c_int))
# void *shmat(int shmid, const void *shmaddr, int shmflg);
_shmat = _declare("shmat", c_void_p, (c_int, c_void_p, c_int))
# int shmdt(const void *shmaddr);
_shmdt = _declare("shmdt", c_int, (c_void_p,))
# int shmctl(int shmid, int cmd, struct shmid_ds *buf);
_shmctl = _declare("shmctl", c_int, (c_int, c_int, ctypes.POINTER(shmid_ds)))

HAS_SHM_OPEN = _shm_open is not None and _shm_unlink is not None
HAS_SYSV_SHM = (
    sys.platform.startswith("linux")
    and _TABLE_NAME in ("linux-x86", "linux-generic")
    and ctypes.sizeof(c_void_p) == 8  # shmid_ds above is the 64-bit layout
    and _shmget is not None
)

_PR_SET_VMA = 0x53564D41  # <linux/prctl.h>
_PR_SET_VMA_ANON_NAME = 0

# --- the single call path ----------------------------------------------------

def oserror(err: int) -> OSError:
    """Return the exception for ``errno`` value ``err``: the one place errors are made.

    ``OSError(err, strerror)`` picks the matching subclass by itself
    (``FileNotFoundError`` for ENOENT, ``PermissionError`` for EACCES, ...).
    """
    return OSError(err, os.strerror(err))


def _raise_errno(err: int) -> NoReturn:
    """Internal: raise :func:`oserror` for ``err``."""
    raise oserror(err)


def _syscall(name: str, fn: Any, args: Tuple[Any, ...], failed: Any) -> Any:
    """Internal: call ``fn(*args)``; raise ``OSError`` if it returns ``failed``.

    Calls interrupted by a signal (``EINTR``) are retried, as PEP 475 does for
    the ``os`` module.
    """
    while True:
        result = fn(*args)
        tracer = _common.tracer
        if result != failed:
            if tracer is not None:
                tracer(name, args, result, 0)
            return result
        err = ctypes.get_errno()
        if tracer is not None:
            tracer(name, args, result, err)
        if err != _errno.EINTR:
            _raise_errno(err)


def unsupported(name: str) -> NoReturn:
    """Raise ``OSError`` (ENOSYS, naming ``name``) for a call this C library does not have."""
    exc = oserror(_errno.ENOSYS)
    exc.filename = name
    raise exc


# --- memory mapping ------------------------------------------------------------


def _page_size() -> int:
    """Internal: ``sysconf(_SC_PAGESIZE)``, the size of one page of virtual memory."""
    size = _sysconf(_TABLE["_SC_PAGESIZE"])
    if size <= 0:  # pragma: no cover - sysconf never fails for this name
        raise ImportError("sysconf(_SC_PAGESIZE) failed")
    return int(size)


#: The size of a virtual-memory page: the unit in which the kernel maps memory.
PAGESIZE: int = _page_size()
#: On POSIX, mapping offsets must be multiples of the page size.
ALLOCATIONGRANULARITY: int = PAGESIZE


def map_memory(length: int, prot: int, flags: int, fd: int, offset: int,
               address: Optional[int] = None) -> int:
    """Wrapper around mmap(2); return the address of the new mapping.

    ``MAP_FIXED`` without an ``address`` would mean "at address 0": the
    kernel refuses that to ordinary users (EPERM) but grants it to root,
    and a mapping at NULL is one no Python code should ever get.  pymmap
    refuses it for everyone, with EINVAL, before asking the kernel.
    """
    if address is None and flags & _MAP_FIXED_ANY:
        _raise_errno(_errno.EINVAL)
    try:
        return int(_syscall("mmap", _mmap, (address, length, prot, flags, fd, offset), MAP_FAILED))
    except OSError as exc:
        if exc.errno == _errno.ENOMEM and flags & _TABLE.get("MAP_HUGETLB", 0):
            # The usual cause; errno and strerror stay as the kernel said.
            exc.filename = "no free huge pages: reserve some in /proc/sys/vm/nr_hugepages"
        raise


def huge_page_size() -> int:
    """Return the size of the huge pages ``MAP_HUGETLB`` maps (Linux: ``/proc/meminfo``).

    Raises ``OSError`` (ENOSYS) where the system has no huge pages.
    """
    try:
        with open("/proc/meminfo", "rb") as meminfo:
            for line in meminfo:
                if line.startswith(b"Hugepagesize:"):
                    return int(line.split()[1]) * 1024  # the value is in kB
    except OSError:  # pragma: no cover - no /proc
        pass
    unsupported("huge pages")  # pragma: no cover - kernels without CONFIG_HUGETLBFS


def unmap(address: int, length: int) -> None:
    """Wrapper around munmap(2)."""
    _syscall("munmap", _munmap, (address, length), -1)


def placeholder(address: int, length: int) -> None:
    """Replace a mapping, in place, by private zero-filled memory.

    One ``mmap(2)`` call with ``MAP_FIXED`` swaps what lies behind
    ``[address, address + length)`` atomically: the file (or shared memory) is
    released at once, but the addresses stay valid, so a reader that still
    holds them sees zeros instead of dying with SIGSEGV.
    """
    map_memory(length, _PROT_READ | _PROT_WRITE, _MAP_PRIVATE | _MAP_ANONYMOUS | _MAP_FIXED,
        -1, 0, address)


def fill_holes(address: int, length: int) -> int:
    """Put private zero-filled pages wherever ``[address, address + length)`` has none.

    Return how many pages were filled.  ``address`` must be page-aligned.

    A process forked from one that advised pages ``MADV_DONTFORK`` does not
    inherit those pages: they are simply missing from its address space,
    and the first touch kills it with SIGSEGV.  This finds the holes and
    fills them, without ever mapping over a page that is there.

    ``mincore(2)`` answers for a whole range at once: it fails with ENOMEM
    if any page of it is unmapped.  ``MAP_FIXED_NOREPLACE`` maps a range
    only if all of it is free (older kernels ignore the flag and treat the
    address as a hint: a mapping placed elsewhere means "not free" just
    the same).  A range that is neither all there nor all free is halved,
    so each hole costs a few calls, not one per page.
    """
    pages = (length + PAGESIZE - 1) // PAGESIZE
    vec = (c_ubyte * max(pages, 1))()
    filled = 0
    pending = [(address, pages)]
    while pending:
        start, count = pending.pop()
        size = count * PAGESIZE
        try:
            _syscall("mincore", _mincore, (start, size, vec), -1)
            continue  # every page is there
        except OSError as exc:
            if exc.errno != _errno.ENOMEM:
                raise
        try:
            got = map_memory(size, _PROT_READ | _PROT_WRITE, _MAP_PRIVATE | _MAP_ANONYMOUS | _MAP_NOREPLACE,
                      -1, 0, start)
        except OSError as exc:
            if exc.errno != _errno.EEXIST:
                raise
            got = None
        if got == start:
            filled += count
            continue
        if got is not None:
            unmap(got, size)
        if count == 1:  # neither there nor free: the kernel would not place it
            _raise_errno(_errno.ENOMEM)
        half = count // 2
        pending.append((start + half * PAGESIZE, count - half))
        pending.append((start, half))
    return filled


def flush(address: int, length: int, flags: int) -> None:
    """Wrapper around msync(2): write dirty pages of a shared file mapping back."""
    _syscall("msync", _msync, (address, length, flags), -1)


def remap(address: int, old_length: int, new_length: int, may_move: bool = True) -> int:
    """Wrapper around mremap(2) (Linux): grow or shrink a mapping; return its address."""
    if _mremap is None:
        unsupported("mremap")
    flags = _TABLE["MREMAP_MAYMOVE"] if may_move else 0
    return int(_syscall("mremap", _mremap, (address, old_length, new_length, flags), MAP_FAILED))


def advise(address: int, length: int, advice: int) -> None:
    """Wrapper around madvise(2)."""
    try:
        _syscall("madvise", _madvise, (address, length, advice), -1)
    except OSError as exc:
        if exc.errno == _errno.EINVAL and advice == _TABLE.get("MADV_HUGEPAGE"):
            exc.filename = ("transparent huge pages are not available: "
                            "see /sys/kernel/mm/transparent_hugepage/enabled")
        raise


def protect(address: int, length: int, prot: int) -> None:
    """Wrapper around mprotect(2)."""
    _syscall("mprotect", _mprotect, (address, length, prot), -1)


def lock(address: int, length: int) -> None:
    """Wrapper around mlock(2): keep the pages in RAM."""
    try:
        _syscall("mlock", _mlock, (address, length), -1)
    except OSError as exc:
        if exc.errno in (_errno.ENOMEM, _errno.EPERM):
            # Unprivileged processes get ENOMEM past their limit, and EPERM
            # when the limit is 0.
            exc.filename = "locked memory is limited by RLIMIT_MEMLOCK (see ulimit -l)"
        raise


def unlock(address: int, length: int) -> None:
    """Wrapper around munlock(2)."""
    _syscall("munlock", _munlock, (address, length), -1)


_RESIDENT_BIT = bytes(i & 1 for i in range(256))


def resident(address: int, length: int) -> bytes:
    """Wrapper around mincore(2): one byte per page, 1 if it is in RAM, else 0.

    ``address`` must be page-aligned.
    """
    pages = (length + PAGESIZE - 1) // PAGESIZE
    vec = (c_ubyte * max(pages, 1))()
    _syscall("mincore", _mincore, (address, length, vec), -1)
    # Only the lowest bit is defined; the others are reserved.
    return bytes(vec)[:pages].translate(_RESIDENT_BIT)


def page_flags(address: int, length: int) -> Tuple[int, ...]:
    """Return this process's ``/proc/self/pagemap`` entry for each page of the range (Linux).

    One 64-bit word per page of our address space, at byte ``8 * (address
    // PAGESIZE)`` of the file: bit 63 the page is present in our page
    table, bit 62 it is in swap, bit 61 it is a file page or shared
    anonymous memory (clear: private anonymous memory, such as a
    copy-on-write copy), bit 56 it is mapped by this process alone.  (The
    page frame number, in the low bits, reads as 0 unless we are root.)
    ``address`` must be page-aligned.  ``OSError`` where there is no such
    file (other systems, or ``/proc`` not mounted).
    """
    pages = (length + PAGESIZE - 1) // PAGESIZE
    fd = os_call("open", os.open, ("/proc/self/pagemap", os.O_RDONLY | os.O_CLOEXEC))
    try:
        data = os_call("pread", os.pread, (fd, 8 * pages, 8 * (address // PAGESIZE)))
    finally:
        os.close(fd)
    return struct.unpack(f"={len(data) // 8}Q", data)


# int cachestat(unsigned int fd, struct cachestat_range *range, struct cachestat *cstat,
#               unsigned int flags);  (Linux 6.5+; no C library wraps it yet: syscall(2))


class cachestat_range(ctypes.Structure):
    """``struct cachestat_range``: the bytes of the file to ask about (len 0: to its end)."""

    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class cachestat_result(ctypes.Structure):
    """``struct cachestat``: what the page cache holds of a range of a file, in pages."""

    _fields_ = [(name, ctypes.c_uint64) for name in
                ("nr_cache", "nr_dirty", "nr_writeback", "nr_evicted", "nr_recently_evicted")]


_cachestat = _declare("syscall", ctypes.c_long, (ctypes.c_long, c_uint, ctypes.POINTER(cachestat_range),
                                                 ctypes.POINTER(cachestat_result), c_uint))
_NR_CACHESTAT = 451  # the same number on every architecture (the unified table's)


def cachestat(fd: int, offset: int, length: int) -> cachestat_result:
    """Wrapper around cachestat(2) (Linux 6.5+): the page cache's state of ``length`` bytes of ``fd``.

    ``nr_cache`` pages are cached, ``nr_dirty`` of them changed and not yet
    written back, ``nr_writeback`` being written now.  ``OSError`` ENOSYS
    on older kernels (or where a seccomp profile forbids it), and a kernel
    may refuse it (EPERM) for a file this user could not write.
    """
    if _cachestat is None or not sys.platform.startswith("linux"):
        unsupported("cachestat")
    result = cachestat_result()
    _syscall("cachestat", _cachestat, (_NR_CACHESTAT, fd, cachestat_range(offset, length), result, 0), -1)
    return result


def set_anon_name(address: int, length: int, name: Optional[bytes]) -> None:
    """Name an anonymous mapping, as shown in /proc/self/maps (Linux 5.17+).

    Wrapper around ``prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, ...)``.
    """
    if not HAS_ANON_NAME:
        unsupported("prctl(PR_SET_VMA)")
    buf = ctypes.create_string_buffer(name) if name is not None else None
    pointer = ctypes.addressof(buf) if buf is not None else 0
    try:
        _syscall("prctl", _prctl, (_PR_SET_VMA, _PR_SET_VMA_ANON_NAME, address, length, pointer), -1)
    except OSError as exc:
        if exc.errno == _errno.EINVAL:
            # The usual cause; errno and strerror stay as the kernel said.
            exc.filename = "naming mappings needs Linux 5.17+ built with CONFIG_ANON_VMA_NAME"
        raise


def file_size(fd: int) -> int:
    """Return the size of the file behind ``fd`` (fstat(2)).

    Through ``os.stat(fd)`` where ``fd`` can be a descriptor at all: it
    makes the same ``fstat(2)`` call as ``os.fstat(fd)``, and costs the same
    on CPython, but on PyPy 0.2 us against 1.5 us (``m.size()`` asks it
    every time).  ``os.stat(-1)`` would not say ``EBADF``: negative
    numbers go to ``os.fstat``.
    """
    return int(os_call("fstat", os.stat if fd >= 0 else os.fstat, (fd,)).st_size)


def is_regular_file(fd: int) -> Optional[int]:
    """Return the size of ``fd`` if it is a regular file, else None; never raises.

    ``os.stat(fd)`` makes the same ``fstat(2)`` call as ``os.fstat(fd)``,
    and costs the same on CPython; on PyPy it costs 0.7 us against 2.5 us
    for ``os.fstat``, a third of what PyPy's own ``mmap(fd, 0)`` takes.
    """
    try:
        st = os_call("fstat", os.stat, (fd,))  # (traced: the constructor asks it, as the C module does)
    except (OSError, OverflowError):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


# BLKGETSIZE64 is _IOR(0x12, 114, size_t): the request number holds the size
# of size_t (bits 16-28), so a 32-bit process asks with 0x80041272 where a
# 64-bit one asks with the tables' 0x80081272 (Linux answers both with a
# 64-bit size).
_BLKGETSIZE64 = _TABLE.get("_BLKGETSIZE64")
if _BLKGETSIZE64 is not None:
    _BLKGETSIZE64 = _BLKGETSIZE64 & ~0x1FFF0000 | ctypes.sizeof(c_size_t) << 16


def device_size(fd: int) -> Optional[int]:
    """Return the size of the block device behind ``fd``, else None; never raises.

    ``fstat(2)`` reports a size of 0 for a disk or partition (its
    ``st_size`` is meaningless there), so the usual check that a map fits
    in its file cannot see that a map runs past the end of the device, and
    reading there dies with SIGBUS.  Linux tells the real size through the
    ``BLKGETSIZE64`` ioctl.  Other systems (and other kinds of files): None.
    """
    request = _BLKGETSIZE64
    try:
        if request is None or not stat.S_ISBLK(os.fstat(fd).st_mode):
            return None
        size = ctypes.c_uint64()
        os_call("ioctl", fcntl.ioctl, (fd, request, size))
    except (OSError, OverflowError):
        return None
    return size.value


def truncate(fd: int, length: int) -> None:
    """Set the size of the file behind ``fd`` (ftruncate(2))."""
    os_call("ftruncate", os.ftruncate, (fd, length))


#: ``fcntl(fd, F_DUPFD_CLOEXEC, 0)``: a duplicate closed on exec, in one call.
#: (Where Python's fcntl module lacks the name, as on PyPy 3.9, os.dup makes
#: the same copy.)
_F_DUPFD_CLOEXEC: Optional[int] = getattr(fcntl, "F_DUPFD_CLOEXEC", None)


def dup(fd: int) -> int:
    """Duplicate ``fd``; the copy is not inherited by child programs.

    ``fcntl(fd, F_DUPFD_CLOEXEC, 0)``, the call ``os.dup`` makes too on
    Linux, made here itself so that the trace names it as it is.
    """
    if _F_DUPFD_CLOEXEC is None or fd < 0:  # (PyPy 3.9; and EBADF, as dup(2) says, for -1)
        return int(os_call("dup", os.dup, (fd,)))
    return int(os_call("fcntl", fcntl.fcntl, (fd, _F_DUPFD_CLOEXEC, 0)))


def close_fd(fd: int) -> None:
    """Close ``fd`` (close(2))."""
    os_call("close", os.close, (fd,))


# --- copies the kernel makes for us: a fault becomes an error (checked maps) ------
#
# A load from a page that has nothing behind it any more (the file was cut
# short) makes the CPU fault, and the kernel answers by sending the process
# SIGBUS.  The same page read *by the kernel*, on the process's behalf,
# makes the copy fail instead: the call returns a short count, or -1 with
# EFAULT (process_vm_readv) or EIO (/proc/self/mem).  Checked maps
# (pymmap.checked) read and write their memory only this way.

#: One ``struct iovec {void *iov_base; size_t iov_len;}``.  Made anew for
#: each call: ctypes lets other threads run during the call, and the kernel
#: reads the vectors only once it is inside it.  (Passed as ctypes objects,
#: not addresses, so that the trace, which may print them later, keeps them.)
_IOVEC = c_size_t * 2
#: Reads larger than this go straight into a new ``bytes`` object (below);
#: smaller ones through a ctypes buffer, which costs fewer foreign calls.
_DIRECT_READ = 1 << 16

if not PYPY:
    # PyObject *PyBytes_FromStringAndSize(const char *v, Py_ssize_t len);
    # char *PyBytes_AsString(PyObject *o);
    # The C API's documented way to fill a new bytes object: made with
    # v=NULL, its contents are uninitialised, and may be written until it is
    # shared.  A large read then costs one copy (the kernel's), not two.
    _new_bytes = ctypes.pythonapi.PyBytes_FromStringAndSize
    _new_bytes.restype = ctypes.py_object
    _new_bytes.argtypes = (c_void_p, ctypes.c_ssize_t)
    _bytes_buffer = ctypes.pythonapi.PyBytes_AsString
    _bytes_buffer.restype = c_void_p
    _bytes_buffer.argtypes = (ctypes.py_object,)


def _vm_call(name: str, fn: Any, local: int, remote: int, count: int) -> int:
    """Internal: one ``process_vm_readv``/``writev`` of ``count`` bytes on our own pid; the count copied."""
    # (os.getpid() each time: a child forked by any means reads its own memory.)
    return int(_syscall(name, fn, (os.getpid(), _IOVEC(local, count), 1, _IOVEC(remote, count), 1, 0), -1))


def _vm_read(address: int, count: int) -> bytes:
    """Internal: :func:`read_memory` through ``process_vm_readv(2)``."""
    if count <= 0:
        return b""
    if count > _DIRECT_READ and not PYPY:
        data = _new_bytes(None, count)
        got = _vm_call("process_vm_readv", _process_vm_readv, _bytes_buffer(data), address, count)
        return data if got == count else data[:got]  # type: ignore[no-any-return]
    buf = ctypes.create_string_buffer(count)
    got = _vm_call("process_vm_readv", _process_vm_readv, ctypes.addressof(buf), address, count)
    return buf.raw if got == count else buf.raw[:got]


def _vm_write(address: int, data: bytes) -> int:
    """Internal: :func:`write_memory` through ``process_vm_writev(2)``."""
    count = len(data)
    if count == 0:
        return 0
    if count > _DIRECT_READ and data.__class__ is bytes:
        # The kernel copies straight from the bytes object's own buffer
        # (c_char_p points into it, and is held until the call returns).
        source: Any = c_char_p(data)
        local = ctypes.cast(source, c_void_p).value or 0
    else:
        source = (ctypes.c_char * count).from_buffer_copy(data)
        local = ctypes.addressof(source)
    return _vm_call("process_vm_writev", _process_vm_writev, local, address, count)


class _ProcMem:
    """Internal: ``/proc/self/mem``, the fallback: this process's memory as a file.

    ``pread``/``pwrite`` at offset *address* copy to and from memory at that
    address, through the kernel.  The descriptor stands for the memory of
    the process that opened it, so a forked child opens its own (the pid is
    compared on each call); and since any code may close a descriptor that
    is not its own (``os.closerange``) and open something else under its
    number, each call first checks that the descriptor is still this file
    (``fstat``), before it could write to another.
    """

    def __init__(self) -> None:
        self._lock = Lock()
        self._state: Tuple[int, int, int, int] = (-1, -1, -1, -1)  # fd, pid, st_dev, st_ino

    def _still_ours(self) -> int:
        """Internal: the descriptor, if it is still this process's ``/proc/self/mem``; else -1."""
        fd, pid, dev, ino = self._state
        if pid == os.getpid():
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) == (dev, ino):
                return fd
        return -1

    def _fd(self) -> int:
        fd = self._still_ours()
        if fd >= 0:
            return fd
        with self._lock:
            fd = self._still_ours()  # (another thread may have reopened it)
            if fd >= 0:
                return fd
            fd = os_call("open", os.open, ("/proc/self/mem", os.O_RDWR | os.O_CLOEXEC))
            st = os.fstat(fd)
            # (An old descriptor of ours, in a forked child, is left open:
            # closing it there could close someone else's file.)
            self._state = (fd, os.getpid(), st.st_dev, st.st_ino)
            return int(fd)

    def read(self, address: int, count: int) -> bytes:
        if count <= 0:
            return b""
        return bytes(os_call("pread", os.pread, (self._fd(), count, address)))

    def write(self, address: int, data: bytes) -> int:
        if not data:
            return 0
        return int(os_call("pwrite", os.pwrite, (self._fd(), data, address)))


_proc_mem = _ProcMem()


def _bind_kernel_copies_with_cffi() -> Tuple[Callable[[int, int], bytes], Callable[[int, bytes], int]]:
    """Internal (PyPy, 64-bit): :func:`_vm_read` and :func:`_vm_write` through cffi.

    On PyPy, ctypes' buffers are slow to make and to copy (a byte at a
    time: 30 ms to store 1 MiB), and its calls cost microseconds; cffi's
    ``char[]`` buffers are made and copied with ``memcpy``, and the JIT
    compiles its calls.  The same calls, the same trace: the vectors are
    ``size_t[2]`` pairs (address, length), which is what a ``struct iovec``
    is on a 64-bit system.
    """
    import _cffi_backend as cffi  # cffi's core, part of PyPy itself

    void_p = cffi.new_pointer_type(cffi.new_void_type())
    size_t, c_int, ssize_t, ulong, uintptr_t = (
        cffi.new_primitive_type(name) for name in ("size_t", "int", "ssize_t", "unsigned long", "uintptr_t"))
    iovec = cffi.new_array_type(cffi.new_pointer_type(size_t), 2)
    chars = cffi.new_array_type(cffi.new_pointer_type(cffi.new_primitive_type("char")), None)
    function = cffi.new_function_type((c_int, void_p, ulong, void_p, ulong, ulong), ssize_t, False)
    libc = cffi.load_library(None)

    def wrapped(name: str) -> Callable[..., int]:
        c_call = libc.load_function(function, name)

        def run(pid: int, local_iov: Any, local_count: int, remote_iov: Any, remote_count: int,
                flags: int) -> int:
            result: int = c_call(pid, local_iov, local_count, remote_iov, remote_count, flags)
            if result == -1:
                ctypes.set_errno(cffi.get_errno())
            return result
        return run

    # (Made once: each copy is on a hot path.)
    calls = {name: wrapped(name) for name in ("process_vm_readv", "process_vm_writev")}

    def call(name: str, local: Any, count: int, address: int) -> int:
        run = calls[name]
        mine = cffi.newp(iovec, [int(cffi.cast(uintptr_t, local)), count])
        theirs = cffi.newp(iovec, [address, count])  # (ours too: the same process)
        return int(_syscall(name, run, (os.getpid(), mine, 1, theirs, 1, 0), -1))

    def read(address: int, count: int) -> bytes:
        if count <= 0:
            return b""
        buf = cffi.newp(chars, count)
        got = call("process_vm_readv", buf, count, address)
        return cffi.buffer(buf, got)[:]  # type: ignore[no-any-return]

    def write(address: int, data: bytes) -> int:
        count = len(data)
        if count == 0:
            return 0
        buf = cffi.newp(chars, count)
        cffi.memmove(buf, data, count)
        return call("process_vm_writev", buf, count, address)

    return read, write


_vm_copies: Tuple[Callable[[int, int], bytes], Callable[[int, bytes], int]] = (_vm_read, _vm_write)
if PYPY and ctypes.sizeof(c_void_p) == 8 and _process_vm_readv is not None and _process_vm_writev is not None:
    _vm_copies = _bind_kernel_copies_with_cffi()

_VM_CALLS = KernelCopies("process_vm_readv", *_vm_copies)
_PROC_MEM = KernelCopies("/proc/self/mem", _proc_mem.read, _proc_mem.write)
_kernel_copies: Optional[KernelCopies] = None


def _works(copies: KernelCopies) -> None:
    """Internal: raise ``OSError`` unless ``copies`` reads and writes this process's memory."""
    source = ctypes.create_string_buffer(b"pymmap", 8)
    target = ctypes.create_string_buffer(8)
    if copies.read(ctypes.addressof(source), 8) != source.raw:
        raise oserror(_errno.EIO)
    if copies.write(ctypes.addressof(target), source.raw) != 8 or target.raw != source.raw:
        raise oserror(_errno.EIO)


def kernel_copies() -> KernelCopies:
    """Return the kernel copies this system allows (the first checked map tries them).

    ``process_vm_readv(2)``/``process_vm_writev(2)`` on our own pid first:
    no descriptor to keep, and a forked child reads its own memory by
    construction.  Where a seccomp profile refuses them (``EPERM``,
    ``ENOSYS``), or the C library lacks them, ``/proc/self/mem``.  If
    neither works, ``OSError`` says why each failed.  (macOS has neither;
    a checked map there would need ``mach_vm_read_overwrite``.)
    """
    global _kernel_copies
    if _kernel_copies is not None:
        return _kernel_copies
    reasons = []
    for copies in (_VM_CALLS, _PROC_MEM):
        if copies is _VM_CALLS and (_process_vm_readv is None or _process_vm_writev is None):
            reasons.append("process_vm_readv: not in this C library")
            continue
        try:
            _works(copies)
        except OSError as exc:
            reasons.append(f"{copies.name}: {exc}")
            continue
        _kernel_copies = copies
        return copies
    if sys.platform == "darwin":
        reasons.append("macOS has neither (a checked map there would need mach_vm_read_overwrite, "
                       "which pymmap does not use)")
    error = oserror(_errno.ENOSYS)
    error.filename = "checked=True needs process_vm_readv(2) or /proc/self/mem (Linux): " + "; ".join(reasons)
    raise error


# --- copies and searches: not system calls, no tracing, on the hot path ---------

#: ``move(dest, src, n)`` copies ``n`` bytes; the ranges may overlap.
move = ctypes.memmove

# The searches take a length as a size_t: a negative one (a caller's
# off-by-one) would become a search of most of the address space, and end
# in SIGSEGV.  An empty or negative range holds nothing: -1, and no C call.


def find(address: int, length: int, needle: bytes) -> int:
    """Return the offset of the first ``needle`` in ``[address, address+length)``, or -1 (memmem(3))."""
    if length <= 0:
        return -1
    hit = _memmem(address, length, needle, len(needle))
    return -1 if hit is None else hit - address


def find_byte(address: int, length: int, byte: int) -> int:
    """Return the offset of the first ``byte`` in the range, or -1 (memchr(3))."""
    if length <= 0:
        return -1
    hit = _memchr(address, byte, length)
    return -1 if hit is None else hit - address


def rfind_byte(address: int, length: int, byte: int) -> int:
    """Return the offset of the last ``byte`` in the range, or -1 (memrchr(3))."""
    if length <= 0:
        return -1
    if _memrchr is None:  # pragma: no cover - macOS has no memrchr
        data = ctypes.string_at(address, length)
        return data.rfind(bytes((byte,)))
    hit = _memrchr(address, byte, length)
    return -1 if hit is None else hit - address


# --- shared memory: POSIX objects and System V segments ---------------------------


def shm_open(name: bytes, writable: bool, create: bool, mode: int = 0o600) -> int:
    """Wrapper around shm_open(3): open a POSIX shared memory object; return a descriptor.

    On Linux the object is a file in the memory-backed file system mounted
    at ``/dev/shm``, and ``name`` (``b"/something"``) finds it from any
    process.  ``create`` adds ``O_CREAT|O_EXCL``: make a new, empty object
    with permissions ``mode``, or fail with EEXIST if the name is taken.
    The C library opens the descriptor close-on-exec.
    """
    if not HAS_SHM_OPEN:  # pragma: no cover - every libc pymmap runs on has it
        unsupported("shm_open")
    flags = os.O_RDWR if writable else os.O_RDONLY
    if create:
        flags |= os.O_CREAT | os.O_EXCL
    return int(_syscall("shm_open", _shm_open, (name, flags, mode), -1))


def shm_unlink(name: bytes) -> None:
    """Wrapper around shm_unlink(3): remove a POSIX shared memory object's name.

    Maps and descriptors already open keep the memory until they are closed.
    """
    if not HAS_SHM_OPEN:  # pragma: no cover
        unsupported("shm_unlink")
    _syscall("shm_unlink", _shm_unlink, (name,), -1)


def _check_sysv() -> None:
    """Internal: raise ENOSYS where pymmap does not know this system's ``shmid_ds``."""
    if not HAS_SYSV_SHM:  # pragma: no cover - exercised only on other systems
        unsupported("shmget")


def shm_get(key: int, size: int, create: bool, mode: int = 0o600) -> int:
    """Wrapper around shmget(2): the id of the System V segment named ``key``.

    ``create`` passes ``IPC_CREAT|IPC_EXCL``: make a new segment of ``size``
    bytes (zero-filled, permissions ``mode``), or fail with EEXIST.  Without
    it, the segment must exist, ``size`` may be 0, and the flags are 0: the
    permissions are checked by ``shmat`` against the access it asks for.
    """
    _check_sysv()
    flags = mode | _TABLE["_IPC_CREAT"] | _TABLE["_IPC_EXCL"] if create else 0
    return int(_syscall("shmget", _shmget, (key, size, flags), -1))


def shm_attach(shmid: int, writable: bool) -> int:
    """Wrapper around shmat(2): map segment ``shmid`` into this process; return its address.

    The kernel picks the address and maps the whole segment, rounded up to
    whole pages, read-only with ``SHM_RDONLY``.  Failure is ``(void *) -1``.
    """
    _check_sysv()
    flags = 0 if writable else _TABLE["_SHM_RDONLY"]
    return int(_syscall("shmat", _shmat, (shmid, None, flags), MAP_FAILED))


def shm_detach(address: int, length: int) -> None:
    """Wrapper around shmdt(2): unmap the segment attached at ``address``.

    ``length`` is not needed (the kernel knows the segment's size); it is
    accepted so that this function can stand in for :func:`unmap`.
    """
    _syscall("shmdt", _shmdt, (address,), -1)


def shm_stat(shmid: int) -> shmid_ds:
    """Wrapper around ``shmctl(shmid, IPC_STAT)``: the segment's size, owner and attachments."""
    _check_sysv()
    info = shmid_ds()
    _syscall("shmctl", _shmctl, (shmid, _TABLE["_IPC_STAT"], info), -1)
    return info


def shm_remove(shmid: int) -> None:
    """Wrapper around ``shmctl(shmid, IPC_RMID)``: destroy the segment after its last detach.

    The key is freed at once: ``shmget`` no longer finds it.
    """
    _check_sysv()
    _syscall("shmctl", _shmctl, (shmid, _TABLE["_IPC_RMID"], None), -1)
