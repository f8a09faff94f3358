"""What changes when the suite runs under qemu-user instead of Linux itself.

``.ci/chroot`` runs a part of the suite (``.ci/run``'s EMULATED_TESTS) on
Debian 12's CPython for 32-bit ARM (armhf) and for the big-endian s390x,
under qemu-user 7.2, and sets ``PYMMAP_EMULATOR=qemu-user`` there.  The
architecture is real (4-byte pointers and ``long``, or big-endian words);
the kernel is not: qemu translates each system call, and some answers are
its own.  Each fact below was seen with a C program in the same chroot, or
with the stdlib's ``mmap`` in the same process, not only with pymmap:

* ``madvise`` accepts any advice (``madvise(-1)`` returns 0), and its
  ``mmap`` refuses ``MAP_SHARED_VALIDATE`` and a ``prot`` with unknown
  bits with ``EINVAL``, as the stdlib there sees too;
* ``msync``, ``mprotect``, ``munlock`` and ``mincore`` on addresses that are
  not mapped fail with other errnos than Linux's;
* ``VmSize`` in ``/proc/self/status`` is qemu's own process, whose
  translation cache grows as new guest code runs;
* for 32-bit ARM: ``mmap`` at a file offset of 4 GiB or more maps the
  file from its start (a C program's ``mmap`` with a 64-bit ``off_t`` reads
  the same zeros; CPython's own ``test_large_offset`` fails for the stdlib
  there too); System V shared memory (``shmget``) fails with ``ENOSYS``;
  and neither ``process_vm_readv`` (``ENOSYS``) nor ``/proc/self/mem``
  (``EIO``) reaches this process's memory, so ``checked=True`` is refused;
* for s390x: ``IPC_STAT`` stores a segment's 16-bit mode in the upper half
  of the 32-bit ``mode`` field (a C program reads ``0o140000000`` for
  ``0o600``).

Where a test checks one of these answers of Linux, it takes the emulated
system's answer from the stdlib in the same process (the same kernel,
the same interpreter), or says why it cannot run there.
"""

import os

import pytest

#: "qemu-user" under .ci/chroot's emulated architectures, else None.
EMULATOR = os.environ.get("PYMMAP_EMULATOR") or None


def linux_answer(what: str):
    """A mark for a test of an answer only Linux itself gives: skipped under an emulator, saying so."""
    return pytest.mark.skipif(
        EMULATOR is not None,
        reason=f"checks Linux's own answer ({what}); under {EMULATOR} the system calls are emulated "
               "(tests/emulation.py)")
