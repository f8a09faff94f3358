"""The errors every layer of pymmap raises for the same reasons, each defined once.

The messages are the C module's, where it has one: code that matches on
them (and CPython's own tests do) sees no difference.
"""

import errno
import os

__all__ = ["SizeError", "closed", "empty_mapping", "inaccessible", "readonly", "refused"]


def closed() -> ValueError:
    """Return the error for any use of a closed map (the C module's message)."""
    return ValueError("mmap closed or invalid")


def readonly() -> TypeError:
    """Return the error for writing to a read-only map or page (the C module's message)."""
    return TypeError("mmap can't modify a readonly memory map.")


def inaccessible() -> ValueError:
    """Return the error for reading or writing a ``PROT_NONE`` page (pymmap's own)."""
    return ValueError("mmap range is not accessible (PROT_NONE)")


def refused() -> BufferError:
    """Return the error for lending a checked map's memory: buffers and records (:mod:`pymmap.checked`)."""
    return BufferError(
        "a checked map (checked=True) lends no memory: code reading it directly would not be "
        "checked, and a page past the end of a truncated file would kill the process. "
        "Copy the bytes instead (m[a:b], m.read()), or use m.find(), m.unpack_from() or m.typed()")


def empty_mapping() -> OSError:
    """Return the error for ``resize(0)``: what ``mremap(2)`` says (``EINVAL``), on every platform.

    No mapping can be 0 bytes long; pymmap refuses before it touches the
    file, with the errno the C module's ``resize(0)`` ends with on Linux.
    """
    return OSError(errno.EINVAL, os.strerror(errno.EINVAL))


class SizeError(OSError, ValueError):
    """The error of ``size()`` on a map made with ``trackfd=False``: it has no descriptor to ask.

    CPython 3.13 and 3.14 raise ``OSError`` (``EBADF``) there, 3.15
    ``ValueError``; this class is both, as ``io.UnsupportedOperation`` is,
    so that code written for either version catches it.
    """
