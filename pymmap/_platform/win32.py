"""Declarations of the kernel32 calls the Windows backend makes (``windows.py``).

Only declarations live here, as in pyserial's ``win32.py``: one ``WinDLL``,
then each function with its ``restype`` and ``argtypes``, the structures
they fill in, and the constants they take, each block citing its header.

This module touches Windows the moment it is imported: it loads kernel32
and the C runtime's descriptor table (``msvcrt``).  So nothing imports it
at ``import pymmap`` time; ``windows.py`` imports it on its first call.  On
any other system, importing it raises ``ImportError``; the tests put a
recording stand-in in place of ``ctypes.WinDLL`` and ``msvcrt`` first.

The Windows types are spelled with fixed-width ctypes types (``DWORD`` is
``c_uint32``; ``ctypes.wintypes.DWORD`` is ``c_ulong``, 64 bits on Linux), so
that every declaration means the same on every system.  ``LARGE_INTEGER``,
a union whose ``QuadPart`` is a signed 64-bit integer, is passed and
returned as ``c_int64``.  64-bit sizes and offsets that a call takes as two
DWORDs are split by the caller into high and low halves.
"""

from __future__ import annotations

import ctypes
import importlib
from ctypes import POINTER, Structure, c_int, c_int64, c_size_t, c_uint16, c_uint32, c_void_p, c_wchar_p

TYPE_CHECKING = False  # typing's flag, without importing typing: see pymmap/__init__.py
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "BOOL",
    "DUPLICATE_SAME_ACCESS",
    "DWORD",
    "DWORD_PTR",
    "ERROR_ACCESS_DENIED",
    "ERROR_ALREADY_EXISTS",
    "ERROR_FILE_INVALID",
    "ERROR_FILE_NOT_FOUND",
    "ERROR_INVALID_ADDRESS",
    "ERROR_INVALID_HANDLE",
    "ERROR_INVALID_PARAMETER",
    "ERROR_MAPPED_ALIGNMENT",
    "ERROR_NOACCESS",
    "ERROR_NOT_ENOUGH_MEMORY",
    "ERROR_NOT_LOCKED",
    "ERROR_NOT_SUPPORTED",
    "ERROR_PARTIAL_COPY",
    "ERROR_USER_MAPPED_FILE",
    "FILE_BEGIN",
    "FILE_MAP_COPY",
    "FILE_MAP_READ",
    "FILE_MAP_WRITE",
    "HANDLE",
    "INVALID_HANDLE_VALUE",
    "LARGE_INTEGER",
    "LPCWSTR",
    "LPVOID",
    "MEMORY_BASIC_INFORMATION",
    "MEM_COMMIT",
    "MEM_FREE",
    "MEM_MAPPED",
    "MEM_RESERVE",
    "NO_ERROR",
    "PAGE_EXECUTE_READ",
    "PAGE_EXECUTE_READWRITE",
    "PAGE_EXECUTE_WRITECOPY",
    "PAGE_NOACCESS",
    "PAGE_READONLY",
    "PAGE_READWRITE",
    "PAGE_WRITECOPY",
    "PSAPI_WORKING_SET_EX_INFORMATION",
    "SIZE_T",
    "SYSTEM_INFO",
    "WIN32_MEMORY_RANGE_ENTRY",
    "WORD",
    "CloseHandle",
    "CreateFileMappingW",
    "DuplicateHandle",
    "FlushFileBuffers",
    "FlushViewOfFile",
    "FormatError",
    "GetCurrentProcess",
    "GetFileSizeEx",
    "GetLastError",
    "GetSystemInfo",
    "K32QueryWorkingSetEx",
    "MapViewOfFile",
    "OpenFileMappingW",
    "PrefetchVirtualMemory",
    "ReadProcessMemory",
    "SetEndOfFile",
    "SetFilePointerEx",
    "UnmapViewOfFile",
    "VirtualLock",
    "VirtualProtect",
    "VirtualQuery",
    "VirtualUnlock",
    "WriteProcessMemory",
    "get_last_error",
    "get_osfhandle",
    "kernel32",
    "open_osfhandle",
]


def _windows_only(module: Any, name: str) -> Any:
    """Internal: ``module.name``, a name that exists only on Windows.

    ctypes defines ``WinDLL``, ``get_last_error`` and ``FormatError`` only
    on Windows, so they are looked up by name: type checkers running on
    other systems see no missing attribute, and elsewhere the error says
    what is missing.
    """
    try:
        return getattr(module, name)
    except AttributeError:
        raise ImportError(f"pymmap's Windows backend needs Windows: there is no {name} here") from None


# --- Windows types (<windef.h>, <basetsd.h>, <winnt.h>) --------------------------

BOOL = c_int
WORD = c_uint16
DWORD = c_uint32
HANDLE = c_void_p
LPVOID = c_void_p
SIZE_T = c_size_t
DWORD_PTR = c_size_t
LARGE_INTEGER = c_int64
LPCWSTR = c_wchar_p


class SYSTEM_INFO(Structure):
    """What ``GetSystemInfo`` reports (<sysinfoapi.h>)::

        typedef struct _SYSTEM_INFO {
            union { DWORD dwOemId; struct { WORD wProcessorArchitecture; WORD wReserved; }; };
            DWORD     dwPageSize;
            LPVOID    lpMinimumApplicationAddress;
            LPVOID    lpMaximumApplicationAddress;
            DWORD_PTR dwActiveProcessorMask;
            DWORD     dwNumberOfProcessors;
            DWORD     dwProcessorType;
            DWORD     dwAllocationGranularity;
            WORD      wProcessorLevel;
            WORD      wProcessorRevision;
        } SYSTEM_INFO;
    """

    _fields_ = [
        ("wProcessorArchitecture", WORD),
        ("wReserved", WORD),
        ("dwPageSize", DWORD),
        ("lpMinimumApplicationAddress", LPVOID),
        ("lpMaximumApplicationAddress", LPVOID),
        ("dwActiveProcessorMask", DWORD_PTR),
        ("dwNumberOfProcessors", DWORD),
        ("dwProcessorType", DWORD),
        ("dwAllocationGranularity", DWORD),
        ("wProcessorLevel", WORD),
        ("wProcessorRevision", WORD),
    ]


class MEMORY_BASIC_INFORMATION(Structure):
    """What ``VirtualQuery`` reports about a range of pages (<winnt.h>)::

        typedef struct _MEMORY_BASIC_INFORMATION {
            PVOID  BaseAddress;
            PVOID  AllocationBase;
            DWORD  AllocationProtect;
            WORD   PartitionId;      /* 64-bit Windows only */
            SIZE_T RegionSize;
            DWORD  State;
            DWORD  Protect;
            DWORD  Type;
        } MEMORY_BASIC_INFORMATION;

    ``PartitionId`` lies in the padding before ``RegionSize`` and is left
    out, so that one layout fits 32- and 64-bit Windows.
    """

    _fields_ = [
        ("BaseAddress", LPVOID),
        ("AllocationBase", LPVOID),
        ("AllocationProtect", DWORD),
        ("RegionSize", SIZE_T),
        ("State", DWORD),
        ("Protect", DWORD),
        ("Type", DWORD),
    ]


class PSAPI_WORKING_SET_EX_INFORMATION(Structure):
    """One page's entry for ``QueryWorkingSetEx`` (<psapi.h>)::

        typedef struct _PSAPI_WORKING_SET_EX_INFORMATION {
            PVOID VirtualAddress;                           /* in: the page */
            PSAPI_WORKING_SET_EX_BLOCK VirtualAttributes;   /* out: bit 0, Valid */
        } PSAPI_WORKING_SET_EX_INFORMATION;

    ``VirtualAttributes`` is a ULONG_PTR of bit fields; bit 0 (``Valid``)
    says that the page is in the process's working set, mapped in RAM.
    """

    _fields_ = [
        ("VirtualAddress", LPVOID),
        ("VirtualAttributes", DWORD_PTR),
    ]


class WIN32_MEMORY_RANGE_ENTRY(Structure):
    """One range for ``PrefetchVirtualMemory`` (<memoryapi.h>)::

        typedef struct _WIN32_MEMORY_RANGE_ENTRY {
            PVOID  VirtualAddress;
            SIZE_T NumberOfBytes;
        } WIN32_MEMORY_RANGE_ENTRY;
    """

    _fields_ = [
        ("VirtualAddress", LPVOID),
        ("NumberOfBytes", SIZE_T),
    ]


# --- constants ------------------------------------------------------------------

# <handleapi.h>: (HANDLE)-1, the "no file" handle that makes a section of the paging file.
INVALID_HANDLE_VALUE: int = c_void_p(-1).value  # type: ignore[assignment]

# <winnt.h>: page protections, for CreateFileMappingW's flProtect.
PAGE_NOACCESS = 0x01
PAGE_READONLY = 0x02
PAGE_READWRITE = 0x04
PAGE_WRITECOPY = 0x08
PAGE_EXECUTE_READ = 0x20
PAGE_EXECUTE_READWRITE = 0x40
PAGE_EXECUTE_WRITECOPY = 0x80

# <memoryapi.h>: view access, for MapViewOfFile and OpenFileMappingW.
FILE_MAP_COPY = 0x0001
FILE_MAP_WRITE = 0x0002
FILE_MAP_READ = 0x0004

# <winnt.h>: MEMORY_BASIC_INFORMATION's State and Type.
MEM_COMMIT = 0x1000
MEM_RESERVE = 0x2000
MEM_FREE = 0x10000
MEM_MAPPED = 0x40000

# <winnt.h>: DuplicateHandle's dwOptions.
DUPLICATE_SAME_ACCESS = 0x0002

# <fileapi.h>: SetFilePointerEx's dwMoveMethod.
FILE_BEGIN = 0

# <winerror.h>: the error codes the backend looks for, or that its callers see.
NO_ERROR = 0
ERROR_FILE_NOT_FOUND = 2
ERROR_ACCESS_DENIED = 5
ERROR_INVALID_HANDLE = 6
ERROR_NOT_ENOUGH_MEMORY = 8
ERROR_NOT_SUPPORTED = 50
ERROR_INVALID_PARAMETER = 87
ERROR_NOT_LOCKED = 158
ERROR_PARTIAL_COPY = 299
ERROR_ALREADY_EXISTS = 183
ERROR_INVALID_ADDRESS = 487
ERROR_NOACCESS = 998
ERROR_FILE_INVALID = 1006
ERROR_MAPPED_ALIGNMENT = 1132
ERROR_USER_MAPPED_FILE = 1224

# --- kernel32 -------------------------------------------------------------------

#: kernel32, loaded with ``use_last_error=True``: right after each call, ctypes
#: saves the thread's last error, and :data:`get_last_error` reads that copy
#: (no other call can overwrite it in between, as it could ``GetLastError``'s).
kernel32 = _windows_only(ctypes, "WinDLL")("kernel32", use_last_error=True)
get_last_error = _windows_only(ctypes, "get_last_error")
#: ``FormatError(code)``: the system's message for an error code.
FormatError = _windows_only(ctypes, "FormatError")

# HANDLE CreateFileMappingW(HANDLE hFile, LPSECURITY_ATTRIBUTES lpFileMappingAttributes,
#     DWORD flProtect, DWORD dwMaximumSizeHigh, DWORD dwMaximumSizeLow, LPCWSTR lpName);
CreateFileMappingW = kernel32.CreateFileMappingW
CreateFileMappingW.restype = HANDLE
CreateFileMappingW.argtypes = (HANDLE, LPVOID, DWORD, DWORD, DWORD, LPCWSTR)

# HANDLE OpenFileMappingW(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCWSTR lpName);
OpenFileMappingW = kernel32.OpenFileMappingW
OpenFileMappingW.restype = HANDLE
OpenFileMappingW.argtypes = (DWORD, BOOL, LPCWSTR)

# LPVOID MapViewOfFile(HANDLE hFileMappingObject, DWORD dwDesiredAccess,
#     DWORD dwFileOffsetHigh, DWORD dwFileOffsetLow, SIZE_T dwNumberOfBytesToMap);
MapViewOfFile = kernel32.MapViewOfFile
MapViewOfFile.restype = LPVOID
MapViewOfFile.argtypes = (HANDLE, DWORD, DWORD, DWORD, SIZE_T)

# BOOL UnmapViewOfFile(LPCVOID lpBaseAddress);
UnmapViewOfFile = kernel32.UnmapViewOfFile
UnmapViewOfFile.restype = BOOL
UnmapViewOfFile.argtypes = (LPVOID,)

# BOOL FlushViewOfFile(LPCVOID lpBaseAddress, SIZE_T dwNumberOfBytesToFlush);
FlushViewOfFile = kernel32.FlushViewOfFile
FlushViewOfFile.restype = BOOL
FlushViewOfFile.argtypes = (LPVOID, SIZE_T)

# BOOL FlushFileBuffers(HANDLE hFile);
FlushFileBuffers = kernel32.FlushFileBuffers
FlushFileBuffers.restype = BOOL
FlushFileBuffers.argtypes = (HANDLE,)

# BOOL CloseHandle(HANDLE hObject);
CloseHandle = kernel32.CloseHandle
CloseHandle.restype = BOOL
CloseHandle.argtypes = (HANDLE,)

# HANDLE GetCurrentProcess(void);  (a pseudo-handle, (HANDLE)-1, never closed)
GetCurrentProcess = kernel32.GetCurrentProcess
GetCurrentProcess.restype = HANDLE
GetCurrentProcess.argtypes = ()

# BOOL DuplicateHandle(HANDLE hSourceProcessHandle, HANDLE hSourceHandle,
#     HANDLE hTargetProcessHandle, LPHANDLE lpTargetHandle, DWORD dwDesiredAccess,
#     BOOL bInheritHandle, DWORD dwOptions);
DuplicateHandle = kernel32.DuplicateHandle
DuplicateHandle.restype = BOOL
DuplicateHandle.argtypes = (HANDLE, HANDLE, HANDLE, POINTER(HANDLE), DWORD, BOOL, DWORD)

# void GetSystemInfo(LPSYSTEM_INFO lpSystemInfo);
GetSystemInfo = kernel32.GetSystemInfo
GetSystemInfo.restype = None
GetSystemInfo.argtypes = (POINTER(SYSTEM_INFO),)

# BOOL GetFileSizeEx(HANDLE hFile, PLARGE_INTEGER lpFileSize);
GetFileSizeEx = kernel32.GetFileSizeEx
GetFileSizeEx.restype = BOOL
GetFileSizeEx.argtypes = (HANDLE, POINTER(LARGE_INTEGER))

# BOOL SetFilePointerEx(HANDLE hFile, LARGE_INTEGER liDistanceToMove,
#     PLARGE_INTEGER lpNewFilePointer, DWORD dwMoveMethod);
SetFilePointerEx = kernel32.SetFilePointerEx
SetFilePointerEx.restype = BOOL
SetFilePointerEx.argtypes = (HANDLE, LARGE_INTEGER, POINTER(LARGE_INTEGER), DWORD)

# BOOL SetEndOfFile(HANDLE hFile);
SetEndOfFile = kernel32.SetEndOfFile
SetEndOfFile.restype = BOOL
SetEndOfFile.argtypes = (HANDLE,)

# SIZE_T VirtualQuery(LPCVOID lpAddress, PMEMORY_BASIC_INFORMATION lpBuffer, SIZE_T dwLength);
# (What lies at an address: a view, and how long.  The backend knows its own
# views, so only the tests ask.)
VirtualQuery = kernel32.VirtualQuery
VirtualQuery.restype = SIZE_T
VirtualQuery.argtypes = (LPVOID, POINTER(MEMORY_BASIC_INFORMATION), SIZE_T)

# BOOL VirtualProtect(LPVOID lpAddress, SIZE_T dwSize, DWORD flNewProtect, PDWORD lpflOldProtect);
VirtualProtect = kernel32.VirtualProtect
VirtualProtect.restype = BOOL
VirtualProtect.argtypes = (LPVOID, SIZE_T, DWORD, POINTER(DWORD))

# BOOL VirtualLock(LPVOID lpAddress, SIZE_T dwSize);
VirtualLock = kernel32.VirtualLock
VirtualLock.restype = BOOL
VirtualLock.argtypes = (LPVOID, SIZE_T)

# BOOL VirtualUnlock(LPVOID lpAddress, SIZE_T dwSize);
VirtualUnlock = kernel32.VirtualUnlock
VirtualUnlock.restype = BOOL
VirtualUnlock.argtypes = (LPVOID, SIZE_T)

# BOOL QueryWorkingSetEx(HANDLE hProcess, PVOID pv, DWORD cb);  psapi's call,
# exported by kernel32 itself as K32QueryWorkingSetEx since Windows 7.
K32QueryWorkingSetEx = kernel32.K32QueryWorkingSetEx
K32QueryWorkingSetEx.restype = BOOL
K32QueryWorkingSetEx.argtypes = (HANDLE, POINTER(PSAPI_WORKING_SET_EX_INFORMATION), DWORD)

# BOOL PrefetchVirtualMemory(HANDLE hProcess, ULONG_PTR NumberOfEntries,
#     PWIN32_MEMORY_RANGE_ENTRY VirtualAddresses, ULONG Flags);  (Windows 8+)
PrefetchVirtualMemory = kernel32.PrefetchVirtualMemory
PrefetchVirtualMemory.restype = BOOL
PrefetchVirtualMemory.argtypes = (HANDLE, DWORD_PTR, POINTER(WIN32_MEMORY_RANGE_ENTRY), DWORD)

# BOOL ReadProcessMemory(HANDLE hProcess, LPCVOID lpBaseAddress, LPVOID lpBuffer,
#     SIZE_T nSize, SIZE_T *lpNumberOfBytesRead);
# BOOL WriteProcessMemory(HANDLE hProcess, LPVOID lpBaseAddress, LPCVOID lpBuffer,
#     SIZE_T nSize, SIZE_T *lpNumberOfBytesWritten);
# (On this process's own memory: the copies of checked maps, which fail with
# ERROR_PARTIAL_COPY or ERROR_NOACCESS where a plain load would raise an
# access violation or an in-page error.)
ReadProcessMemory = kernel32.ReadProcessMemory
ReadProcessMemory.restype = BOOL
ReadProcessMemory.argtypes = (HANDLE, LPVOID, LPVOID, SIZE_T, POINTER(SIZE_T))
WriteProcessMemory = kernel32.WriteProcessMemory
WriteProcessMemory.restype = BOOL
WriteProcessMemory.argtypes = (HANDLE, LPVOID, LPVOID, SIZE_T, POINTER(SIZE_T))

# DWORD GetLastError(void);  Declared for completeness: the backend reads
# get_last_error() instead, the copy ctypes saved right after the failing
# call, since the interpreter itself may call Windows in between.
GetLastError = kernel32.GetLastError
GetLastError.restype = DWORD
GetLastError.argtypes = ()

# --- the C runtime's descriptor table (Python's msvcrt module) ------------------

_msvcrt = importlib.import_module("msvcrt")
#: ``get_osfhandle(fd)``: the HANDLE behind a C runtime descriptor (OSError EBADF if none).
get_osfhandle = _msvcrt.get_osfhandle
#: ``open_osfhandle(handle, flags)``: a new descriptor that owns ``handle``.
open_osfhandle = _msvcrt.open_osfhandle
