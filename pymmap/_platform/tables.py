"""Constant tables: the numbers behind ``PROT_*``, ``MAP_*``, ``MADV_*`` and ``MS_*``.

The C ``mmap`` module gets these numbers from the system headers when it is
compiled.  A pure-Python library has no compiler, so it carries the headers'
values itself, one table per platform, and picks the right table once at
import time (:func:`select`).

Most Linux architectures share ``<asm-generic/mman-common.h>`` and
``<asm-generic/mman.h>``.  A few older ones (Alpha, MIPS, PA-RISC, PowerPC,
SPARC, Xtensa) number some flags differently in their own
``arch/<arch>/include/uapi/asm/mman.h``; their tables below start from the
generic one and override what differs.  The BSD family and macOS have their own
``<sys/mman.h>``.

What else differs between the systems, besides the numbers:

* ``mremap(2)`` exists only on Linux.  Elsewhere the platform layer reports
  ``HAS_REMAP = False`` and :meth:`pymmap.MappedRegion.resize` maps the file
  again (copying anonymous and private maps) instead.
* ``MAP_ANON`` is the BSD spelling, ``MAP_ANONYMOUS`` the Linux one; every
  table has both, with the same value, as the C module exports both.
* ``msync(2)``'s ``MS_SYNC`` is 4 on most of Linux, 2 on Alpha, 1 on PA-RISC,
  0x10 on macOS and 0 on FreeBSD (where "synchronous" is the default).
* ``off_t`` is 64 bits on macOS, FreeBSD (even on 32-bit CPUs), musl and
  64-bit glibc; 32-bit glibc keeps a 32-bit ``off_t`` in ``mmap`` and has
  ``mmap64`` for the 64-bit one, which ``posix.py`` uses where it exists.
* ``shm_open(3)`` is in the C library on macOS, FreeBSD, musl and glibc
  2.34 or later; older glibc keeps it in ``librt``.

Each table also records, under names starting with ``_``, what the platform
layer needs from the C headers but does not export: the ``sysconf`` name of
the page size, and on Linux the System V ``IPC_*`` and ``SHM_*`` numbers.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing's flag, without importing typing: see pymmap/__init__.py
if TYPE_CHECKING:
    from typing import Dict

__all__ = [
    "DARWIN",
    "FREEBSD",
    "LINUX_ALPHA",
    "LINUX_GENERIC",
    "LINUX_MIPS",
    "LINUX_PARISC",
    "LINUX_POWERPC",
    "LINUX_SPARC",
    "LINUX_X86",
    "LINUX_XTENSA",
    "TABLES",
    "linux_table_for",
    "select",
]

# --- Linux, <asm-generic/mman-common.h>, <asm-generic/mman.h>, <linux/mman.h> ---
# Used by x86, x86-64, ARM, AArch64, RISC-V, LoongArch, s390x and others.
LINUX_GENERIC: Dict[str, int] = {
    "PROT_NONE": 0x0,
    "PROT_READ": 0x1,
    "PROT_WRITE": 0x2,
    "PROT_EXEC": 0x4,
    "MAP_SHARED": 0x01,
    "MAP_PRIVATE": 0x02,
    "MAP_SHARED_VALIDATE": 0x03,
    "MAP_ANONYMOUS": 0x20,
    "MAP_ANON": 0x20,
    "MAP_GROWSDOWN": 0x0100,
    "MAP_DENYWRITE": 0x0800,
    "MAP_EXECUTABLE": 0x1000,
    "MAP_LOCKED": 0x2000,
    "MAP_NORESERVE": 0x4000,
    "MAP_POPULATE": 0x8000,
    "MAP_NONBLOCK": 0x10000,
    "MAP_STACK": 0x20000,
    "MAP_HUGETLB": 0x40000,
    "MAP_SYNC": 0x80000,
    "MADV_NORMAL": 0,
    "MADV_RANDOM": 1,
    "MADV_SEQUENTIAL": 2,
    "MADV_WILLNEED": 3,
    "MADV_DONTNEED": 4,
    "MADV_FREE": 8,
    "MADV_REMOVE": 9,
    "MADV_DONTFORK": 10,
    "MADV_DOFORK": 11,
    "MADV_MERGEABLE": 12,
    "MADV_UNMERGEABLE": 13,
    "MADV_HUGEPAGE": 14,
    "MADV_NOHUGEPAGE": 15,
    "MADV_DONTDUMP": 16,
    "MADV_DODUMP": 17,
    "MADV_WIPEONFORK": 18,
    "MADV_KEEPONFORK": 19,
    "MADV_COLD": 20,
    "MADV_PAGEOUT": 21,
    "MADV_POPULATE_READ": 22,
    "MADV_POPULATE_WRITE": 23,
    "MADV_HWPOISON": 100,
    "MADV_SOFT_OFFLINE": 101,
    "MS_ASYNC": 1,
    "MS_INVALIDATE": 2,
    "MS_SYNC": 4,
    "MAP_FIXED": 0x10,
    # Exported by pymmap (as by PyPy's mmap), though not by CPython's.
    "MREMAP_MAYMOVE": 1,
    # Not constants of the mmap module: what the platform layer needs besides.
    "_SC_PAGESIZE": 30,
    # System V shared memory, <linux/ipc.h> and <linux/shm.h>: the same on
    # every Linux architecture.
    "_IPC_CREAT": 0o1000,
    "_IPC_EXCL": 0o2000,
    "_IPC_RMID": 0,
    "_IPC_STAT": 2,
    "_SHM_RDONLY": 0o10000,
    # The size of a block device in bytes (<linux/fs.h>): _IOR(0x12, 114,
    # size_t), which <asm-generic/ioctl.h> encodes with the read bit at bit 31.
    "_BLKGETSIZE64": 0x80081272,
}

# Alpha, MIPS, PA-RISC, PowerPC, SPARC and Xtensa encode ioctl numbers with
# the read direction at bit 30 instead (their <asm/ioctl.h>).
_IOR_BIT30_BLKGETSIZE64 = 0x40081272

# x86 and x86-64 add MAP_32BIT (<asm/mman.h> of arch/x86).
LINUX_X86: Dict[str, int] = dict(LINUX_GENERIC, MAP_32BIT=0x40)

# arch/alpha/include/uapi/asm/mman.h
LINUX_ALPHA: Dict[str, int] = dict(
    LINUX_GENERIC,
    MAP_ANONYMOUS=0x10,
    MAP_ANON=0x10,
    MAP_FIXED=0x100,
    MAP_GROWSDOWN=0x01000,
    MAP_DENYWRITE=0x02000,
    MAP_EXECUTABLE=0x04000,
    MAP_LOCKED=0x08000,
    MAP_NORESERVE=0x10000,
    MAP_POPULATE=0x20000,
    MAP_NONBLOCK=0x40000,
    MAP_STACK=0x80000,
    MAP_HUGETLB=0x100000,
    MS_ASYNC=1,
    MS_SYNC=2,
    MS_INVALIDATE=4,
    MADV_DONTNEED=6,
    _BLKGETSIZE64=_IOR_BIT30_BLKGETSIZE64,
)
del LINUX_ALPHA["MAP_SYNC"]

# arch/mips/include/uapi/asm/mman.h
LINUX_MIPS: Dict[str, int] = dict(
    LINUX_GENERIC,
    MAP_NORESERVE=0x0400,
    MAP_ANONYMOUS=0x0800,
    MAP_ANON=0x0800,
    MAP_GROWSDOWN=0x1000,
    MAP_DENYWRITE=0x2000,
    MAP_EXECUTABLE=0x4000,
    MAP_LOCKED=0x8000,
    MAP_POPULATE=0x10000,
    MAP_NONBLOCK=0x20000,
    MAP_STACK=0x40000,
    MAP_HUGETLB=0x80000,
    _BLKGETSIZE64=_IOR_BIT30_BLKGETSIZE64,
)
del LINUX_MIPS["MAP_SYNC"]

# arch/parisc/include/uapi/asm/mman.h
LINUX_PARISC: Dict[str, int] = dict(
    LINUX_GENERIC,
    MAP_FIXED=0x04,
    MAP_ANONYMOUS=0x10,
    MAP_ANON=0x10,
    MAP_DENYWRITE=0x0800,
    MAP_EXECUTABLE=0x1000,
    MAP_LOCKED=0x2000,
    MAP_NORESERVE=0x4000,
    MAP_GROWSDOWN=0x8000,
    MAP_POPULATE=0x10000,
    MAP_NONBLOCK=0x20000,
    MAP_STACK=0x40000,
    MAP_HUGETLB=0x80000,
    MS_SYNC=1,
    MS_ASYNC=2,
    MS_INVALIDATE=4,
    # Its MADV_* numbers are the generic ones since Linux 6.1 (and glibc
    # 2.37); before, MADV_MERGEABLE to MADV_KEEPONFORK were 65 to 72.
    _BLKGETSIZE64=_IOR_BIT30_BLKGETSIZE64,
)
del LINUX_PARISC["MAP_SYNC"]

# arch/powerpc/include/uapi/asm/mman.h
LINUX_POWERPC: Dict[str, int] = dict(
    LINUX_GENERIC,
    MAP_NORESERVE=0x40,
    MAP_LOCKED=0x80,
    _BLKGETSIZE64=_IOR_BIT30_BLKGETSIZE64,
)

# arch/sparc/include/uapi/asm/mman.h
LINUX_SPARC: Dict[str, int] = dict(
    LINUX_GENERIC,
    MAP_NORESERVE=0x40,
    MAP_LOCKED=0x100,
    MAP_GROWSDOWN=0x0200,
    _BLKGETSIZE64=_IOR_BIT30_BLKGETSIZE64,
)

# arch/xtensa/include/uapi/asm/mman.h: the MAP_* numbers of MIPS (both come
# from SGI's IRIX), without MAP_SYNC.
LINUX_XTENSA: Dict[str, int] = dict(LINUX_MIPS)

# macOS, bsd/sys/mman.h of XNU (the macOS SDK's <sys/mman.h>).  No mremap, no
# MAP_POPULATE.  MAP_32BIT is defined only when building for macOS 10.15 or
# later, MAP_TPRO since the macOS 14 SDK; the C module exports each one its
# SDK defines.
DARWIN: Dict[str, int] = {
    "PROT_NONE": 0x0,
    "PROT_READ": 0x1,
    "PROT_WRITE": 0x2,
    "PROT_EXEC": 0x4,
    "MAP_SHARED": 0x0001,
    "MAP_PRIVATE": 0x0002,
    "MAP_NORESERVE": 0x0040,
    "MAP_NOEXTEND": 0x0100,
    "MAP_HASSEMAPHORE": 0x0200,
    "MAP_NOCACHE": 0x0400,
    "MAP_JIT": 0x0800,
    "MAP_ANON": 0x1000,
    "MAP_ANONYMOUS": 0x1000,
    "MAP_RESILIENT_CODESIGN": 0x2000,
    "MAP_RESILIENT_MEDIA": 0x4000,
    "MAP_32BIT": 0x8000,
    "MAP_TRANSLATED_ALLOW_EXECUTE": 0x20000,
    "MAP_UNIX03": 0x40000,
    "MAP_TPRO": 0x80000,
    "MADV_NORMAL": 0,
    "MADV_RANDOM": 1,
    "MADV_SEQUENTIAL": 2,
    "MADV_WILLNEED": 3,
    "MADV_DONTNEED": 4,
    "MADV_FREE": 5,
    "MADV_ZERO_WIRED_PAGES": 6,
    "MADV_FREE_REUSABLE": 7,
    "MADV_FREE_REUSE": 8,
    "MADV_CAN_REUSE": 9,
    "MADV_PAGEOUT": 10,
    "MADV_ZERO": 11,
    "MS_ASYNC": 0x0001,
    "MS_INVALIDATE": 0x0002,
    "MS_SYNC": 0x0010,
    "MAP_FIXED": 0x0010,
    "_SC_PAGESIZE": 29,
}

# FreeBSD, sys/sys/mman.h.  No mremap; MS_SYNC is 0.  MAP_32BIT exists only
# on 64-bit systems (__LP64__).
FREEBSD: Dict[str, int] = {
    "PROT_NONE": 0x0,
    "PROT_READ": 0x1,
    "PROT_WRITE": 0x2,
    "PROT_EXEC": 0x4,
    "MAP_SHARED": 0x0001,
    "MAP_PRIVATE": 0x0002,
    "MAP_HASSEMAPHORE": 0x0200,
    "MAP_STACK": 0x0400,
    "MAP_NOSYNC": 0x0800,
    "MAP_ANON": 0x1000,
    "MAP_ANONYMOUS": 0x1000,
    "MAP_GUARD": 0x2000,
    "MAP_EXCL": 0x4000,
    "MAP_NOCORE": 0x20000,
    "MAP_PREFAULT_READ": 0x40000,
    "MAP_32BIT": 0x80000,
    "MAP_ALIGNED_SUPER": 1 << 24,  # MAP_ALIGNED(1): 1 << MAP_ALIGNMENT_SHIFT
    "MADV_NORMAL": 0,
    "MADV_RANDOM": 1,
    "MADV_SEQUENTIAL": 2,
    "MADV_WILLNEED": 3,
    "MADV_DONTNEED": 4,
    "MADV_FREE": 5,
    "MADV_NOSYNC": 6,
    "MADV_AUTOSYNC": 7,
    "MADV_NOCORE": 8,
    "MADV_CORE": 9,
    "MADV_PROTECT": 10,
    "MS_SYNC": 0x0000,
    "MS_ASYNC": 0x0001,
    "MS_INVALIDATE": 0x0002,
    "MAP_FIXED": 0x0010,
    "_SC_PAGESIZE": 47,
}

TABLES: Dict[str, Dict[str, int]] = {
    "linux-generic": LINUX_GENERIC,
    "linux-x86": LINUX_X86,
    "linux-alpha": LINUX_ALPHA,
    "linux-mips": LINUX_MIPS,
    "linux-parisc": LINUX_PARISC,
    "linux-powerpc": LINUX_POWERPC,
    "linux-sparc": LINUX_SPARC,
    "linux-xtensa": LINUX_XTENSA,
    "darwin": DARWIN,
    "freebsd": FREEBSD,
}

# Machine names as ``uname -m`` (``os.uname().machine``) spells them.
_LINUX_MACHINES = (
    (("x86_64", "amd64", "i386", "i486", "i586", "i686"), "linux-x86"),
    (("alpha",), "linux-alpha"),
    (("mips", "mips64", "mipsel", "mips64el"), "linux-mips"),
    (("parisc", "parisc64"), "linux-parisc"),
    (("ppc", "ppc64", "ppc64le", "ppcle"), "linux-powerpc"),
    (("sparc", "sparc64"), "linux-sparc"),
    (("xtensa",), "linux-xtensa"),
)


def linux_table_for(machine: str) -> str:
    """Return the name of the Linux table for a ``uname -m`` machine name."""
    machine = machine.lower()
    for names, table in _LINUX_MACHINES:
        if machine in names:
            return table
    return "linux-generic"


def select(system: str = sys.platform, machine: str = "") -> str:
    """Return the name of the table for ``system`` (a ``sys.platform`` value).

    Raises ImportError for a platform pymmap has no table for, naming it.
    """
    if system.startswith("linux"):
        # (os.uname(), not the platform module, which costs every import of pymmap a few ms.)
        table = linux_table_for(machine or os.uname().machine)
        # 32-bit x86 uses the same numbers; only off_t differs (see posix.py).
        return table
    if system == "darwin":
        return "darwin"
    if system.startswith("freebsd"):
        return "freebsd"
    raise ImportError(f"pymmap has no constant table for platform {system!r}")
