"""The check every platform test makes of a failed call: its errno, with the C library's message.

A backend turns ``errno`` into ``OSError`` in one place (``oserror``);
these tests hold each wrapper to it: the error is an ``OSError`` (or a
subclass, as ``OSError`` picks by errno), and its ``strerror`` is what
``strerror(3)`` says for that errno.
"""

import os

import pytest


def errno_of(call, *args):
    """Call ``call(*args)``, which must raise ``OSError`` with the C library's message; return the errno."""
    with pytest.raises(OSError) as info:
        call(*args)
    assert info.value.strerror == os.strerror(info.value.errno)
    return info.value.errno
