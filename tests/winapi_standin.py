"""A recording stand-in for kernel32 and msvcrt, so pymmap's Windows backend runs on Linux.

No Windows machine runs pymmap's tests.  This module plays Windows instead:
:class:`StandIn` provides ``ctypes.WinDLL("kernel32")``, ``ctypes.get_last_error``,
``ctypes.FormatError`` and the ``msvcrt`` module, which ``pymmap/_platform/win32.py``
looks up when it is imported.  It follows the documented behaviour of each
call, and it is strict where Windows is:

* Every function must have been given ``argtypes`` and ``restype`` before its
  first call, and each argument must fit its declared type: a DWORD must lie
  in 0..2**32-1 (ctypes would silently cut a 64-bit size, so this is where a
  wrong high/low split shows), a HANDLE must be an int or None, a name a str.
* Results come back as ctypes would return them (NULL as ``None``), and
  failures set the last error that ``ctypes.get_last_error()`` then reports;
  successful calls leave it alone, except ``CreateFileMappingW``, which sets
  0 or ``ERROR_ALREADY_EXISTS`` as Windows does.
* Every call is recorded in :attr:`StandIn.calls`, with its arguments.

Views are real memory.  A section of a file is backed by the file itself, a
section of the paging file by a memfd, and each view by an ``mmap(2)`` of it
made through pymmap's POSIX backend: stores reach the file, and two views of
one section share their bytes, as on Windows.  Offsets must be multiples of
64 KiB (``ALLOCATIONGRANULARITY``); a file cannot change size while a section
of it is open (``ERROR_USER_MAPPED_FILE``); a named section keeps its name
while a handle to it is open.
"""

import contextlib
import ctypes
import errno
import importlib
import os
import stat
import sys
import types
from typing import Any, Dict, List, NamedTuple

# Values from the Windows headers, as win32.py declares them.
INVALID_HANDLE_VALUE = 2**64 - 1 if ctypes.sizeof(ctypes.c_void_p) == 8 else 2**32 - 1
CURRENT_PROCESS = INVALID_HANDLE_VALUE  # GetCurrentProcess's pseudo-handle, (HANDLE)-1
PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOPY = 0x01, 0x02, 0x04, 0x08
FILE_MAP_COPY, FILE_MAP_WRITE, FILE_MAP_READ = 0x1, 0x2, 0x4
DUPLICATE_SAME_ACCESS = 0x2
FILE_BEGIN = 0
MEM_COMMIT, MEM_FREE, MEM_MAPPED = 0x1000, 0x10000, 0x40000
ERROR_FILE_NOT_FOUND = 2
ERROR_ACCESS_DENIED = 5
ERROR_INVALID_HANDLE = 6
ERROR_NOT_ENOUGH_MEMORY = 8
ERROR_NOT_SUPPORTED = 50
ERROR_INVALID_PARAMETER = 87
ERROR_NOT_LOCKED = 158
ERROR_ALREADY_EXISTS = 183
ERROR_INVALID_ADDRESS = 487
ERROR_FILE_INVALID = 1006
ERROR_MAPPED_ALIGNMENT = 1132
ERROR_USER_MAPPED_FILE = 1224
ERROR_PARTIAL_COPY = 299

MESSAGES = {
    ERROR_FILE_NOT_FOUND: "The system cannot find the file specified.",
    ERROR_ACCESS_DENIED: "Access is denied.",
    ERROR_INVALID_HANDLE: "The handle is invalid.",
    ERROR_NOT_ENOUGH_MEMORY: "Not enough memory resources are available to process this command.",
    ERROR_NOT_SUPPORTED: "The request is not supported.",
    ERROR_INVALID_PARAMETER: "The parameter is incorrect.",
    ERROR_NOT_LOCKED: "The segment is already unlocked.",
    ERROR_ALREADY_EXISTS: "Cannot create a file when that file already exists.",
    ERROR_INVALID_ADDRESS: "Attempt to access invalid address.",
    ERROR_FILE_INVALID: "The volume for a file has been externally altered so that the "
                        "opened file is no longer valid.",
    ERROR_MAPPED_ALIGNMENT: "The base address or the file offset specified does not have "
                            "the proper alignment.",
    ERROR_USER_MAPPED_FILE: "The requested operation cannot be performed on a file with a "
                            "user-mapped section open.",
}

PAGE = 4096
GRANULARITY = 65536


def posix():
    """pymmap's POSIX backend, which backs the views with real mappings.

    Imported when first needed, so that a program can install the stand-in
    before its first ``import pymmap``.
    """
    return importlib.import_module("pymmap._platform.posix")


def untraced(name, *args):
    """Call ``posix().name(*args)`` for the stand-in's own plumbing, out of pymmap's trace.

    The two backends share one tracer (``pymmap._platform._common``); a
    trace of the Windows layer must show kernel32's calls, not the POSIX
    calls that the stand-in makes to back them.
    """
    common = importlib.import_module("pymmap._platform._common")
    saved, common.tracer = common.tracer, None
    try:
        return getattr(posix(), name)(*args)
    finally:
        common.tracer = saved


def winerror(exc):
    """The Windows error code of an OSError made as ctypes.WinError makes it.

    On Windows Python exposes it as ``exc.winerror``; elsewhere OSError keeps
    the fourth argument only in ``args``.
    """
    return getattr(exc, "winerror", None) or exc.args[3]


class Call(NamedTuple):
    """One recorded call: its name, its arguments as passed, what it returned, the last error after."""

    name: str
    args: tuple
    result: Any
    last_error: int


class _Failure(Exception):
    """Internal: raised by an implementation to fail the call with a Windows error code."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


class FileObject:
    """An open file, as a HANDLE refers to it: a Linux descriptor underneath."""

    def __init__(self, fd, owned):
        self.fd = fd
        self.owned = owned  # False: borrowed from the C runtime by get_osfhandle
        st = os.fstat(fd)
        self.identity = (st.st_dev, st.st_ino)
        self.crt_fd = None  # set when open_osfhandle wraps it

    def alive(self):
        """True while the Linux descriptor still refers to this file."""
        try:
            st = os.fstat(self.fd)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self.identity


class Section:
    """A file mapping object: a file's bytes or paging-file memory, maybe named."""

    def __init__(self, name, size, file, protect, backing_fd):
        self.name = name
        self.size = size
        self.file = file  # a FileObject, or None for the paging file
        self.protect = protect
        self.backing_fd = backing_fd  # where views are mmap(2)ed from
        self.handles = 0
        self.views = 0


class View(NamedTuple):
    section: Section
    address: int
    length: int
    access: int = FILE_MAP_WRITE


def _range(ctype, signed):
    bits = 8 * ctypes.sizeof(ctype)
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)


_INTEGER_RANGES = {
    ctypes.c_int: _range(ctypes.c_int, True),
    ctypes.c_int64: _range(ctypes.c_int64, True),
    ctypes.c_uint16: _range(ctypes.c_uint16, False),
    ctypes.c_uint32: _range(ctypes.c_uint32, False),
    ctypes.c_size_t: _range(ctypes.c_size_t, False),
    ctypes.c_void_p: _range(ctypes.c_void_p, False),
}


class FakeFunction:
    """One kernel32 export: checks its declaration and arguments, records the call."""

    def __init__(self, standin, name, impl):
        self.standin = standin
        self.__name__ = name
        self.impl = impl
        self.argtypes = None
        self._restype = ctypes.c_int
        self.restype_declared = False

    @property
    def restype(self):
        return self._restype

    @restype.setter
    def restype(self, value):
        self._restype = value
        self.restype_declared = True

    def _check(self, argtype, value, position):
        """Internal: raise ctypes.ArgumentError unless ``value`` fits ``argtype``, as declared.

        ``from_param`` checks the kind of value, as ctypes does at a real
        call; ctypes does not check the range of an int, and would silently
        cut it, so that is checked here.
        """
        where = f"{self.__name__} argument {position + 1}"
        try:
            argtype.from_param(value)
        except (TypeError, ctypes.ArgumentError) as exc:
            raise ctypes.ArgumentError(f"{where}: {exc}") from None
        bounds = _INTEGER_RANGES.get(argtype)
        if bounds is not None and value is not None and not bounds[0] <= value <= bounds[1]:
            raise ctypes.ArgumentError(
                f"{where}: {value} does not fit {argtype.__name__} (ctypes would cut it)")

    def __call__(self, *args):
        st = self.standin
        if self.argtypes is None or not self.restype_declared:
            raise AssertionError(f"{self.__name__} called without argtypes and restype")
        if len(args) != len(self.argtypes):
            raise TypeError(f"{self.__name__} takes {len(self.argtypes)} arguments ({len(args)} given)")
        for position, (argtype, value) in enumerate(zip(self.argtypes, args)):
            self._check(argtype, value, position)
        # use_last_error=True: ctypes puts its saved copy in place before the
        # call and saves the thread's value after it.
        st.thread_error = st.saved_error
        try:
            result = self.impl(*args)
        except _Failure as failure:
            st.thread_error = failure.code
            result = 0
        st.saved_error = st.thread_error
        if self.restype is not None and result is not None:
            result = self.restype(result).value
        st.calls.append(Call(self.__name__, args, result, st.saved_error))
        return result


class FakeKernel32:
    """What ``WinDLL("kernel32", use_last_error=True)`` returns: functions by name."""

    def __init__(self, standin):
        self._standin = standin
        self._functions = {}

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        functions = self.__dict__["_functions"]
        if name not in functions:
            impl = getattr(self._standin, "k_" + name, None)
            if impl is None:
                raise AttributeError(f"function '{name}' not found")
            functions[name] = FakeFunction(self._standin, name, impl)
        return functions[name]


class StandIn:
    """Windows, as far as pymmap's backend can tell: kernel32, msvcrt and ctypes' helpers."""

    def __init__(self):
        self.calls: List[Call] = []
        self.thread_error = 0
        self.saved_error = 0
        self.handles: Dict[int, Any] = {}
        self.names: Dict[str, Section] = {}
        self.views: Dict[int, View] = {}
        self.crt: Dict[int, int] = {}  # C runtime descriptor -> HANDLE
        self._next_handle = 0x100
        self.kernel32 = FakeKernel32(self)
        self.msvcrt = types.ModuleType("msvcrt")
        self.msvcrt.get_osfhandle = self.get_osfhandle
        self.msvcrt.open_osfhandle = self.open_osfhandle
        self.fail_next: Dict[str, int] = {}  # function name -> error code to fail it with once
        self.locked: set = set()  # addresses of the pages VirtualLock locked

    # --- what ctypes offers on Windows --------------------------------------------

    def WinDLL(self, name, use_last_error=False):
        assert name == "kernel32", name
        assert use_last_error, "kernel32 must be loaded with use_last_error=True"
        return self.kernel32

    def get_last_error(self):
        return self.saved_error

    def set_last_error(self, value):
        old, self.saved_error = self.saved_error, value
        return old

    def FormatError(self, code):
        return MESSAGES.get(code, f"Unknown error 0x{code:x}.")

    @contextlib.contextmanager
    def installed(self, os_name=None):
        """Put the stand-in where ``win32.py`` looks for Windows, for the ``with`` block.

        ``os_name`` ("nt") also changes ``os.name``, so that a fresh
        ``import pymmap`` inside the block chooses the Windows backend.
        """
        names = ("WinDLL", "get_last_error", "set_last_error", "FormatError")
        saved = {name: ctypes.__dict__.get(name) for name in names}
        saved_msvcrt = sys.modules.get("msvcrt")
        saved_os_name = os.name
        for name in names:
            setattr(ctypes, name, getattr(self, name))
        sys.modules["msvcrt"] = self.msvcrt
        if os_name is not None:
            os.name = os_name
        try:
            yield self
        finally:
            os.name = saved_os_name
            for name, value in saved.items():
                if value is None:
                    delattr(ctypes, name)
                else:
                    setattr(ctypes, name, value)
            if saved_msvcrt is None:
                sys.modules.pop("msvcrt", None)
            else:
                sys.modules["msvcrt"] = saved_msvcrt

    def load_win32(self):
        """Import a fresh ``pymmap._platform.win32`` bound to this stand-in; return it.

        The module is not left in ``sys.modules``: whoever uses it holds it.
        """
        name = "pymmap._platform.win32"
        package = importlib.import_module("pymmap._platform")
        saved = sys.modules.pop(name, None)
        saved_attribute = package.__dict__.pop("win32", None)
        try:
            with self.installed():
                return importlib.import_module(name)
        finally:
            package.__dict__.pop("win32", None)
            sys.modules.pop(name, None)
            if saved is not None:
                sys.modules[name] = saved
            if saved_attribute is not None:
                package.win32 = saved_attribute

    # --- bookkeeping ----------------------------------------------------------------

    def _new_handle(self, obj):
        handle = self._next_handle
        self._next_handle += 4
        self.handles[handle] = obj
        return handle

    def _object(self, handle, kind):
        obj = self.handles.get(handle)
        if not isinstance(obj, kind):
            raise _Failure(ERROR_INVALID_HANDLE)
        return obj

    def _file(self, handle):
        obj = self._object(handle, FileObject)
        if not obj.alive():
            raise _Failure(ERROR_INVALID_HANDLE)
        return obj

    def _maybe_fail(self, name):
        code = self.fail_next.pop(name, None)
        if code is not None:
            raise _Failure(code)

    def _drop_section(self, section):
        """Free a section's memory once no handle and no view refers to it."""
        if section.handles == 0 and section.name is not None and self.names.get(section.name) is section:
            del self.names[section.name]
        if section.handles == 0 and section.views == 0 and section.backing_fd is not None:
            os.close(section.backing_fd)
            section.backing_fd = None

    def open_sections(self):
        """Sections that still have a handle or a view."""
        seen = {id(obj): obj for obj in self.handles.values() if isinstance(obj, Section)}
        seen.update({id(v.section): v.section for v in self.views.values()})
        return list(seen.values())

    def leaks(self):
        """What pymmap left open: views, section handles, and file handles it owns."""
        found = [f"view at 0x{address:x}" for address in self.views]
        for handle, obj in self.handles.items():
            if isinstance(obj, Section):
                found.append(f"section handle 0x{handle:x}")
            elif obj.owned and (obj.crt_fd is None or obj.alive()):
                found.append(f"file handle 0x{handle:x} (fd {obj.fd})")
        return found

    def names_of(self, *calls):
        """The names of the recorded calls, optionally only those in ``calls``."""
        return [c.name for c in self.calls if not calls or c.name in calls]

    # --- msvcrt -----------------------------------------------------------------------

    def get_osfhandle(self, fd):
        """``msvcrt.get_osfhandle``: the HANDLE of a C runtime descriptor (here: a Linux fd)."""
        try:
            st = os.fstat(fd)
        except (OSError, OverflowError):
            raise OSError(errno.EBADF, os.strerror(errno.EBADF)) from None
        if stat.S_ISSOCK(st.st_mode):  # sockets are not C runtime descriptors on Windows
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        handle = self.crt.get(fd)
        if handle is not None:
            obj = self.handles.get(handle)
            if isinstance(obj, FileObject) and obj.alive():
                return handle
        handle = self._new_handle(FileObject(fd, owned=False))
        self.crt[fd] = handle
        return handle

    def open_osfhandle(self, handle, flags):
        """``msvcrt.open_osfhandle``: a new descriptor that owns ``handle``."""
        obj = self.handles.get(handle)
        if not isinstance(obj, FileObject) or not obj.owned:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        obj.crt_fd = obj.fd
        self.crt[obj.fd] = handle
        return obj.fd

    # --- kernel32: handles and processes -------------------------------------------

    def k_GetCurrentProcess(self):
        return CURRENT_PROCESS

    def _process_copy(self, process, size, done, copy):
        """ReadProcessMemory/WriteProcessMemory on this process: the host kernel's own copy.

        As Windows does, a copy that fails part of the way reports
        ERROR_PARTIAL_COPY and no count.
        """
        assert process == CURRENT_PROCESS
        try:
            copied = copy()
        except OSError:
            copied = 0
        if copied != size:
            raise _Failure(ERROR_PARTIAL_COPY)
        getattr(done, "_obj", done).value = size
        return 1

    def k_ReadProcessMemory(self, process, address, buffer, size, done):
        def copy():
            data = untraced("kernel_copies").read(address, size)
            ctypes.memmove(buffer, data, len(data))
            return len(data)
        return self._process_copy(process, size, done, copy)

    def k_WriteProcessMemory(self, process, address, buffer, size, done):
        return self._process_copy(
            process, size, done, lambda: untraced("kernel_copies").write(address, ctypes.string_at(buffer, size)))

    def k_CloseHandle(self, handle):
        self._maybe_fail("CloseHandle")
        obj = self.handles.get(handle)
        if obj is None:
            raise _Failure(ERROR_INVALID_HANDLE)
        if isinstance(obj, FileObject) and (not obj.owned or obj.crt_fd is not None):
            raise AssertionError(f"CloseHandle(0x{handle:x}): that handle belongs to a C runtime "
                                 "descriptor; only _close may close it")
        del self.handles[handle]
        if isinstance(obj, Section):
            obj.handles -= 1
            self._drop_section(obj)
        else:
            os.close(obj.fd)
        return 1

    def k_DuplicateHandle(self, source_process, source, target_process, target, access,
                          inherit, options):
        self._maybe_fail("DuplicateHandle")
        assert source_process == CURRENT_PROCESS and target_process == CURRENT_PROCESS
        assert options == DUPLICATE_SAME_ACCESS and not inherit
        obj = self._file(source)
        target._obj.value = self._new_handle(FileObject(os.dup(obj.fd), owned=True))
        return 1

    def k_GetSystemInfo(self, info):
        info._obj.dwPageSize = PAGE
        info._obj.dwAllocationGranularity = GRANULARITY
        info._obj.dwNumberOfProcessors = 1

    def k_GetLastError(self):
        return self.thread_error

    # --- kernel32: files --------------------------------------------------------------

    def k_GetFileSizeEx(self, handle, size):
        self._maybe_fail("GetFileSizeEx")
        obj = self._file(handle)
        size._obj.value = os.fstat(obj.fd).st_size
        return 1

    def k_SetFilePointerEx(self, handle, distance, new_position, method):
        obj = self._file(handle)
        assert method == FILE_BEGIN
        if distance < 0:
            raise _Failure(ERROR_INVALID_PARAMETER)
        os.lseek(obj.fd, distance, os.SEEK_SET)
        if new_position is not None:
            new_position._obj.value = distance
        return 1

    def k_SetEndOfFile(self, handle):
        self._maybe_fail("SetEndOfFile")
        obj = self._file(handle)
        # "UnmapViewOfFile must be called first to unmap all views and call
        # CloseHandle to close the file mapping object before you can call
        # SetEndOfFile."
        for section in self.open_sections():
            if section.file is not None and section.file.identity == obj.identity:
                raise _Failure(ERROR_USER_MAPPED_FILE)
        os.ftruncate(obj.fd, os.lseek(obj.fd, 0, os.SEEK_CUR))
        return 1

    def k_FlushFileBuffers(self, handle):
        os.fsync(self._file(handle).fd)
        return 1

    # --- kernel32: sections and views ------------------------------------------------

    def k_CreateFileMappingW(self, file, attributes, protect, size_high, size_low, name):
        self._maybe_fail("CreateFileMappingW")
        assert attributes is None
        name = name or None  # an empty name makes an unnamed section
        if name is not None and name in self.names:
            section = self.names[name]
            section.handles += 1
            handle = self._new_handle(section)
            self.thread_error = ERROR_ALREADY_EXISTS
            return handle
        if protect not in (PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOPY):
            raise _Failure(ERROR_INVALID_PARAMETER)
        size = size_high << 32 | size_low
        if file == INVALID_HANDLE_VALUE:
            if size == 0:
                raise _Failure(ERROR_INVALID_PARAMETER)
            backing = os.memfd_create("standin-section", os.MFD_CLOEXEC)
            os.ftruncate(backing, size)
            section = Section(name, size, None, protect, backing)
        else:
            obj = self._file(file)
            import fcntl  # here, not at the top: the module must import on Windows too

            mode = getattr(os, "O_ACCMODE", 3) & fcntl.fcntl(obj.fd, fcntl.F_GETFL)
            if protect == PAGE_READWRITE and mode != os.O_RDWR:
                raise _Failure(ERROR_ACCESS_DENIED)
            if mode == os.O_WRONLY:
                raise _Failure(ERROR_ACCESS_DENIED)
            file_size = os.fstat(obj.fd).st_size
            if size == 0:
                if file_size == 0:
                    raise _Failure(ERROR_FILE_INVALID)
                size = file_size
            elif size > file_size:
                if protect != PAGE_READWRITE:
                    raise _Failure(ERROR_NOT_ENOUGH_MEMORY)
                os.ftruncate(obj.fd, size)  # the file grows to the section's size
            # The section holds the file open, whatever happens to the handle.
            section = Section(name, size, obj, protect, os.dup(obj.fd))
        section.handles = 1
        if name is not None:
            self.names[name] = section
        self.thread_error = 0
        return self._new_handle(section)

    def k_OpenFileMappingW(self, access, inherit, name):
        section = self.names.get(name)
        if section is None:
            raise _Failure(ERROR_FILE_NOT_FOUND)
        if access & FILE_MAP_WRITE and section.protect != PAGE_READWRITE:
            raise _Failure(ERROR_ACCESS_DENIED)
        section.handles += 1
        return self._new_handle(section)

    def k_MapViewOfFile(self, handle, access, offset_high, offset_low, length):
        self._maybe_fail("MapViewOfFile")
        section = self._object(handle, Section)
        if access not in (FILE_MAP_READ, FILE_MAP_WRITE, FILE_MAP_COPY):
            raise _Failure(ERROR_INVALID_PARAMETER)
        if access == FILE_MAP_WRITE and section.protect != PAGE_READWRITE:
            raise _Failure(ERROR_ACCESS_DENIED)
        offset = offset_high << 32 | offset_low
        if offset % GRANULARITY:
            raise _Failure(ERROR_MAPPED_ALIGNMENT)
        if length == 0:
            length = section.size - offset
        if length <= 0 or offset + length > section.size:
            raise _Failure(ERROR_ACCESS_DENIED)
        constants = posix().CONSTANTS
        prot = constants["PROT_READ"] | (0 if access == FILE_MAP_READ else constants["PROT_WRITE"])
        flags = constants["MAP_PRIVATE"] if access == FILE_MAP_COPY else constants["MAP_SHARED"]
        address = untraced("map_memory", length, prot, flags, section.backing_fd, offset)
        section.views += 1
        self.views[address] = View(section, address, length, access)
        return address

    def _view_at(self, address):
        for view in self.views.values():
            if view.address <= address < view.address + view.length:
                return view
        return None

    def k_UnmapViewOfFile(self, address):
        view = self.views.pop(address, None)
        if view is None:
            raise _Failure(ERROR_INVALID_ADDRESS)
        untraced("unmap", address, view.length)
        view.section.views -= 1
        self._drop_section(view.section)
        return 1

    def k_FlushViewOfFile(self, address, length):
        self._maybe_fail("FlushViewOfFile")
        view = self._view_at(address)
        if view is None:
            raise _Failure(ERROR_INVALID_ADDRESS)
        end = view.address + view.length if length == 0 else address + length
        if end > view.address + view.length:
            raise _Failure(ERROR_INVALID_PARAMETER)
        start = address - (address - view.address) % PAGE
        untraced("flush", start, end - start, posix().CONSTANTS["MS_SYNC"])
        return 1

    # --- kernel32: pages of a view ------------------------------------------------------

    def _pages_of_a_view(self, address, length):
        """Internal: the view holding the whole range (ERROR_INVALID_ADDRESS if none), its pages."""
        view = self._view_at(address)
        if view is None or length <= 0 or address + length > view.address + view.length:
            raise _Failure(ERROR_INVALID_ADDRESS)
        first = address - address % PAGE
        return view, range(first, address + length, PAGE)

    def k_VirtualProtect(self, address, length, protect, old):
        self._maybe_fail("VirtualProtect")
        view, pages = self._pages_of_a_view(address, length)
        constants = posix().CONSTANTS
        read, write = constants["PROT_READ"], constants["PROT_WRITE"]
        prot = {PAGE_NOACCESS: 0, PAGE_READONLY: read, PAGE_READWRITE: read | write,
                PAGE_WRITECOPY: read | write}.get(protect)
        if prot is None:
            raise _Failure(ERROR_INVALID_PARAMETER)
        # A copy-on-write view's pages may be written only as PAGE_WRITECOPY,
        # and only such views' pages may be; a read-only view's not at all.
        if (protect == PAGE_READWRITE) == (view.access == FILE_MAP_COPY) and prot & write:
            raise _Failure(ERROR_INVALID_PARAMETER)
        if prot & write and view.access == FILE_MAP_READ:
            raise _Failure(ERROR_ACCESS_DENIED)
        untraced("protect", pages[0], len(pages) * PAGE, prot)
        old._obj.value = PAGE_READWRITE
        return 1

    def k_VirtualLock(self, address, length):
        self._maybe_fail("VirtualLock")
        _, pages = self._pages_of_a_view(address, length)
        untraced("lock", pages[0], len(pages) * PAGE)
        self.locked.update(pages)
        return 1

    def k_VirtualUnlock(self, address, length):
        _, pages = self._pages_of_a_view(address, length)
        if not set(pages) <= self.locked:
            raise _Failure(ERROR_NOT_LOCKED)
        untraced("unlock", pages[0], len(pages) * PAGE)
        self.locked.difference_update(pages)
        return 1

    def k_K32QueryWorkingSetEx(self, process, entries, size):
        assert process == CURRENT_PROCESS
        entries = getattr(entries, "_obj", entries)
        assert size == ctypes.sizeof(entries)
        for entry in entries:
            if self._view_at(entry.VirtualAddress) is None:
                entry.VirtualAttributes = 0  # not even mapped: not valid
            else:
                entry.VirtualAttributes = untraced("resident", entry.VirtualAddress, PAGE)[0] & 1
        return 1

    def k_PrefetchVirtualMemory(self, process, count, entries, flags):
        assert process == CURRENT_PROCESS and count == 1 and flags == 0
        entry = entries._obj
        _, pages = self._pages_of_a_view(entry.VirtualAddress, entry.NumberOfBytes)
        untraced("advise", pages[0], len(pages) * PAGE, posix().CONSTANTS["MADV_WILLNEED"])
        return 1

    def k_VirtualQuery(self, address, info, length):
        view = self._view_at(address)
        if view is None:
            info._obj.BaseAddress = address - address % PAGE
            info._obj.State = MEM_FREE
        else:
            info._obj.BaseAddress = info._obj.AllocationBase = view.address
            info._obj.RegionSize = view.length
            info._obj.State = MEM_COMMIT
            info._obj.Type = MEM_MAPPED
        return ctypes.sizeof(info._obj)


def fresh_pymmap(standin):
    """Import a second, separate ``pymmap`` package whose platform layer is the Windows one.

    With the stand-in installed and ``os.name`` set to ``"nt"`` for the
    moment of the import, ``pymmap._platform`` chooses ``windows.py``, and the
    region and facade above it are built over it.  The modules already in
    ``sys.modules`` are put back at once: the rest of the test run keeps the
    POSIX pymmap, and the returned package object is the only way to the
    Windows one.
    """
    import pymmap  # noqa: F401 - the POSIX one: its imports are done before os.name changes

    ours = {name: module for name, module in sys.modules.items()
            if name == "pymmap" or name.startswith("pymmap.")}
    for name in ours:
        del sys.modules[name]
    try:
        with standin.installed(os_name="nt"):
            package = importlib.import_module("pymmap")
            importlib.import_module("pymmap.tour")
            #: Every module of the Windows package, for a test that must import
            #: through it (``monkeypatch.setitem(sys.modules, ...)``).
            package.modules = {name: module for name, module in sys.modules.items()
                               if name == "pymmap" or name.startswith("pymmap.")}
    finally:
        for name in [n for n in sys.modules if n == "pymmap" or n.startswith("pymmap.")]:
            del sys.modules[name]
        sys.modules.update(ours)
    return package

