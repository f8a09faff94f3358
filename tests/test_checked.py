"""Checked maps (``checked=True``): a page that is gone raises OSError, and the process lives.

Every scenario that touches a page past the end of a truncated file runs in a
child interpreter (:func:`isolated.run_isolated`): if pymmap let a SIGBUS
through, the child would die and the test fail, instead of pytest.  Each
child prints what it saw as JSON, and the test judges it.

Without truncation a checked map must behave exactly like the stdlib's map:
the differential test at the end runs the same operations on both.
"""

import ctypes
import errno
import json
import mmap as stdlib_mmap
import os
import re
import signal
import struct
import subprocess
import sys
import textwrap

import cpeer
import oracle
import pytest
from isolated import ROOT, run_isolated

import pymmap
from pymmap._platform import backend as _backend


def _why_no_kernel_copies():
    """The reason checked maps are refused on this system, or None where they work."""
    try:
        _backend.kernel_copies()
    except OSError as exc:
        return str(exc)
    return None


# Where the system offers neither way (qemu-user for a 32-bit guest: see
# tests/emulation.py), checked=True is refused at once, with that reason:
# tests/test_platform_contract.py checks the refusal, and these cannot run.
NO_KERNEL_COPIES = _why_no_kernel_copies()
pytestmark = pytest.mark.skipif(NO_KERNEL_COPIES is not None, reason=f"checked maps: {NO_KERNEL_COPIES}")

LINUX = sys.platform.startswith("linux")
PAGE = pymmap.PAGESIZE
linux_only = pytest.mark.skipif(not LINUX, reason="a mapped file can be truncated (and pages vanish) on Linux; "
                                "Windows refuses to shrink a mapped file (see the Windows tests below)")

# The child's common start: an 8-page file whose page k is filled with the
# letter "a" + k, mapped checked, then cut to 3 pages (and a half, to see that
# the kernel gives the partial page: it is still backed, zero-filled past the end).
TRUNCATED = r"""
import errno, json, os, struct, sys, tempfile
import pymmap
PAGE = pymmap.PAGESIZE
path = os.path.join(sys.argv[1], "data.bin")
with open(path, "wb") as f:
    for k in range(8):
        f.write(bytes([97 + k]) * PAGE)
fd = os.open(path, os.O_RDWR)
m = pymmap.mmap(fd, 8 * PAGE, checked=True)
os.ftruncate(fd, 3 * PAGE + 100)
END = 4 * PAGE              # the first byte whose page is gone
results = {}

def attempt(name, fn):
    before = m.tell()
    try:
        value = fn()
    except OSError as exc:
        results[name] = {"errno": exc.errno, "message": str(exc), "moved": m.tell() != before}
    else:
        results[name] = {"value": value if isinstance(value, (int, str, type(None), list)) else repr(value)}
"""


def _truncated_child(tmp_path, body):
    out = run_isolated(TRUNCATED + textwrap.dedent(body) + "\nprint(json.dumps(results))\n", tmp_path)
    return json.loads(out.strip().splitlines()[-1])


def _gone(result):
    """Assert ``result`` is the OSError of a page gone, and that the position did not move."""
    assert "errno" in result, result
    assert result["errno"] in (errno.EFAULT, errno.EIO), result
    assert "shorter than the map" in result["message"], result
    assert not result["moved"], result


@linux_only
def test_an_unchecked_map_dies_where_a_checked_one_raises(tmp_path):
    # The scenario is real: the same read on an ordinary map kills the process.
    code = TRUNCATED.replace("checked=True", "checked=False") + "m[END]\n"
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == -signal.SIGBUS, proc
    results = _truncated_child(tmp_path, "attempt('item', lambda: m[END])")
    _gone(results["item"])


@linux_only
def test_every_read_past_the_end_raises_and_the_bytes_before_it_read(tmp_path):
    results = _truncated_child(tmp_path, """
        t = m.typed()
        attempt("item", lambda: m[END + 5])
        attempt("negative item", lambda: m[-1])
        attempt("slice across", lambda: m[END - 10:END + 10])
        attempt("stepped slice", lambda: m[0:8 * PAGE:PAGE])
        attempt("reversed slice", lambda: m[END + 3:END - 3:-1])
        m.seek(END - 4)
        attempt("read", lambda: m.read(8))
        attempt("read all", lambda: m.read())
        m.seek(END)
        attempt("read_byte", lambda: m.read_byte())
        m.seek(END - 2)
        attempt("readline", lambda: m.readline())
        attempt("find", lambda: m.find(b"zz", 0))
        attempt("find from pos", lambda: m.find(b"zz"))
        attempt("rfind", lambda: m.rfind(b"a", 0))
        attempt("in", lambda: b"z" in m)
        attempt("iterate", lambda: sum(1 for _ in m))
        attempt("typed u32", lambda: t.u32[END])
        attempt("typed array", lambda: t.u8.array(END - 2, 4))
        attempt("typed string", lambda: t.string(END - 2, 4))
        attempt("typed char", lambda: t.char[END])
        attempt("unpack_from", lambda: m.unpack_from("<Q", END - 4))
        attempt("load", lambda: m.load())
        # Before the end, everything reads as it should.
        attempt("ok item", lambda: m[3 * PAGE])
        attempt("ok slice", lambda: m[PAGE - 1:PAGE + 1].decode())
        attempt("ok zeros past the file's last byte, on its last page", lambda: m[3 * PAGE + 100])
        attempt("ok find before the gap", lambda: m.find(b"c", 0))
        attempt("ok find straddling nothing", lambda: m.find(b"bc", 0))
        attempt("ok rfind in range", lambda: m.rfind(b"b", 0, 3 * PAGE))
        attempt("ok typed", lambda: t.u16[2 * PAGE])
        attempt("ok unpack_from", lambda: list(m.unpack_from("<2s", PAGE - 1))[0].decode())
        m.seek(3 * PAGE - 1)
        attempt("ok readline up to the zeros", lambda: len(m.readline()))
    """)
    for name in ("item", "negative item", "slice across", "stepped slice", "reversed slice", "read", "read all",
                 "read_byte", "readline", "find", "find from pos", "rfind", "in", "iterate", "typed u32",
                 "typed array", "typed string", "typed char", "unpack_from", "load"):
        _gone(results[name])
    assert results["ok item"] == {"value": ord("d")}
    assert results["ok slice"] == {"value": "ab"}
    assert results["ok zeros past the file's last byte, on its last page"] == {"value": 0}
    assert results["ok find before the gap"] == {"value": 2 * PAGE}
    assert results["ok find straddling nothing"] == {"value": 2 * PAGE - 1}
    assert results["ok rfind in range"] == {"value": 2 * PAGE - 1}
    assert results["ok typed"] == {"value": 0x6363}
    assert results["ok unpack_from"] == {"value": "ab"}
    # The line runs on into the zero-filled tail of the last page, and on to the gone page.
    _gone(results["ok readline up to the zeros"])
    # The message names the bytes asked for and the first one that cannot be reached.
    expected = (f"mmap bytes {4 * PAGE - 10}..{4 * PAGE + 9} cannot be read: "
                f"the page of bytes {4 * PAGE}..{5 * PAGE - 1} cannot be reached")
    assert expected in results["slice across"]["message"]
    assert f"The file is {3 * PAGE + 100} bytes long now" in results["item"]["message"]


@linux_only
def test_every_write_past_the_end_raises_and_writes_before_it_land(tmp_path):
    results = _truncated_child(tmp_path, """
        t = m.typed()
        attempt("item", lambda: m.__setitem__(END, 1))
        attempt("slice", lambda: m.__setitem__(slice(END, END + 3), b"xyz"))
        attempt("stepped slice", lambda: m.__setitem__(slice(END, END + 6, 2), b"xyz"))
        m.seek(END)
        attempt("write", lambda: m.write(b"hello"))
        attempt("write_byte", lambda: m.write_byte(65))
        attempt("move into the gap", lambda: m.move(END, 0, 10))
        attempt("move from the gap", lambda: m.move(0, END, 10))
        attempt("typed", lambda: t.u32.__setitem__(END, 7))
        attempt("typed char", lambda: t.char.__setitem__(END, "x"))
        attempt("typed string", lambda: t.set_string(END, 4, b"ab"))
        attempt("pack_into", lambda: m.pack_into("<I", END + 8, 1))
        # Before the end, writes land in the file.
        m[0] = ord("A")
        m[1:3] = b"BC"
        m.seek(PAGE)
        m.write(b"written")
        m.write_byte(ord("!"))
        m.move(2 * PAGE, 0, 3)
        t.u32[2 * PAGE + 8] = 0x44434241
        m.pack_into(">H", 3 * PAGE, 0x4142)
        m.flush()
        attempt("file", lambda: [os.pread(fd, 3, 0).decode(), os.pread(fd, 8, PAGE).decode(),
                                 os.pread(fd, 3, 2 * PAGE).decode(), os.pread(fd, 4, 2 * PAGE + 8).decode(),
                                 os.pread(fd, 2, 3 * PAGE).decode()])
    """)
    for name in ("item", "slice", "stepped slice", "write", "write_byte", "move into the gap", "move from the gap",
                 "typed", "typed char", "typed string", "pack_into"):
        _gone(results[name])
    assert "cannot be written" in results["write"]["message"]
    assert results["file"] == {"value": ["ABC", "written!", "ABC", "ABCD", "AB"]}


@linux_only
def test_a_file_cut_to_nothing_and_grown_again(tmp_path):
    results = _truncated_child(tmp_path, """
        os.ftruncate(fd, 0)
        attempt("first byte", lambda: m[0])
        os.ftruncate(fd, 8 * PAGE)
        attempt("back, zero-filled", lambda: m[0])
    """)
    assert results["first byte"]["errno"] in (errno.EFAULT, errno.EIO)
    assert results["back, zero-filled"] == {"value": 0}


# --- what a checked map refuses -------------------------------------------------------------


@pytest.fixture
def checked_map(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789" * 1000)
    with open(path, "r+b") as f:
        m = pymmap.mmap(f.fileno(), 0, checked=True)
    yield m
    m.close()


def _refusal_types():
    # CPython 3.8-3.11 lend through the type's C slots, where the refusal is
    # C's TypeError (its message names the reason); elsewhere BufferError.
    return (BufferError,) if pymmap.exports.CALLS_BUFFER_DUNDER else (TypeError,)


def test_a_checked_map_lends_no_buffer(checked_map):
    with pytest.raises(BufferError, match="lends no memory"):
        checked_map.buffer()
    with pytest.raises(_refusal_types(), match="lends no memory"):
        memoryview(checked_map)
    with pytest.raises((TypeError, BufferError)):
        re.search(b"56", checked_map)  # (CPython's re turns any failed borrow into its own TypeError)
    with pytest.raises((TypeError, BufferError)):  # (PyPy 3.11's struct asks no __buffer__: README)
        struct.unpack_from("<I", checked_map, 0)
    with pytest.raises(_refusal_types(), match="lends no memory"):
        bytes(checked_map)
    if hasattr(checked_map, "__buffer__"):
        with pytest.raises(BufferError, match=r"m\[a:b\], m\.read\(\)"):
            checked_map.__buffer__(0)
    # What it does instead, and nothing was lent: close works at once.
    assert checked_map[:4] == b"0123"
    assert checked_map.unpack_from("<I", 0) == struct.unpack("<I", b"0123")
    assert checked_map.find(b"56") == 5
    checked_map.resize(PAGE)
    checked_map.close()


def test_a_checked_map_makes_no_record(checked_map):
    import ctypes

    with pytest.raises(BufferError, match="lends no memory"):
        checked_map.record(ctypes.c_uint32 * 4, 0)


def test_a_checked_map_says_so(checked_map, tmp_path):
    assert checked_map.checked
    assert repr(checked_map).endswith(", checked=True>")
    with pymmap.mmap(-1, PAGE) as plain:
        assert not plain.checked
        assert "checked" not in repr(plain)


def test_checked_is_keyword_only_and_converted_to_bool(tmp_path):
    with pytest.raises(TypeError):
        pymmap.mmap(-1, PAGE, 1, 3, 0, 0, True)  # (trackfd and the rest cannot be given by position)
    with pymmap.mmap(-1, PAGE, checked=1) as m:
        assert m.checked is True


# --- the kernel copies: the one the system allows, and the fallback ---------------------------------


def _process_vm_readv_works() -> bool:
    """process_vm_readv on this process, asked directly (qemu-user, for one, has no such call: ENOSYS)."""
    libc = ctypes.CDLL(None, use_errno=True)

    class iovec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

    source, target = ctypes.create_string_buffer(b"ok"), ctypes.create_string_buffer(2)
    local = iovec(ctypes.addressof(target), 2)
    remote = iovec(ctypes.addressof(source), 2)
    libc.process_vm_readv.restype = ctypes.c_ssize_t
    done = libc.process_vm_readv(os.getpid(), ctypes.byref(local), ctypes.c_ulong(1),
                                 ctypes.byref(remote), ctypes.c_ulong(1), ctypes.c_ulong(0))
    return done == 2 and target.raw == b"ok"


@linux_only
def test_the_first_choice_is_process_vm_readv():
    # (Where the call itself does not work, the fallback is the choice.)
    expected = "process_vm_readv" if _process_vm_readv_works() else "/proc/self/mem"
    assert run_isolated("""
        import pymmap
        from pymmap._platform import backend
        with pymmap.mmap(-1, pymmap.PAGESIZE, checked=True) as m:
            m[:3] = b"abc"
            assert m[:3] == b"abc"
        print(backend.kernel_copies().name)
    """).strip() == expected


FALLBACK = r"""
import ctypes, errno, os
from pymmap._platform import backend
from pymmap._platform._common import KernelCopies

def refused(*args):
    # What a seccomp profile that forbids the calls makes of them: -1 with EPERM.
    ctypes.set_errno(errno.EPERM)
    return -1

# The bindings fail as they would: the ctypes functions (CPython), and the
# pair of copies built on them or on cffi's (PyPy).
backend._process_vm_readv = backend._process_vm_writev = refused
backend._VM_CALLS = KernelCopies(
    backend._VM_CALLS.name,
    lambda address, count: backend._syscall("process_vm_readv", refused, (), -1),
    lambda address, data: backend._syscall("process_vm_writev", refused, (), -1))
"""


@linux_only
def test_without_process_vm_readv_a_checked_map_uses_proc_self_mem(tmp_path):
    results = _truncated_child(tmp_path, FALLBACK + textwrap.dedent("""
        # (The map above was made before the binding failed: start again.)
        m.close()
        backend._kernel_copies = None
        with open(path, "wb") as f:
            for k in range(8):
                f.write(bytes([97 + k]) * PAGE)
        m = pymmap.mmap(fd, 8 * PAGE, checked=True)
        attempt("copies", lambda: backend.kernel_copies().name)
        attempt("ok", lambda: m[PAGE:PAGE + 2].decode())
        m[0:2] = b"XY"
        attempt("written", lambda: os.pread(fd, 2, 0).decode())
        os.ftruncate(fd, 2 * PAGE)
        attempt("gone", lambda: m[5 * PAGE])
        attempt("gone write", lambda: m.__setitem__(5 * PAGE, 1))
        attempt("find before the gap", lambda: m.find(b"b", 0))
        attempt("find across the gap", lambda: m.find(b"z", 0))
    """))
    assert results["copies"] == {"value": "/proc/self/mem"}
    assert results["ok"] == {"value": "bb"}
    assert results["written"] == {"value": "XY"}
    for name in ("gone", "gone write", "find across the gap"):
        assert results[name]["errno"] == errno.EIO, results[name]
        assert "shorter than the map" in results[name]["message"]
    assert results["find before the gap"] == {"value": PAGE}


@linux_only
def test_proc_self_mem_is_reopened_by_a_forked_child_and_never_reaches_another_file(tmp_path):
    out = run_isolated(FALLBACK + textwrap.dedent("""
        import pymmap
        m = pymmap.mmap(-1, pymmap.PAGESIZE, flags=pymmap.MAP_PRIVATE, checked=True)
        m[0] = 1
        pid = os.fork()
        if pid == 0:
            m[0] = 2   # the child's own private page: the parent's stays 1
            os._exit(0 if m[0] == 2 else 1)
        _, status = os.waitpid(pid, 0)
        assert status == 0 and m[0] == 1, (status, m[0])
        # Someone closes every descriptor and opens a file under the same number:
        fd = backend._proc_mem._state[0]
        os.dup2(os.open(os.devnull, os.O_RDWR), fd)
        m[0] = 3        # reopens /proc/self/mem; /dev/null is left alone
        print(m[0], backend._proc_mem._state[0] != fd)
    """))
    assert out.split() == ["3", "True"]


@linux_only
def test_a_system_without_kernel_copies_refuses_checked_at_once():
    out = run_isolated(FALLBACK + textwrap.dedent("""
        import pymmap
        def unreadable(address, count):
            raise backend.oserror(errno.EACCES)
        backend._PROC_MEM = KernelCopies(backend._PROC_MEM.name, unreadable, backend._PROC_MEM.write)
        try:
            pymmap.mmap(-1, pymmap.PAGESIZE, checked=True)
        except OSError as exc:
            print(exc.errno == errno.ENOSYS, exc)
        with pymmap.mmap(-1, pymmap.PAGESIZE) as m:  # (an unchecked map is fine)
            m[0] = 1
    """))
    assert out.startswith("True ")
    assert "process_vm_readv: [Errno 1]" in out and "/proc/self/mem: [Errno 13]" in out


# --- shared memory shrunk by the program on the other side ----------------------------------


@linux_only
@pytest.mark.skipif(not pymmap._platform.backend.HAS_SHM_OPEN, reason="no shm_open(3) here")
def test_a_shm_segment_shrunk_by_a_c_program_under_a_polling_typed_reader(tmp_path):
    name, _ = cpeer.unique_names()
    if cpeer.compiler() is not None:
        shrink = [cpeer.build(tmp_path), "shrink", name, str(PAGE)]
    else:  # (no compiler: a Python child does what the C peer would)
        shrink = [sys.executable, "-c", "import os, sys; from pymmap._platform import backend; "
                  "fd = backend.shm_open(sys.argv[1].encode(), True, False); os.ftruncate(fd, int(sys.argv[2]))",
                  name, str(PAGE)]
    out = run_isolated("""
        import errno, json, subprocess, sys, time
        import pymmap
        name, shrink = sys.argv[1], json.loads(sys.argv[2])
        PAGE = pymmap.PAGESIZE
        m = pymmap.shm_open(name, 4 * PAGE, create=True, checked=True)
        try:
            t = m.typed()
            t.u32[3 * PAGE] = 0xC0FFEE
            peer = None
            polls = 0
            try:
                while True:           # a reader polling a field the C side owns
                    assert t.u32[3 * PAGE] == 0xC0FFEE
                    polls += 1
                    if polls == 20:   # (and meanwhile the C program shrinks the object)
                        peer = subprocess.Popen(shrink)
                    time.sleep(0.001)
            except OSError as exc:
                print(polls >= 20, exc.errno in (errno.EFAULT, errno.EIO), "shorter than the map" in str(exc))
            assert peer.wait() == 0
            print(t.u32[0] == 0, m[PAGE - 1] == 0)   # the first page is still there
        finally:
            m.close()
            pymmap.shm_unlink(name)
    """, name, json.dumps(shrink))
    assert out.split() == ["True"] * 5


# --- the cost of the checks is the copies: they stay correct at every size -------------------


@pytest.mark.parametrize("size", [1, PAGE - 1, PAGE, 3 * PAGE + 5, (1 << 16) + 1, (1 << 20) + 3])
def test_copies_of_every_size_round_trip(size):
    data = os.urandom(size)
    with pymmap.mmap(-1, size + PAGE, checked=True) as m:
        m[1:size + 1] = data
        assert m[1:size + 1] == data
        assert m.find(data, 1) == 1
        m.move(0, 1, size)
        assert m[:size] == data


# --- without truncation, a checked map is the stdlib's map ------------------------------------------


def at(m, position):
    """``m`` after ``m.seek(position)`` (whose result differs by version: None before 3.13)."""
    m.seek(position)
    return m


OPERATIONS = [
    ("len", lambda m: len(m)),
    ("item", lambda m: m[7]),
    ("negative item", lambda m: m[-3]),
    ("item out of range", lambda m: m[10 ** 6]),
    ("slice", lambda m: m[3:40]),
    ("stepped slice", lambda m: m[1:300:7]),
    ("reversed slice", lambda m: m[300:1:-5]),
    ("empty slice", lambda m: m[50:10]),
    ("set item", lambda m: m.__setitem__(5, 66) or m[:10]),
    ("set item out of range", lambda m: m.__setitem__(10 ** 6, 1)),
    ("set item bad value", lambda m: m.__setitem__(5, 256)),
    ("set slice", lambda m: m.__setitem__(slice(10, 13), b"xyz") or m[:20]),
    ("set stepped slice", lambda m: m.__setitem__(slice(0, 9, 3), b"PQR") or m[:20]),
    ("set slice wrong size", lambda m: m.__setitem__(slice(10, 13), b"xy")),
    ("set slice bytearray", lambda m: m.__setitem__(slice(0, 2), bytearray(b"kk")) or m[:4]),
    ("read", lambda m: (at(m, 5).read(10), m.tell())),
    ("read all", lambda m: (at(m, 4000).read(), m.tell())),
    ("read_byte", lambda m: (at(m, 9).read_byte(), m.tell())),
    ("read_byte at end", lambda m: at(m, len(m)).read_byte()),
    ("readline", lambda m: (at(m, 0).readline(), m.readline(), m.tell())),
    ("write", lambda m: (at(m, 3).write(b"abc"), m.tell(), m[:8])),
    ("write past the end", lambda m: at(m, len(m) - 1).write(b"ab")),
    ("write_byte", lambda m: (at(m, 2).write_byte(90), m.tell(), m[:4])),
    ("find", lambda m: m.find(b"line 7")),
    ("find with bounds", lambda m: m.find(b"line", 100, 200)),
    ("find missing", lambda m: m.find(b"nothing here")),
    ("rfind", lambda m: m.rfind(b"line")),
    ("rfind with bounds", lambda m: m.rfind(b"line", 0, 300)),
    ("in", lambda m: (b"l" in m, b"#" in m)),
    ("iterate", lambda m: list(m)[:5]),
    ("move", lambda m: m.move(0, 100, 50) or m[:60]),
    ("move out of range", lambda m: m.move(0, len(m) - 10, 50)),
    ("flush", lambda m: m.flush()),
    ("size", lambda m: m.size()),
    ("resize", lambda m: (m.resize(2 * len(m)), len(m), m[-1])),
]


@pytest.mark.parametrize("access", ["ACCESS_WRITE", "ACCESS_READ", "ACCESS_COPY"])
@pytest.mark.parametrize("name, operation", OPERATIONS, ids=[name for name, _ in OPERATIONS])
def test_a_checked_map_behaves_as_the_stdlib_map(tmp_path, access, name, operation):
    content = b"".join(b"line %d of the file\n" % i for i in range(300))

    def outcome(module, **extra):
        path = tmp_path / f"{module.__name__}.bin"
        path.write_bytes(content)
        with open(path, "r+b") as f:
            m = module.mmap(f.fileno(), 0, access=getattr(module, access), **extra)
            try:
                result = ("value", operation(m))
            except Exception as exc:  # (the type is what is compared)
                result = ("raises", type(exc))
            finally:
                m.close()
        return result, path.read_bytes()

    if name == "resize" and sys.platform == "win32":
        pytest.skip("Windows grows the file itself: test_windows_differential covers resize")
    # The oracle is CPython's mmap; PyPy's own is a different implementation
    # (tests/oracle.py), so there the ordinary pymmap map, which follows
    # CPython's (and is compared with it on CPython), stands in for it.
    oracle_module = stdlib_mmap if sys.implementation.name == "cpython" else pymmap
    assert outcome(pymmap, checked=True) == outcome(oracle_module)


# --- Windows: a page that cannot be reached, under the real kernel32 (Wine) ---------------------


@pytest.mark.skipif(sys.platform != "win32", reason="ReadProcessMemory on this process: Windows only")
def test_windows_a_page_made_no_access_behind_the_maps_back_never_kills_the_process():
    out = run_isolated("""
        import ctypes
        import pymmap
        from pymmap._platform import win32
        PAGE = pymmap.PAGESIZE
        m = pymmap.mmap(-1, 4 * PAGE, checked=True)
        m[PAGE:PAGE + 4] = b"abcd"
        m[2 * PAGE:2 * PAGE + 4] = b"wxyz"
        address = m._region.address
        old = win32.DWORD()
        # What a vanished network drive or a bad disk does to a view: the
        # page cannot be reached.  (m.protect() would be refused by pymmap
        # before any copy; here the system's copy itself meets the page.)
        assert win32.VirtualProtect(address + 2 * PAGE, PAGE, win32.PAGE_NOACCESS, ctypes.byref(old))
        for name, fn in [("item", lambda: m[2 * PAGE]), ("slice", lambda: m[2 * PAGE:2 * PAGE + 4]),
                         ("write", lambda: m.__setitem__(2 * PAGE + 8, 1)),
                         ("find", lambda: m.find(b"wxyz", 0))]:
            try:
                value = fn()
            except OSError as exc:
                # (Wine 8 refuses a write with ERROR_ACCESS_DENIED.)
                print(name, "error", exc.winerror in (win32.ERROR_NOACCESS, win32.ERROR_PARTIAL_COPY,
                                                      win32.ERROR_ACCESS_DENIED))
            else:
                print(name, "value", repr(value))
        print("before", m[PAGE:PAGE + 4].decode(), m.find(b"cd", 0) == PAGE + 2)
        assert win32.VirtualProtect(address + 2 * PAGE, PAGE, old.value, ctypes.byref(old))
        m.close()
    """)
    lines = out.splitlines()
    assert lines[4] == "before abcd True"
    wine = hasattr(ctypes.WinDLL("ntdll"), "wine_get_version")
    for line in lines[:4]:
        name, outcome, detail = line.split(" ", 2)
        if outcome == "error":
            assert detail == "True", line  # the copy fails with an error code
        else:
            # Wine's ReadProcessMemory on its own process reads through
            # PAGE_NOACCESS (seen with Wine 8): the true bytes, and no
            # crash.  Windows itself must refuse.
            assert wine, line
            assert detail in ({"item": "119", "slice": "b'wxyz'", "write": "None", "find": str(2 * PAGE)}[name],), line


def test_kernel_copies_name_their_calls():
    copies = pymmap._platform.backend.kernel_copies()
    assert copies.name in ("process_vm_readv", "/proc/self/mem", "ReadProcessMemory")


@pytest.mark.skipif(sys.platform == "win32", reason="the POSIX signature (test_mmap_windows checks Windows')")
@pytest.mark.parametrize("args, kwargs", [
    ((-1, PAGE, 1, 3, 0, 0, True), {}),          # one positional argument too many
    ((-1, PAGE, 1, 3, 0, 0, True, 1), {}),
    ((-1, PAGE), {"nonsense": 1}),
    ((), {"fileno": -1}),
    ((-1,), {"checked": True}),
    ((-1, PAGE, 1), {"flags": 1, "checked": True}),
])
def test_pymmaps_own_keywords_change_none_of_the_c_parsers_messages(args, kwargs):
    with pytest.raises(TypeError) as expected:
        stdlib_mmap.mmap(*args, **{k: v for k, v in kwargs.items() if k != "checked"})
    with pytest.raises(TypeError) as got:
        pymmap.mmap(*args, **kwargs)
    if sys.implementation.name == "cpython":  # (PyPy's own mmap words its errors its own way)
        # (Older versions' words for the same error are rewritten to the newest, which pymmap uses.)
        assert str(got.value) == oracle._normalise_message(str(expected.value))


# --- the checked region's own logic, in this process: a fault simulated by the copies --------------
# (The real faults above need a truncated file, so they run in children.
# Here the copies themselves pretend that the memory from some byte on
# cannot be reached, as the kernel's do: a short count, then an error.)


class _Faulty:
    """Kernel copies that fail from byte ``gone`` of the region on: as process_vm_readv does, or
    (``whole``) as Windows does, failing a copy that crosses it as a whole, with no count."""

    def __init__(self, real, region, gone, whole=False):
        self.real, self.base, self.gone, self.whole = real, region.address, gone, whole
        self.name = "simulated"

    def _limit(self, address, count):
        offset = address - self.base
        if offset >= self.gone or (offset + count > self.gone and self.whole):
            raise OSError(errno.EFAULT, os.strerror(errno.EFAULT))
        return min(count, self.gone - offset)

    def read(self, address, count):
        return self.real.read(address, self._limit(address, count))

    def write(self, address, data):
        return self.real.write(address, bytes(data[:self._limit(address, len(data))]))


@pytest.fixture(params=[False, True], ids=["short count", "whole copy fails"])
def faulty(request):
    m = pymmap.mmap(-1, 8 * PAGE, checked=True)
    m[:] = b"".join(bytes([97 + k]) * PAGE for k in range(8))
    region = m._region
    region.copies = _Faulty(region.copies, region, 3 * PAGE, whole=request.param)
    yield m
    m.close()


def test_a_simulated_fault_reads_writes_and_searches_as_a_real_one(faulty):
    m = faulty
    assert m[3 * PAGE - 2:3 * PAGE] == b"cc"
    for fn in (lambda: m[3 * PAGE], lambda: m[3 * PAGE - 2:3 * PAGE + 2], lambda: m.find(b"z", 0),
               lambda: m.rfind(b"c", 0), lambda: m.move(0, 3 * PAGE, 4), lambda: m.load(),
               lambda: m.__setitem__(slice(3 * PAGE - 1, 3 * PAGE + 1), b"zz"),
               lambda: m.typed().u32[3 * PAGE - 2]):
        with pytest.raises(OSError) as info:
            fn()
        assert info.value.errno == errno.EFAULT
        assert f"the page of bytes {3 * PAGE}..{4 * PAGE - 1} cannot be reached" in str(info.value)
        assert "The usual cause" in str(info.value)  # (anonymous memory: no file to measure)
    assert m.find(b"c", 0) == 2 * PAGE and m.rfind(b"b", 0, 3 * PAGE) == 2 * PAGE - 1
    assert m[3 * PAGE - 1] == ord("z")  # (the write before the gap landed)


def test_the_region_api_of_a_checked_region():
    from pymmap._platform import backend
    from pymmap.checked import CheckedRegion

    region = CheckedRegion(4 * PAGE)
    try:
        region.write(0, b"hello")
        assert region.read(0, 5) == b"hello"
        with pytest.raises(BufferError):
            region.memory_for(0, 1, False)
        with pytest.raises(IndexError):
            region.read_at(lambda data, offset: data, 4 * PAGE - 2, 4)
        region.store_at(8, bytearray(b"xy"))
        assert region.read(8, 10) == b"xy"
        assert region.find(b"y", 0, 4 * PAGE) == 9 and region.rfind(b"h", 0, 4 * PAGE) == 0
        region.move(100, 0, 5)
        assert region.read(100, 105) == b"hello"
    finally:
        region.close()
    with pytest.raises(ValueError):
        region.read(0, 1)
    readonly_region = CheckedRegion(PAGE, prot=backend.CONSTANTS["PROT_READ"])
    try:
        with pytest.raises(TypeError):
            readonly_region.move(0, 1, 1)
        with pytest.raises(TypeError):
            readonly_region.store_at(0, b"x")
    finally:
        readonly_region.close()


@pytest.mark.skipif(sys.platform == "win32", reason="the PROT_* constants: POSIX (Windows: test_windows_features)")
def test_a_checked_map_keeps_protect_s_promises():
    with pymmap.mmap(-1, 4 * PAGE, checked=True) as m:
        m[PAGE] = 7
        m.protect(pymmap.PROT_NONE, 3 * PAGE)
        m.protect(pymmap.PROT_READ, 0, PAGE)
        with pytest.raises(ValueError):
            m[3 * PAGE]
        with pytest.raises(TypeError):
            m[0] = 1
        assert m.find(b"\x07", 0) == PAGE and m.rfind(b"\x07", PAGE, 3 * PAGE) == PAGE
        with pytest.raises(ValueError):
            m.find(b"zz", 0)
        with pytest.raises(ValueError):
            m.rfind(b"zz", 0)
        with pytest.raises(ValueError):
            m.move(PAGE, 3 * PAGE, 1)
        with pytest.raises(ValueError):
            m.load()
        m.protect(pymmap.PROT_READ | pymmap.PROT_WRITE)
        m.load()


def test_a_checked_view_checks_what_a_memoryview_checks():
    import array

    with pymmap.mmap(-1, PAGE, checked=True) as m:
        for value, error in ((256, ValueError), ("x", TypeError), (-1, ValueError)):
            with pytest.raises(error):
                m[0] = value
        with pytest.raises(IndexError):
            m[PAGE] = 1
        with pytest.raises(IndexError):
            m[-PAGE - 1] = 1
        m[-1] = 9
        assert m[PAGE - 1] == 9
        m[0:4] = array.array("i", [1])  # (any buffer's bytes, as the C module takes them)
        assert m[0:4] == bytes(array.array("i", [1]))
        m[0:3] = memoryview(b"abc")
        m[10:4:-2] = b"xyz"
        fourth = bytes(array.array("i", [1]))[3:4]  # (the int's last byte: 0 on x86, 1 big-endian)
        assert m[:11] == b"abc" + fourth + b"\0\0z\0y\0x"
        assert m[10:4:-2] == b"xyz" and m[::PAGE] == b"a"
        assert m[5:5] == b"" and list(m[0:2]) == [97, 98]
        m[5:5] = b""


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in for kernel32 runs on POSIX (this is Windows itself)")
def test_windows_kernel_copies_through_the_stand_in(monkeypatch):
    import winapi_standin as wa

    from pymmap._platform import _common, windows

    standin = wa.StandIn()
    monkeypatch.setattr(windows, "_win32", standin.load_win32())
    monkeypatch.setattr(windows, "_current_process", None)
    monkeypatch.setattr(_common, "tracer", None)
    copies = windows.kernel_copies()
    assert copies.name == "ReadProcessMemory"
    target = ctypes.create_string_buffer(b"abcdefgh", 8)
    address = ctypes.addressof(target)
    assert copies.read(address, 4) == b"abcd" and copies.read(address, 0) == b""
    assert copies.write(address, b"XY") == 2 and target.raw[:4] == b"XYcd" and copies.write(address, b"") == 0
    with pytest.raises(OSError) as info:
        copies.read(0, 4)  # (nothing is mapped at 0: ERROR_PARTIAL_COPY)
    assert wa.winerror(info.value) == wa.ERROR_PARTIAL_COPY
