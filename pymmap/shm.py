"""Shared memory by name: the memory C programs share, as ``pymmap.mmap`` objects.

Two processes share memory when each maps the same pages.  Unrelated
programs find those pages by a name agreed in advance, and Linux offers
two kinds of name:

* **POSIX shared memory** (``shm_open(3)``): a name like ``"/sensors"``.
  The object is a file in the memory-backed file system at ``/dev/shm``,
  mapped like any file with ``mmap(2)``; it can grow with ``ftruncate``.
  :func:`shm_open` opens one, :func:`shm_unlink` removes its name.
* **System V shared memory** (``shmget(2)``, ``shmat(2)``): an integer
  *key*, often made with ``ftok(3)``.  The segment has a fixed size, and
  is mapped by ``shmat`` instead of ``mmap``, then let go with ``shmdt``.
  :func:`sysv_attach` attaches one, :func:`sysv_remove` removes it.

Both return an ordinary :class:`pymmap.mmap`.  That shows pymmap's layers
at work: the facade works over any :class:`~pymmap.region.MappedRegion`,
whatever made the mapping.  A POSIX object is a file, so the stdlib-style
constructor maps it; a System V segment is attached by ``shmat`` and
*adopted* by a region (:meth:`MappedRegion.adopt`) whose release is
``shmdt`` instead of ``munmap``.

The named memory outlives every process that maps it, until it is removed:
a program that creates a name should remove it when done.
"""

from __future__ import annotations

import os

from . import _args
from ._constructor import ACCESS_COPY, ACCESS_DEFAULT, ACCESS_WRITE, sharing
from ._platform import backend
from .facade import mmap
from .region import MappedRegion

TYPE_CHECKING = False  # typing's flag, without importing typing: see pymmap/__init__.py
if TYPE_CHECKING:
    from typing import Any, Union

    Name = Union[str, bytes, "os.PathLike[str]"]

__all__ = ["shm_open", "shm_unlink", "sysv_attach", "sysv_remove"]


#: Permissions of the objects and segments this module creates: owner only.
MODE = 0o600


def _require(feature: str, call: str) -> None:
    """Internal: where the platform lacks this kind of memory, refuse ``call`` as the backend does.

    (``ENOSYS`` on POSIX, ``ERROR_NOT_SUPPORTED`` on Windows; before any
    argument is looked at.)
    """
    if not getattr(backend, feature, False):
        backend.unsupported(call)


def _shm_name(name: Name) -> bytes:
    """Internal: a POSIX shared memory name as bytes, with its leading ``/``.

    POSIX wants names of the form ``/name``; a name without the slash gets
    one, as ``multiprocessing.shared_memory`` does.
    """
    raw = os.fsencode(name)
    if not raw.lstrip(b"/"):
        raise ValueError(f"shared memory name must not be empty, not {name!r}")
    return raw if raw.startswith(b"/") else b"/" + raw


def _size(size: Any, create: bool) -> int:
    """Internal: the ``size`` argument: positive when creating, else 0 or more."""
    value = _args.ssize(size)
    if value < 0:
        raise ValueError(f"shared memory size must not be negative, not {value}")
    if create and value == 0:
        raise ValueError("creating shared memory needs a size greater than 0")
    return value


def _access(access: Any) -> int:
    """Internal: ``ACCESS_READ``, ``ACCESS_WRITE`` or ``ACCESS_COPY`` (``ACCESS_DEFAULT`` is write)."""
    value = _args.c_int(access)
    sharing(value)  # (the C module's ValueError for any other number)
    return ACCESS_WRITE if value == ACCESS_DEFAULT else value


def shm_open(name: Name, size: int = 0, *, create: bool = False, access: int = ACCESS_WRITE,
             checked: bool = False) -> mmap:
    """Map the POSIX shared memory object ``name``; return a :class:`pymmap.mmap`.

    ``name`` is a ``str`` or ``bytes`` such as ``"/sensors"`` (the leading
    slash is added if missing).  ``shm_open(3)`` opens it; the map is made
    with ``mmap(2)``, like any file's, and the descriptor is closed again.

    * ``create=False`` (the default): the object must exist
      (``FileNotFoundError`` otherwise).  ``size=0`` maps all of it; a
      larger ``size`` than the object raises ``ValueError``.
    * ``create=True``: make a new object (``FileExistsError`` if the name
      is taken), owner-only (mode 0600), and set it to ``size`` bytes
      (``ftruncate(2)``; the bytes start as zeros).  ``size`` must be > 0.
      If mapping it then fails, the new name is removed again.

    ``access`` is ``ACCESS_WRITE`` (shared: other processes see the
    stores), ``ACCESS_READ`` or ``ACCESS_COPY`` (private copy-on-write).
    The map can be resized (the object grows or shrinks with it).
    Remove the name with :func:`shm_unlink` when it is no longer needed.

    ``checked=True`` makes a checked map (:mod:`pymmap.checked`): if the
    program on the other side shrinks the object, reading or writing the
    pages past its new end raises ``OSError`` instead of killing this
    process with SIGBUS.
    """
    _require("HAS_SHM_OPEN", "shm_open")
    path = _shm_name(name)
    size = _size(size, create)
    access = _access(access)
    fd = backend.shm_open(path, create or access == ACCESS_WRITE, create, MODE)
    try:
        if create:
            backend.truncate(fd, size)
        return mmap(fd, size, access=access, checked=checked)
    except BaseException:
        if create:
            backend.shm_unlink(path)
        raise
    finally:
        backend.close_fd(fd)


def shm_unlink(name: Name) -> None:
    """Remove the name of the POSIX shared memory object ``name`` (``shm_unlink(3)``).

    Maps already made keep working; the memory is freed when the last one
    is closed.  ``FileNotFoundError`` if there is no such object.
    """
    _require("HAS_SHM_OPEN", "shm_unlink")
    backend.shm_unlink(_shm_name(name))


def _key(key: Any) -> int:
    """Internal: a System V key as the C ``key_t`` (a signed 32-bit int).

    Keys written in hex in C, such as ``0xBEEF0001``, are unsigned in
    Python; they are accepted and converted, as C converts them.  Key 0
    is ``IPC_PRIVATE``, a fresh segment no one else can find by key; it is
    refused, since :func:`sysv_remove` could never find it either.
    """
    value = _args._integer(key)
    if not -(2**31) <= value < 2**32:
        raise OverflowError(f"System V key {value} does not fit a 32-bit key_t")
    if value == 0:
        raise ValueError("System V key 0 is IPC_PRIVATE, which cannot be found again by key")
    return value - 2**32 if value >= 2**31 else value


def sysv_attach(key: int, size: int = 0, *, create: bool = False, access: int = ACCESS_WRITE,
                checked: bool = False) -> mmap:
    """Attach the System V shared memory segment ``key``; return a :class:`pymmap.mmap`.

    ``shmget(2)`` finds the segment, ``shmctl(IPC_STAT)`` reads its size
    and ``shmat(2)`` maps it.  ``len(m)`` and ``m.size()`` are the
    segment's size; ``m.close()`` detaches it with ``shmdt(2)``, leaving
    the segment itself in place for other processes.

    * ``create=False`` (the default): the segment must exist
      (``FileNotFoundError`` otherwise).  ``size`` may be 0, or a minimum:
      a smaller segment makes ``shmget`` fail with EINVAL (``OSError``).
    * ``create=True``: make a new, zero-filled segment of ``size`` bytes,
      owner-only (mode 0600); ``FileExistsError`` if the key is taken.  If
      attaching it then fails, the new segment is removed again.

    ``key`` is the number the C program passes to ``shmget`` (from 1 to
    0xFFFFFFFF; 0, ``IPC_PRIVATE``, is refused).  ``access`` is
    ``ACCESS_WRITE`` or ``ACCESS_READ`` (attached with ``SHM_RDONLY``);
    ``ACCESS_COPY`` raises ``ValueError``, since ``shmat`` cannot map
    privately.  A segment's size is fixed: ``resize()`` raises
    ``TypeError``.  Remove the segment with :func:`sysv_remove`.
    ``checked=True`` makes a checked map (:mod:`pymmap.checked`), as for
    :func:`shm_open`.
    """
    _require("HAS_SYSV_SHM", "shmget")
    key = _key(key)
    size = _size(size, create)
    access = _access(access)
    if access == ACCESS_COPY:
        raise ValueError("System V shared memory cannot be mapped copy-on-write (ACCESS_COPY)")
    writable = access == ACCESS_WRITE
    if checked:
        backend.kernel_copies()  # (refused before anything is made, where the system has none)
    try:
        shmid = backend.shm_get(key, size, create, MODE)
    except OSError as exc:
        # (The key in the message: FileNotFoundError alone names nothing.)
        exc.filename = f"System V key {key & 0xFFFFFFFF:#010x}"
        raise
    try:
        length = int(backend.shm_stat(shmid).shm_segsz)
        address = backend.shm_attach(shmid, writable)
    except BaseException:
        if create:
            backend.shm_remove(shmid)
        raise
    _, prot = sharing(access)
    kind = MappedRegion
    if checked:
        from .checked import CheckedRegion  # (on first use: most programs never check)

        kind = CheckedRegion
    region = kind.adopt(
        address, length, backend.shm_detach, "shmat", prot=prot)
    return mmap._from_region(region, access)


def sysv_remove(key: int) -> None:
    """Mark the System V segment ``key`` for removal (``shmctl(IPC_RMID)``).

    The key is free at once; the memory goes when the last process
    attached to it detaches.  ``FileNotFoundError`` if there is no such
    segment.
    """
    _require("HAS_SYSV_SHM", "shmget")
    backend.shm_remove(backend.shm_get(_key(key), 0, False))
