"""The Windows backend: kernel32's file-mapping calls, bound with ctypes.

A mapping on Windows takes two objects.  ``CreateFileMappingW`` makes a
*section* (a "file mapping object"): the memory itself, backed by a file or
by the paging file, and optionally *named* (the stdlib's ``tagname``) so
that other maps, in this process or another, can open it by that name.
``MapViewOfFile`` then maps a *view* of the section into the address space;
the view's address is what :class:`~pymmap.MappedRegion` holds.  This
backend remembers, for every view it made, the handle of its section, and
:func:`unmap` gives back both.  So the layers above see what they see on
POSIX: ``map`` returns an address, ``unmap`` takes it.

The functions have the POSIX backend's names where the meaning is the same
(``map_memory``, ``unmap``, ``flush``, ``file_size``, ``truncate``, ``dup``, ...).
Descriptors are C runtime file descriptors, as ``f.fileno()`` gives them;
each call turns one into its HANDLE with ``msvcrt.get_osfhandle``.  Two
names exist only here: :func:`map_named` (a mapping with a ``tagname``)
and :func:`resize` (Windows resizes a view and its file in its own order).
``protect``, ``lock``/``unlock`` and ``resident`` have Windows
counterparts (``VirtualProtect``, ``VirtualLock``/``VirtualUnlock``,
``QueryWorkingSetEx``), and ``advise`` knows one piece of advice,
``MADV_WILLNEED`` (``PrefetchVirtualMemory``), which ``load()`` gives.
What Windows has no counterpart for (other advice, shared memory
by POSIX or System V name, ...) exists and raises ``OSError``
(``ERROR_NOT_SUPPORTED``), as the POSIX calls do on systems without them;
``HAS_MADVISE`` is False, so the map has no ``madvise()``, as in the stdlib.

Windows itself is reached lazily.  Importing this module calls nothing:
``win32.py``, which loads kernel32, is imported on the first call, and
``PAGESIZE`` and ``ALLOCATIONGRANULARITY`` are asked of ``GetSystemInfo``
when first read.  That is what lets the tests import this module on Linux
and run it against a recording stand-in for kernel32.

Every kernel32 call goes through :func:`_call_raw`: a zero or NULL result
is a failure, whose code comes from ``ctypes.get_last_error()``, and
:func:`oserror` is the one place it becomes an exception, built as
``ctypes.WinError`` builds it.  The trace (``pymmap.trace``) sees every call.

pymmap is implemented here against the documented Windows API.  It is
tested with the official Windows CPython under Wine's kernel32 (``.ci/windows``),
and on Linux through a recording stand-in that checks what Wine does not.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import byref

from . import _common
from ._common import REQUIRED, KernelCopies, os_call
from ._common import set_tracer as set_tracer  # (a part of the contract: re-exported)

TYPE_CHECKING = False  # typing's flag, without importing typing: see pymmap/__init__.py
if TYPE_CHECKING:
    from typing import Any, Dict, NoReturn, Optional, Tuple

#: The contract (see ``_common.REQUIRED``), and what only this backend has.
__all__ = [*REQUIRED, "RESIDENT_IS_WORKING_SET", "handle_of", "map_named", "resize", "working_set"]

#: The protection and sharing numbers the layers above pass to :func:`map`.
#: Windows has no ``PROT_*`` or ``MAP_*``; these are pymmap's own words (the
#: Linux numbers), which :func:`map_named` turns into ``PAGE_*`` and
#: ``FILE_MAP_*`` values.
CONSTANTS: Dict[str, int] = {
    "PROT_NONE": 0x0,
    "PROT_READ": 0x1,
    "PROT_WRITE": 0x2,
    "PROT_EXEC": 0x4,
    "MAP_SHARED": 0x01,
    "MAP_PRIVATE": 0x02,
    "MAP_ANONYMOUS": 0x20,
    "MS_ASYNC": 1,
    "MS_INVALIDATE": 2,
    "MS_SYNC": 4,
    "MADV_NORMAL": 0,
    "MADV_RANDOM": 1,
    "MADV_SEQUENTIAL": 2,
    "MADV_WILLNEED": 3,
    "MADV_DONTNEED": 4,
}
#: What ``pymmap`` exports: nothing, as the stdlib's Windows ``mmap`` has none of them.
PUBLIC_CONSTANTS: Dict[str, int] = {}

_PROT_WRITE = CONSTANTS["PROT_WRITE"]
_MAP_PRIVATE = CONSTANTS["MAP_PRIVATE"]

#: ``MapViewOfFile`` returns NULL on failure (``None`` through ctypes).
MAP_FAILED: Optional[int] = None

#: ``resident`` reports this process's working set, not the system's file cache.
RESIDENT_IS_WORKING_SET = True

HAS_ANON_NAME = False
HAS_MADVISE = False
HAS_REMAP = False
HAS_SHM_OPEN = False
HAS_SYSV_SHM = False

#: The page size, and the granularity of mapping offsets (64 KiB): read from
#: ``GetSystemInfo`` on first use, by the module ``__getattr__`` below.
PAGESIZE: int
ALLOCATIONGRANULARITY: int

_MASK32 = 0xFFFFFFFF


# --- Windows, loaded on first use -------------------------------------------------

_win32: Any = None


def _api() -> Any:
    """Internal: the kernel32 declarations (``win32.py``), imported on the first call."""
    global _win32
    if _win32 is None:
        from . import win32

        _win32 = win32
    return _win32


def __getattr__(name: str) -> int:
    """``PAGESIZE`` and ``ALLOCATIONGRANULARITY``, from ``GetSystemInfo`` on first use.

    A module-level ``__getattr__`` (PEP 562) runs only for names the module
    does not have yet; after the first call both are ordinary globals.
    """
    if name not in ("PAGESIZE", "ALLOCATIONGRANULARITY"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    w = _api()
    info = w.SYSTEM_INFO()
    w.GetSystemInfo(byref(info))
    if _common.tracer is not None:
        _common.tracer("GetSystemInfo", (info,), None, 0)
    globals().update(PAGESIZE=int(info.dwPageSize),
                     ALLOCATIONGRANULARITY=int(info.dwAllocationGranularity))
    value: int = globals()[name]
    return value


# --- the single call path ------------------------------------------------------

def oserror(err: int) -> OSError:
    """Return the exception for Windows error code ``err``: the one place errors are made.

    Built as ``ctypes.WinError`` builds it, ``OSError(None, message, None,
    err)``: Windows Python then sets ``winerror`` to ``err`` and picks
    ``errno`` and the subclass from it (``ERROR_ACCESS_DENIED`` gives
    ``PermissionError``).
    """
    return OSError(None, _message(err), None, err)


# What CPython strips from the end of a system message: the trailing period,
# the line break and any other control characters or spaces.
_TRAILING = "".join(chr(c) for c in range(33)) + "."


def _message(err: int) -> str:
    """Internal: the system's message for ``err``, cut as CPython cuts it.

    ``FormatMessageW`` ends its messages with a period and a line break
    (``"Invalid parameter.\\r\\n"``); ``ctypes.FormatError`` keeps the
    period, but CPython's own ``OSError`` builder (``PyErr_SetFromWindowsErr``,
    what the stdlib's ``mmap`` raises) strips both, so its messages read
    ``[WinError 87] The parameter is incorrect``.
    """
    return str(_api().FormatError(err)).rstrip(_TRAILING)


def _call_raw(name: str, fn: Any, *args: Any) -> Tuple[Any, int]:
    """Internal: call ``fn(*args)``; return its result and the last error it left.

    The error is what ctypes saved right after the call (the DLL is loaded
    with ``use_last_error=True``).  It means something only when the call
    failed, that is when it returned 0 or NULL, and for the few calls that
    report on success too (``CreateFileMappingW``: ``ERROR_ALREADY_EXISTS``).
    """
    result = fn(*args)
    err = _api().get_last_error()
    tracer = _common.tracer
    if tracer is not None:
        tracer(name, args, result, 0 if result else err)
    return result, err


def _call(name: str, fn: Any, *args: Any) -> Any:
    """Internal: call ``fn(*args)``; raise :func:`oserror` if it returns 0 or NULL."""
    result, err = _call_raw(name, fn, *args)
    if not result:
        raise oserror(err)
    return result


def unsupported(name: str) -> NoReturn:
    """Raise ``OSError`` (``ERROR_NOT_SUPPORTED``, naming ``name``): Windows has no such call."""
    exc = oserror(_api().ERROR_NOT_SUPPORTED)
    exc.filename = name
    raise exc


def handle_of(fd: int) -> int:
    """Return the HANDLE behind C runtime descriptor ``fd`` (``_get_osfhandle``).

    A descriptor that is not open raises ``OSError`` (``EBADF``): the
    constructor asks this first, as the C module does.
    """
    return int(os_call("_get_osfhandle", _api().get_osfhandle, (fd,)))


_handle = handle_of


def _close_handle(handle: int) -> None:
    """Internal: ``CloseHandle``."""
    _call("CloseHandle", _api().CloseHandle, handle)


# --- sections and views ----------------------------------------------------------


class _View:
    """Internal: what the backend remembers about one view it mapped.

    ``section`` is the handle of the section behind the view, or None once
    it has been closed while the view lives on (a failed :func:`resize`).
    """

    __slots__ = ("copy", "length", "paging_file", "section", "tagname")

    def __init__(self, section: Optional[int], tagname: Optional[str], paging_file: bool,
                 length: int, copy: bool) -> None:
        self.section = section
        self.tagname = tagname
        self.paging_file = paging_file
        self.length = length
        self.copy = copy  # a copy-on-write view (FILE_MAP_COPY)


#: Every view this backend has mapped and not yet unmapped, by address.
_views: Dict[int, _View] = {}


def _access(prot: int, flags: int) -> Tuple[int, int]:
    """Internal: ``(flProtect, dwDesiredAccess)`` for ``prot`` and ``flags``.

    Without ``PROT_WRITE``: a read-only section and view.  ``MAP_PRIVATE``:
    a copy-on-write view (``FILE_MAP_COPY``), whose first store to a page
    copies it, so the file never changes.  Otherwise a read-write view:
    stores reach the section, and through it the file (``ACCESS_WRITE``,
    and ``ACCESS_DEFAULT``, which means the same on Windows).
    """
    w = _api()
    if not prot & _PROT_WRITE:
        return w.PAGE_READONLY, w.FILE_MAP_READ
    if flags & _MAP_PRIVATE:
        return w.PAGE_WRITECOPY, w.FILE_MAP_COPY
    return w.PAGE_READWRITE, w.FILE_MAP_WRITE


def map_named(tagname: Optional[str], length: int, prot: int, flags: int, fd: int,
              offset: int) -> int:
    """Map ``length`` bytes of a section named ``tagname``; return the view's address.

    ``CreateFileMappingW`` makes a section of the file ``fd`` (or, with
    ``fd`` -1, of the paging file) holding at least ``offset + length``
    bytes; a file shorter than that grows, if the view may write.
    ``MapViewOfFile`` then maps ``length`` bytes of it from ``offset``, which
    must be a multiple of ``ALLOCATIONGRANULARITY`` (64 KiB).

    If a section named ``tagname`` exists already, Windows hands back that
    one, whatever the other arguments say: that is how two maps with the
    same tagname share memory.  ``tagname`` None makes an unnamed section.
    Sizes and offsets travel as two DWORDs each, the high half first.
    """
    w = _api()
    protect, access = _access(prot, flags)
    handle = w.INVALID_HANDLE_VALUE if fd == -1 else _handle(fd)
    size = offset + length
    section = _call("CreateFileMappingW", w.CreateFileMappingW, handle, None, protect,
                    size >> 32, size & _MASK32, tagname)
    try:
        address = _call("MapViewOfFile", w.MapViewOfFile, section, access,
                        offset >> 32, offset & _MASK32, length)
    except BaseException:
        _close_handle(section)
        raise
    _views[address] = _View(section, tagname, fd == -1, length, access == w.FILE_MAP_COPY)
    return int(address)


def map_memory(length: int, prot: int, flags: int, fd: int, offset: int) -> int:
    """Map ``length`` bytes of the file ``fd`` (or the paging file) from ``offset``, unnamed.

    This is :func:`map_named` with no name.
    """
    return map_named(None, length, prot, flags, fd, offset)


def unmap(address: int, length: int) -> None:
    """Unmap the view at ``address`` (``UnmapViewOfFile``) and close its section (``CloseHandle``).

    A section lives until its last view is unmapped and its last handle
    closed; a named one loses its name with its last handle.  ``length``
    is not needed: Windows knows the view's size.
    """
    view = _views.pop(address, None)
    try:
        _call("UnmapViewOfFile", _api().UnmapViewOfFile, address)
    finally:
        if view is not None and view.section is not None:
            _close_handle(view.section)


def placeholder(address: int, length: int) -> None:
    """Leave the view in place: Windows cannot swap it for private memory.

    On POSIX one ``mmap(MAP_FIXED)`` replaces a mapping that another
    thread may still read with zero-filled memory, atomically.  Windows 10
    can do the like only for views mapped into placeholders
    (``VirtualAlloc2``, ``MapViewOfFile3``), which pymmap does not use.  So
    the view stays mapped until its last holder lets go (the region's
    finalizer then unmaps it): the holder keeps reading real bytes, never
    unmapped memory, and the file stays open until then.
    """


def flush(address: int, length: int, flags: int) -> None:
    """Write the dirty pages of ``[address, address + length)`` to the file (``FlushViewOfFile``).

    ``flags`` is not used: this is what the stdlib's ``flush()`` does on
    Windows.  (``FlushViewOfFile`` starts the writes and waits for them; it
    does not flush the disk's own cache or the file's metadata, which
    ``FlushFileBuffers`` on the file would.)  A ``length`` of 0 means to
    the end of the view.
    """
    _call("FlushViewOfFile", _api().FlushViewOfFile, address, length)


def resize(address: int, old_length: int, new_length: int, fd: int, offset: int,
           busy: bool = False) -> Tuple[Optional[int], int, Optional[OSError]]:
    """Resize the view at ``address``, and its file, as Windows allows; say what happened.

    A section never changes size, and a file cannot change size while a
    view of it is mapped.  So, as the stdlib does on Windows:

    1. The view's section handle is closed.  If the section has a name and
       is still open elsewhere (``OpenFileMappingW`` finds it), it cannot
       be replaced: the handle is opened again, and the answer is
       ``ERROR_USER_MAPPED_FILE``.
    2. A file's view is unmapped, then the file is set to ``offset +
       new_length`` bytes (``SetFilePointerEx``, ``SetEndOfFile``).  If that
       fails (another view of the file is still mapped), the old size is
       mapped again, and the error is the answer.
    3. A new section and view are made, read-write.  A paging-file view is
       copied into its new view, and only then unmapped.

    ``busy`` says that someone may still be reading the old view, so it
    must stay mapped: a paging-file view is then copied but left in place
    (the caller unmaps it later, with :func:`unmap`), and a file's view,
    which would have to go first, is not resized at all
    (``ERROR_USER_MAPPED_FILE``).

    Since the view may have moved even when the resize failed, this
    returns ``(address, length, error)``: where the view is now (None if
    none is left: its file's view was unmapped and none could be made
    again), its length, and the error to raise, or None.  ``fd`` is a
    descriptor of the file (unused for the paging file).
    """
    w = _api()
    view = _views[address]
    if busy and not view.paging_file:
        return address, old_length, oserror(w.ERROR_USER_MAPPED_FILE)
    if view.section is not None:
        old_section, view.section = view.section, None
        _close_handle(old_section)
    if view.tagname is not None:
        other, _ = _call_raw("OpenFileMappingW", w.OpenFileMappingW, w.FILE_MAP_WRITE, False,
                             view.tagname)
        if other:
            view.section = other
            return address, old_length, oserror(w.ERROR_USER_MAPPED_FILE)
    file_error: Optional[OSError] = None
    if view.paging_file:
        handle = w.INVALID_HANDLE_VALUE
    else:
        handle = _handle(fd)
        _call("UnmapViewOfFile", w.UnmapViewOfFile, address)
        del _views[address]
        try:
            _call("SetFilePointerEx", w.SetFilePointerEx, handle, offset + new_length, None,
                  w.FILE_BEGIN)
            _call("SetEndOfFile", w.SetEndOfFile, handle)
        except OSError as exc:
            file_error = exc
            new_length = old_length
    size = offset + new_length
    section, err = _call_raw("CreateFileMappingW", w.CreateFileMappingW, handle, None,
                             w.PAGE_READWRITE, size >> 32, size & _MASK32, view.tagname)
    new_address = None
    if section and err == w.ERROR_ALREADY_EXISTS:
        # Someone made a section of that name since ours was closed: it is
        # not ours to map at a new size.
        _close_handle(section)
        section = None
    if section:
        new_address, err = _call_raw("MapViewOfFile", w.MapViewOfFile, section, w.FILE_MAP_WRITE,
                                     offset >> 32, offset & _MASK32, new_length)
        if not new_address:
            _close_handle(section)
    if not new_address:
        if view.paging_file:
            return address, old_length, oserror(err)  # the old view is still there
        return None, 0, oserror(err)
    if view.paging_file:
        ctypes.memmove(new_address, address, min(old_length, new_length))
        if not busy:
            _call("UnmapViewOfFile", w.UnmapViewOfFile, address)
            del _views[address]
    _views[new_address] = _View(section, view.tagname, view.paging_file, new_length, False)
    return int(new_address), new_length, file_error


# --- file descriptors -----------------------------------------------------------


def file_size(fd: int) -> int:
    """Return the size of the file behind ``fd`` (``GetFileSizeEx``)."""
    w = _api()
    size = w.LARGE_INTEGER()
    _call("GetFileSizeEx", w.GetFileSizeEx, _handle(fd), byref(size))
    return int(size.value)


def is_regular_file(fd: int) -> Optional[int]:
    """Return the size of ``fd`` if it is a file with a size, else None; never raises."""
    try:
        return file_size(fd)
    except (OSError, OverflowError):
        return None


def device_size(fd: int) -> Optional[int]:
    """Return None: a descriptor on Windows is a file with a size (see :func:`is_regular_file`).

    POSIX needs this for block devices, whose ``st_size`` is 0.
    """
    return None


def truncate(fd: int, length: int) -> None:
    """Set the size of the file behind ``fd``: ``SetFilePointerEx`` to ``length``, then ``SetEndOfFile``.

    Windows refuses (``ERROR_USER_MAPPED_FILE``) while a view of the file
    is mapped.
    """
    w = _api()
    handle = _handle(fd)
    _call("SetFilePointerEx", w.SetFilePointerEx, handle, length, None, w.FILE_BEGIN)
    _call("SetEndOfFile", w.SetEndOfFile, handle)


# C runtime <fcntl.h>: _open_osfhandle's flag for a descriptor child processes
# do not inherit.
_O_NOINHERIT = 0x0080


def dup(fd: int) -> int:
    """Duplicate ``fd``: ``DuplicateHandle``, then a new descriptor for the copy.

    The copy is a second HANDLE to the same open file (same position, same
    access), not inherited by child processes, and owned by the new
    descriptor: closing that closes it.  (This is what ``os.dup`` does.)
    """
    w = _api()
    process = _call("GetCurrentProcess", w.GetCurrentProcess)
    copy = w.HANDLE()
    _call("DuplicateHandle", w.DuplicateHandle, process, _handle(fd), process, byref(copy), 0,
          False, w.DUPLICATE_SAME_ACCESS)
    try:
        return int(os_call("_open_osfhandle", w.open_osfhandle, (copy.value, _O_NOINHERIT)))
    except BaseException:
        _close_handle(copy.value)
        raise


def close_fd(fd: int) -> None:
    """Close ``fd``, and with it its HANDLE (``_close``)."""
    os_call("_close", os.close, (fd,))


# --- what Windows has no counterpart for ------------------------------------------


def remap(address: int, old_length: int, new_length: int, may_move: bool = True) -> int:
    """Windows has no ``mremap``; :func:`resize` maps again instead."""
    unsupported("mremap")


_MADV_WILLNEED = CONSTANTS["MADV_WILLNEED"]
_PROT_READ = CONSTANTS["PROT_READ"]
_PROT_EXEC = CONSTANTS["PROT_EXEC"]


def advise(address: int, length: int, advice: int) -> None:
    """``MADV_WILLNEED`` only: read the range in now (``PrefetchVirtualMemory``).

    Windows has no general ``madvise`` (so the map has no ``madvise()``,
    as in the stdlib); other advice raises ``ERROR_NOT_SUPPORTED``.
    ``load()`` gives this advice before it touches each page.
    """
    if advice != _MADV_WILLNEED:
        unsupported("madvise")
    w = _api()
    process = _call("GetCurrentProcess", w.GetCurrentProcess)
    entry = w.WIN32_MEMORY_RANGE_ENTRY(address, length)
    _call("PrefetchVirtualMemory", w.PrefetchVirtualMemory, process, 1, byref(entry), 0)


def _view_holding(address: int) -> Optional[_View]:
    """Internal: the view this backend mapped that holds ``address``, or None."""
    for start, view in _views.items():
        if start <= address < start + view.length:
            return view
    return None


def _page_protection(prot: int, copy: bool) -> int:
    """Internal: the ``PAGE_*`` value for ``prot`` on a view (``copy``: copy-on-write).

    Pages of a copy-on-write view that may be written are ``PAGE_WRITECOPY``:
    ``PAGE_READWRITE`` there would write to the section, which a
    ``FILE_MAP_COPY`` view may not (``ERROR_INVALID_PARAMETER``).
    """
    w = _api()
    if not prot & (_PROT_READ | _PROT_WRITE | _PROT_EXEC):
        return int(w.PAGE_NOACCESS)
    if prot & _PROT_WRITE:
        if prot & _PROT_EXEC:
            return int(w.PAGE_EXECUTE_WRITECOPY if copy else w.PAGE_EXECUTE_READWRITE)
        return int(w.PAGE_WRITECOPY if copy else w.PAGE_READWRITE)
    return int(w.PAGE_EXECUTE_READ if prot & _PROT_EXEC else w.PAGE_READONLY)


def protect(address: int, length: int, prot: int) -> None:
    """Change the protection of the pages of ``[address, address + length)`` (``VirtualProtect``).

    ``prot`` is pymmap's ``PROT_*`` numbers: ``PROT_NONE`` becomes
    ``PAGE_NOACCESS``, ``PROT_READ`` ``PAGE_READONLY``, and ``PROT_READ |
    PROT_WRITE`` ``PAGE_READWRITE`` (``PAGE_WRITECOPY`` on a copy-on-write
    view).  Windows refuses more access than the view was mapped with.
    """
    w = _api()
    view = _view_holding(address)
    old = w.DWORD()
    _call("VirtualProtect", w.VirtualProtect, address, length,
          _page_protection(prot, view is not None and view.copy), byref(old))


def lock(address: int, length: int) -> None:
    """Keep the pages of the range in RAM (``VirtualLock``).

    Windows locks them into the process's working set, whose minimum size
    limits how much may be locked (``SetProcessWorkingSetSize``); past it the
    call fails with ``ERROR_WORKING_SET_QUOTA``.
    """
    _call("VirtualLock", _api().VirtualLock, address, length)


def unlock(address: int, length: int) -> None:
    """Let the pages of the range be paged out again (``VirtualUnlock``).

    Deliberate difference from ``VirtualUnlock``: pages that were not
    locked are not an error (``ERROR_NOT_LOCKED``), as with ``munlock(2)``,
    so ``unlock()`` means the same on every system.
    """
    w = _api()
    result, err = _call_raw("VirtualUnlock", w.VirtualUnlock, address, length)
    if not result and err != w.ERROR_NOT_LOCKED:
        raise oserror(err)


def resident(address: int, length: int) -> bytes:
    """Return one byte per page of the range: 1 if the page is in RAM (``QueryWorkingSetEx``).

    Windows answers for the pages of this process's *working set*: a page
    is resident when it is mapped in RAM for this process, so that touching
    it causes no page fault.  (Unlike ``mincore(2)``, a page of a file that
    sits in the system's file cache but was never touched through this view
    counts as not resident.)  ``address`` must be page-aligned.
    """
    return bytes(attributes & 1 for attributes in working_set(address, length))


def working_set(address: int, length: int) -> Tuple[int, ...]:
    """Return ``QueryWorkingSetEx``'s attributes for each page of the range.

    Bit 0 (``Valid``): the page is in this process's working set, mapped
    in RAM.  For a valid page, bits 1-3 count the processes sharing it
    (``ShareCount``), bits 4-14 are its protection, and bit 15
    (``Shared``) says it can be shared (a page of the file or of a named
    section, not this process's private copy).  ``address`` must be
    page-aligned.
    """
    w = _api()
    size: int = globals().get("PAGESIZE") or __getattr__("PAGESIZE")
    count = (length + size - 1) // size
    entries = (w.PSAPI_WORKING_SET_EX_INFORMATION * count)()
    for i in range(count):
        entries[i].VirtualAddress = address + i * size
    process = _call("GetCurrentProcess", w.GetCurrentProcess)
    _call("K32QueryWorkingSetEx", w.K32QueryWorkingSetEx, process, entries, ctypes.sizeof(entries))
    return tuple(int(entry.VirtualAttributes) for entry in entries)


_current_process: Optional[int] = None


def _process_copy(name: str, address: int, local: Any, count: int) -> int:
    """Internal: ``ReadProcessMemory``/``WriteProcessMemory`` on this process; the count copied.

    Windows may fail a copy that crosses into a page it cannot reach as a
    whole (``ERROR_PARTIAL_COPY``), without saying how much it copied; the
    count is then 0, and the caller narrows the range itself.
    """
    global _current_process
    w = _api()
    done = w.SIZE_T(0)
    if _current_process is None:
        # (A pseudo-handle that always means "this process": asked once, never closed.)
        _current_process = _call("GetCurrentProcess", w.GetCurrentProcess)
    ok, err = _call_raw(name, getattr(w, name), _current_process, address, local, count, byref(done))
    if ok:
        return count
    if done.value:
        return int(done.value)
    raise oserror(err)


def _read_memory(address: int, count: int) -> bytes:
    if count <= 0:
        return b""
    buf = ctypes.create_string_buffer(count)
    got = _process_copy("ReadProcessMemory", address, ctypes.addressof(buf), count)
    return buf.raw if got == count else buf.raw[:got]


def _write_memory(address: int, data: bytes) -> int:
    count = len(data)
    if count == 0:
        return 0
    source = (ctypes.c_char * count).from_buffer_copy(data)
    return _process_copy("WriteProcessMemory", address, ctypes.addressof(source), count)


_KERNEL_COPIES = KernelCopies("ReadProcessMemory", _read_memory, _write_memory)


def kernel_copies() -> KernelCopies:
    """Return the copies checked maps make: ``ReadProcessMemory``/``WriteProcessMemory`` on this process.

    A file cannot be cut short under a view on Windows (the system refuses:
    ``ERROR_USER_MAPPED_FILE``), but a page can still fail: an in-page
    error when the network drive or removable disk behind it is gone, or
    an access violation.  A plain load raises a structured exception that
    kills the process; these copies fail with an error code instead.
    """
    return _KERNEL_COPIES


def set_anon_name(address: int, length: int, name: Optional[bytes]) -> None:
    """Not supported: Windows does not label anonymous memory."""
    unsupported("prctl(PR_SET_VMA)")


def huge_page_size() -> int:
    """Not supported here (Windows' large pages need ``SeLockMemoryPrivilege``)."""
    unsupported("huge pages")


def shm_open(name: bytes, writable: bool, create: bool, mode: int = 0o600) -> int:
    """Not supported: on Windows, named shared memory is a mapping with a ``tagname``."""
    unsupported("shm_open")


def shm_unlink(name: bytes) -> None:
    """Not supported: see :func:`shm_open`."""
    unsupported("shm_unlink")


def shm_get(key: int, size: int, create: bool, mode: int = 0o600) -> int:
    """Not supported: Windows has no System V shared memory."""
    unsupported("shmget")


def shm_attach(shmid: int, writable: bool) -> int:
    """Not supported: Windows has no System V shared memory."""
    unsupported("shmat")


def shm_detach(address: int, length: int) -> None:
    """Not supported: Windows has no System V shared memory."""
    unsupported("shmdt")


def shm_stat(shmid: int) -> Any:
    """Not supported: Windows has no System V shared memory."""
    unsupported("shmctl")


def shm_remove(shmid: int) -> None:
    """Not supported: Windows has no System V shared memory."""
    unsupported("shmctl")


# --- copies and searches: not system calls, no tracing, on the hot path ---------

#: ``move(dest, src, n)`` copies ``n`` bytes; the ranges may overlap.
move = ctypes.memmove

#: How much :func:`find` and :func:`rfind_byte` copy at a time.
_CHUNK = 1 << 20


def find(address: int, length: int, needle: bytes) -> int:
    """Return the offset of the first ``needle`` in ``[address, address+length)``, or -1.

    Windows' C runtime has no ``memmem``, so the range is copied and
    searched one chunk (1 MiB) at a time; each chunk overlaps the next by
    ``len(needle) - 1`` bytes, so that a match across the boundary is seen.
    An empty or negative range holds nothing: -1 (as on POSIX).
    """
    if length <= 0:
        return -1
    n = len(needle)
    start = 0
    while length - start >= n:
        stop = min(length, start + _CHUNK + n - 1)
        hit = ctypes.string_at(address + start, stop - start).find(needle)
        if hit >= 0:
            return start + hit
        start += _CHUNK
    return -1


def find_byte(address: int, length: int, byte: int) -> int:
    """Return the offset of the first ``byte`` in the range, or -1 (see :func:`find`)."""
    return find(address, length, bytes((byte,)))


def rfind_byte(address: int, length: int, byte: int) -> int:
    """Return the offset of the last ``byte`` in the range, or -1, searching back one chunk at a time."""
    needle = bytes((byte,))
    stop = length
    while stop > 0:
        start = max(0, stop - _CHUNK)
        hit = ctypes.string_at(address + start, stop - start).rfind(needle)
        if hit >= 0:
            return start + hit
        stop = start
    return -1
