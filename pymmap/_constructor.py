"""Internal: what ``mmap(...)`` was asked for, read as the C module reads it, on each platform.

``pymmap.mmap`` has one constructor (``mmap.__new__``), but what it accepts
differs by platform, as the C module's does::

    POSIX:    mmap(fileno, length, flags=MAP_SHARED, prot=PROT_WRITE|PROT_READ,
                   access=ACCESS_DEFAULT, offset=0, *, trackfd=True,
                   populate=False, huge_pages=False, checked=False)
    Windows:  mmap(fileno, length, tagname=None, access=ACCESS_DEFAULT,
                   offset=0, *, trackfd=True, checked=False)

The platform's reader, :func:`read`, binds the arguments (with the C
module's messages: :class:`pymmap._args.CSignature`), converts them, and
checks them in the order the C module does, so that a call with several
mistakes fails on the same one.  It returns a :data:`Request`: a map of
``length`` bytes at ``offset`` of ``fileno``, with ``flags`` and ``prot``
for the system.  The constructor then only maps it.

The access modes are a simpler way to say what ``flags`` and ``prot`` say;
:func:`sharing` is their one table.
"""

from __future__ import annotations

import sys

from . import _args
from ._platform import backend

TYPE_CHECKING = False  # typing's flag, without importing typing: see pymmap/__init__.py
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Tuple

    #: A map the constructor was asked for, checked: ``(fileno, length, offset,
    #: access, flags, prot, trackfd, tagname, advice, checked)``.  ``fileno`` is -1 for
    #: anonymous memory; for a regular file, ``length=0`` has become the
    #: file's size from ``offset`` (anything else of length 0 is for
    #: ``mmap(2)`` to refuse, as in the C module); ``access`` one of the ``ACCESS_*`` modes
    #: (``ACCESS_DEFAULT``: as ``flags`` and ``prot`` say); ``tagname`` the name
    #: of a shared mapping (Windows) or None; ``advice`` the ``madvise`` advice
    #: to give once mapped (huge pages for a file), or None; ``checked`` whether
    #: the map copies through the kernel (:mod:`pymmap.checked`).  (A plain tuple:
    #: a named one took a quarter of a microsecond more to make, on every map.)
    Request = Tuple[int, int, int, int, int, int, bool, Optional[str], Optional[int], bool]

__all__ = ["ACCESS_COPY", "ACCESS_DEFAULT", "ACCESS_READ", "ACCESS_WRITE", "Request", "read", "sharing"]

ACCESS_DEFAULT = 0
ACCESS_READ = 1
ACCESS_WRITE = 2
ACCESS_COPY = 3

_PROT_READ = backend.CONSTANTS["PROT_READ"]
_PROT_WRITE = backend.CONSTANTS["PROT_WRITE"]
_MAP_SHARED = backend.CONSTANTS["MAP_SHARED"]
_MAP_PRIVATE = backend.CONSTANTS["MAP_PRIVATE"]

_audit = getattr(sys, "audit", None)  # (Python 3.8+: always there; PyPy 3.9 has it too)


def sharing(access: int) -> Tuple[int, int]:
    """Return the ``(flags, prot)`` that access mode ``access`` stands for.

    ``ACCESS_READ``: shared, read-only.  ``ACCESS_WRITE`` (and
    ``ACCESS_DEFAULT``, where no flags are given): shared, read and write,
    so stores reach the file.  ``ACCESS_COPY``: private (copy-on-write),
    read and write, so stores never reach the file.  Any other number
    raises the C module's ``ValueError``.
    """
    if access == ACCESS_READ:
        return _MAP_SHARED, _PROT_READ
    if access in (ACCESS_WRITE, ACCESS_DEFAULT):
        return _MAP_SHARED, _PROT_READ | _PROT_WRITE
    if access == ACCESS_COPY:
        return _MAP_PRIVATE, _PROT_READ | _PROT_WRITE
    raise ValueError("mmap invalid access parameter.")


def audit(fileno: int, length: int, access: int, offset: int) -> None:
    """Raise the ``mmap.__new__`` audit event, as the C module does (PEP 578)."""
    if _audit is not None:
        _audit("mmap.__new__", fileno, length, access, offset)


def _check_sizes(length: int, offset: int) -> None:
    """Internal: the C module's checks of ``length`` and ``offset``."""
    if length < 0:
        raise OverflowError("memory mapped length must be positive")
    if offset < 0:
        raise OverflowError("memory mapped offset must be positive")


def _whole_file(file_size: int, offset: int) -> int:
    """Internal: the length that ``length=0`` means: the file from ``offset`` to its end."""
    if file_size == 0:
        raise ValueError("cannot mmap an empty file")
    if offset >= file_size:
        raise ValueError("mmap offset is greater than file size")
    if file_size - offset > sys.maxsize:  # pragma: no cover - 32-bit only
        raise ValueError("mmap length is too large")
    return file_size - offset


# --- POSIX ---------------------------------------------------------------------------

# trackfd is the C module's from CPython 3.13 (pymmap's own before); the rest
# are pymmap's own everywhere.
_TRACKFD = ("trackfd",)
_POSIX = _args.CSignature(
    ("fileno", "length", "flags", "prot", "access", "offset"),
    _TRACKFD if sys.version_info >= (3, 13) else (),
    (_MAP_SHARED, _PROT_WRITE | _PROT_READ, ACCESS_DEFAULT, 0, True, False, False, False),
    (() if sys.version_info >= (3, 13) else _TRACKFD) + ("populate", "huge_pages", "checked"),
)


def _posix(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Request:
    """Internal: read the POSIX constructor's arguments (see the module docstring)."""
    values = _POSIX.bind(args, kwargs)
    fileno, length, flags, prot, access, offset, trackfd, populate, huge_pages, checked = values
    fileno = _args.c_int(fileno)
    length = _args.ssize(length)
    flags = _args.c_int(flags)
    prot = _args.c_int(prot)
    access = _args.c_int(access)
    offset = _args.off_t(offset)
    trackfd = bool(trackfd)
    populate = bool(populate)
    huge_pages = bool(huge_pages)
    checked = bool(checked)

    _check_sizes(length, offset)
    if access != ACCESS_DEFAULT and (flags != _MAP_SHARED or prot != (_PROT_WRITE | _PROT_READ)):
        raise ValueError("mmap can't specify both access and flags, prot.")
    if access != ACCESS_DEFAULT:
        flags, prot = sharing(access)
    else:
        # Without PROT_WRITE the map is read-only, whatever flags say.
        if not prot & _PROT_WRITE:
            access = ACCESS_READ
        elif not prot & _PROT_READ:
            access = ACCESS_WRITE
        # Deliberate difference: the C module maps prot=0 (PROT_NONE), or
        # PROT_EXEC alone, as asked, and the first read of the map kills
        # the process with SIGSEGV.  pymmap always lets the CPU read it.
        prot |= _PROT_READ
    audit(fileno, length, access, offset)
    if fileno != -1:
        length = _fitted_length(fileno, length, offset)
    advice = None
    if populate or huge_pages:
        flags, advice = _posix_extras(fileno, length, flags, populate, huge_pages)
    return fileno, length, offset, access, flags, prot, trackfd, None, advice, checked


def _fitted_length(fileno: int, length: int, offset: int) -> int:
    """Internal: ``length``, or the file's size from ``offset`` for 0, checked against the file.

    Deliberate difference: the C module checks regular files only, and its
    map of a disk past the disk's end dies with SIGBUS when read there.
    pymmap asks a block device its size too.  (Length 0 still means nothing
    for a device, as there: ``mmap(2)`` refuses it with EINVAL.)
    """
    file_size = backend.is_regular_file(fileno)
    if file_size is not None:
        if length == 0:
            return _whole_file(file_size, offset)
        if offset > file_size or file_size - offset < length:
            raise ValueError("mmap length is greater than file size")
        return length
    device = backend.device_size(fileno)
    if device is not None and length and (offset > device or device - offset < length):
        raise ValueError("mmap length is greater than file size")
    return length


def _optional_constant(name: str, feature: str) -> int:
    """Internal: the platform's constant ``name``, or ValueError naming ``feature``."""
    value = backend.CONSTANTS.get(name)
    if value is None:  # pragma: no cover - Linux has them all
        raise ValueError(f"{feature} is not supported on this platform")
    return value


def _posix_extras(fileno: int, length: int, flags: int, populate: bool,
                  huge_pages: bool) -> Tuple[int, Optional[int]]:
    """Internal: the flags (and advice) for pymmap's own ``populate`` and ``huge_pages`` keywords.

    ``populate`` adds ``MAP_POPULATE``.  ``huge_pages`` adds ``MAP_HUGETLB``
    for anonymous memory, whose length must then be a multiple of the huge
    page size; a file map is advised ``MADV_HUGEPAGE`` once made.
    """
    advice = None
    if populate:
        flags |= _optional_constant("MAP_POPULATE", "populate=True")
    if huge_pages and fileno == -1:
        flags |= _optional_constant("MAP_HUGETLB", "huge_pages=True")
        huge = backend.huge_page_size()
        if length % huge:
            raise ValueError(f"huge_pages=True needs a length that is a multiple of "
                             f"the huge page size ({huge} bytes)")
    elif huge_pages:
        advice = _optional_constant("MADV_HUGEPAGE", "huge_pages=True")
    return flags, advice


# --- Windows -------------------------------------------------------------------------

_WINDOWS_PARAMETERS = ("fileno", "length", "tagname", "access", "offset")
_WINDOWS_WITH_TRACKFD = _args.CSignature(
    _WINDOWS_PARAMETERS, ("trackfd",), (None, ACCESS_DEFAULT, 0, True, False), ("checked",))
_WINDOWS_WITHOUT_TRACKFD = _args.CSignature(
    _WINDOWS_PARAMETERS, (), (None, ACCESS_DEFAULT, 0, False), ("checked",))
# trackfd exists on Windows from CPython 3.15; 3.13's own test_mmap
# (test_no_trackfd_parameter_on_windows) asserts a TypeError before.
_WINDOWS = _WINDOWS_WITH_TRACKFD if sys.version_info >= (3, 15) else _WINDOWS_WITHOUT_TRACKFD
_handle_of: Callable[[int], Any] = getattr(backend, "handle_of", int)


def _windows(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Request:
    """Internal: read the Windows constructor's arguments (see the module docstring).

    ``fileno`` 0 means anonymous memory, as -1 does; a ``length`` past the
    end of the file makes the file that long (when it is mapped).
    """
    fileno, length, tagname, access, offset, *rest, checked = _WINDOWS.bind(args, kwargs)
    fileno = _args.c_int(fileno)
    length = _args.ssize(length)
    access = _args.c_int(access)
    try:
        offset = _args.off_t(offset)
    except OverflowError:
        # Format "L" on Windows: the C module's words for a 64-bit overflow.
        raise OverflowError("int too big to convert") from None
    trackfd = bool(rest[0]) if rest else True

    audit(fileno, length, access, offset)
    flags, prot = sharing(access)
    _check_sizes(length, offset)
    if fileno == 0:
        fileno = -1  # the C module takes 0, like -1, for the paging file
    if fileno != -1:
        # The descriptor is checked first (_get_osfhandle: EBADF), as in
        # the C module, which converts the tagname last.
        _handle_of(fileno)
    # Deliberate difference: the C module also moves the file's position
    # to 0 here (lseek), a workaround for Windows 9x; pymmap leaves it alone.
    if fileno != -1 and length == 0:
        length = _whole_file(backend.file_size(fileno), offset)
    if tagname is not None:
        if not isinstance(tagname, str):
            raise TypeError(f"expected str or None for 'tagname', not {type(tagname).__name__}")
        if "\0" in tagname:
            raise ValueError("embedded null character")
    return fileno, length, offset, access, flags, prot, trackfd, tagname, None, bool(checked)


#: ``read(args, kwargs)``: this platform's reader (Windows names its
#: mappings, and takes ``tagname`` where POSIX takes ``flags`` and ``prot``).
read: Callable[[Tuple[Any, ...], Dict[str, Any]], Request] = (
    _windows if hasattr(backend, "map_named") else _posix)
