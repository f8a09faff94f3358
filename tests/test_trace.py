"""The syscall trace (``pymmap.trace``): its line format, its targets, nesting, PYMMAP_TRACE.

The first tests format calls directly with :func:`pymmap.trace.format_call`;
the later ones make real system calls through ``pymmap.mmap`` and read the
lines the trace produced.
"""

import errno
import io
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import pymmap
from pymmap._platform import tables
from pymmap.trace import Syscall, format_call, trace

if os.name != "posix":
    pytest.skip('the POSIX call lines (mmap, munmap, mremap, ...); the kernel32 lines are checked under Windows in tests/test_windows_features.py', allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
C = pymmap.CONSTANTS
PAGE = pymmap.PAGESIZE
MAP_FAILED = pymmap._platform.backend.MAP_FAILED
_TABLE = tables.TABLES[tables.select()]
MAP_FIXED = _TABLE.get("MAP_FIXED", _TABLE.get("_MAP_FIXED"))
ADDR = r"0x[0-9a-f]+"

# --- the format, one call at a time -------------------------------------------------


def test_mmap_line():
    line = format_call("mmap", (None, 4096, C["PROT_READ"] | C["PROT_WRITE"], C["MAP_SHARED"], 3, 0),
                       0x7F3A2C001000, 0)
    assert line == "mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_SHARED, 3, 0) = 0x7f3a2c001000"


def test_mmap_anonymous_fixed_line():
    flags = C["MAP_PRIVATE"] | C["MAP_ANONYMOUS"] | MAP_FIXED
    line = format_call("mmap", (0x7F0000001000, 8192, C["PROT_READ"] | C["PROT_WRITE"], flags, -1, 0),
                       0x7F0000001000, 0)
    assert line == ("mmap(0x7f0000001000, 8192, PROT_READ|PROT_WRITE, "
                    "MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0) = 0x7f0000001000")


def test_mmap_failure_line():
    line = format_call("mmap", (None, 4096, C["PROT_READ"], C["MAP_SHARED"], 99, 0),
                       MAP_FAILED, errno.EBADF)
    assert line == "mmap(NULL, 4096, PROT_READ, MAP_SHARED, 99, 0) = -1 EBADF (Bad file descriptor)"


def test_munmap_and_msync_lines():
    assert format_call("munmap", (0x7F3A2C001000, 4096), 0, 0) == "munmap(0x7f3a2c001000, 4096) = 0"
    assert (format_call("msync", (0x7F3A2C001000, 4096, C["MS_SYNC"]), 0, 0)
            == "msync(0x7f3a2c001000, 4096, MS_SYNC) = 0")
    assert (format_call("msync", (0x1000, 1, C["MS_ASYNC"] | C["MS_INVALIDATE"]), 0, 0)
            == "msync(0x1000, 1, MS_ASYNC|MS_INVALIDATE) = 0")


def test_mremap_lines():
    assert (format_call("mremap", (0x1000, 4096, 8192, 1), 0x9000, 0)
            == "mremap(0x1000, 4096, 8192, MREMAP_MAYMOVE) = 0x9000")
    assert format_call("mremap", (0x1000, 4096, 8192, 0), 0x1000, 0) == "mremap(0x1000, 4096, 8192, 0) = 0x1000"
    assert (format_call("mremap", (0x1000, 4096, 8192, 0), MAP_FAILED, errno.ENOMEM)
            == "mremap(0x1000, 4096, 8192, 0) = -1 ENOMEM (Cannot allocate memory)")


def test_madvise_lines():
    assert (format_call("madvise", (0x1000, 4096, C["MADV_DONTNEED"]), 0, 0)
            == "madvise(0x1000, 4096, MADV_DONTNEED) = 0")
    assert (format_call("madvise", (0x1000, 4096, 9999), -1, errno.EINVAL)
            == "madvise(0x1000, 4096, 9999) = -1 EINVAL (Invalid argument)")


def test_file_descriptor_lines():
    assert format_call("ftruncate", (4, 8192), 0, 0) == "ftruncate(4, 8192) = 0"
    assert (format_call("ftruncate", (4, 8192), -1, errno.EBADF)
            == "ftruncate(4, 8192) = -1 EBADF (Bad file descriptor)")
    assert format_call("dup", (3,), 4, 0) == "dup(3) = 4"
    assert format_call("close", (4,), 0, 0) == "close(4) = 0"
    st = os.stat_result((0o100644, 0, 0, 1, 0, 0, 302, 0, 0, 0))
    assert format_call("fstat", (4,), st, 0) == "fstat(4, {st_mode=S_IFREG|0644, st_size=302, ...}) = 0"


def test_flag_spelling():
    prot = C["PROT_READ"] | C["PROT_WRITE"]
    both = C["MAP_SHARED"] | C["MAP_PRIVATE"]
    assert format_call("mprotect", (0x1000, 4096, 0), 0, 0) == "mprotect(0x1000, 4096, PROT_NONE) = 0"
    # Bits no name covers are shown in hex; a multi-bit name wins over its parts.
    assert format_call("mprotect", (0x1000, 4096, prot | 0x10000000), 0, 0) == \
        "mprotect(0x1000, 4096, PROT_READ|PROT_WRITE|0x10000000) = 0"
    if C.get("MAP_SHARED_VALIDATE") == both:
        line = format_call("mmap", (None, 1, prot, both, 3, 0), 0x1000, 0)
        assert "MAP_SHARED_VALIDATE," in line
    # MAP_ANON is an alias: only the long name is printed.
    line = format_call("mmap", (None, 1, prot, C["MAP_SHARED"] | C["MAP_ANON"], -1, 0), 0x1000, 0)
    assert "MAP_SHARED|MAP_ANONYMOUS," in line


def test_unknown_errno_and_unknown_call():
    assert format_call("close", (4,), -1, 4000).startswith("close(4) = -1 4000 (")
    assert format_call("frobnicate", (None, 3, b"x\"y"), 7, 0) == 'frobnicate(NULL, 3, "x\\"y") = 7'


# --- real calls -----------------------------------------------------------------------


@pytest.fixture
def calls():
    """Trace the test's calls into a list of Syscall records."""
    records = []
    with trace(records.append):
        yield records


def lines(records):
    return [str(r) for r in records]


def test_anonymous_map_lifetime(calls):
    m = pymmap.mmap(-1, PAGE)
    m.close()
    assert len(calls) == 2
    mapped, unmapped = lines(calls)
    match = re.fullmatch(rf"mmap\(NULL, {PAGE}, PROT_READ\|PROT_WRITE, MAP_SHARED\|MAP_ANONYMOUS, "
                         rf"-1, 0\) = ({ADDR})", mapped)
    assert match, mapped
    assert unmapped == f"munmap({match.group(1)}, {PAGE}) = 0"


def test_records_carry_the_raw_call(calls):
    m = pymmap.mmap(-1, PAGE)
    m.close()
    record = calls[0]
    assert isinstance(record, Syscall)
    assert record.name == "mmap"
    assert record.args[1] == PAGE
    assert record.err == 0
    assert str(record) == record.line == format_call(*record[:4])
    assert calls[1].args == (record.result, PAGE)


def test_file_map_flush_resize_advise(calls, tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100)
    with open(path, "r+b") as f:
        fd = f.fileno()
        m = pymmap.mmap(fd, 0)
        m[0] = 1
        m.flush()
        m.resize(2 * PAGE)
        m.madvise(pymmap.MADV_WILLNEED)
        m.close()
    text = "\n".join(lines(calls))
    assert re.search(rf"^fstat\({fd}, \{{st_mode=S_IFREG\|0[0-7]+, st_size=100, \.\.\.\}}\) = 0$", text, re.M)
    # The map's own descriptor: os.dup's call, named as it is (PyPy 3.9's fcntl module lacks the name).
    own = re.search(rf"^(?:fcntl\({fd}, F_DUPFD_CLOEXEC, 0\)|dup\({fd}\)) = (\d+)$", text, re.M).group(1)
    address = re.search(rf"^mmap\(NULL, 100, PROT_READ\|PROT_WRITE, MAP_SHARED, {fd}, 0\) = ({ADDR})$",
                        text, re.M).group(1)
    assert f"msync({address}, 100, MS_SYNC) = 0" in text
    assert f"ftruncate({own}, {2 * PAGE}) = 0" in text
    moved = re.search(rf"^mremap\({address}, 100, {2 * PAGE}, MREMAP_MAYMOVE\) = ({ADDR})$",
                      text, re.M).group(1)
    assert f"madvise({moved}, {2 * PAGE}, MADV_WILLNEED) = 0" in text
    assert f"munmap({moved}, {2 * PAGE}) = 0" in text
    assert f"close({own}) = 0" in text


def test_failures_name_the_errno(calls, tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * PAGE * 2)
    with open(path, "r+b") as f:
        with pytest.raises(OSError) as info:
            pymmap.mmap(f.fileno(), 10, offset=100)
        assert info.value.errno == errno.EINVAL
    assert re.search(r"^mmap\(NULL, 10, PROT_READ\|PROT_WRITE, MAP_SHARED, \d+, 100\) "
                     r"= -1 EINVAL \(Invalid argument\)$", "\n".join(lines(calls)), re.M)
    fd = os.open(os.devnull, os.O_RDONLY)
    os.close(fd)  # now a descriptor number nothing uses
    with pytest.raises(OSError):
        pymmap.mmap(fd, 10, trackfd=False)
    assert lines(calls)[-1] == (f"mmap(NULL, 10, PROT_READ|PROT_WRITE, MAP_SHARED, {fd}, 0) "
                                "= -1 EBADF (Bad file descriptor)")


def test_hot_paths_make_no_system_calls(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"hello world\n" * 100)
    with open(path, "r+b") as f:
        m = pymmap.mmap(f.fileno(), 0)
        records = []
        with trace(records.append):
            m[0], m[:10], m.read(5), m.readline(), m.find(b"world"), m.rfind(b"o")
            m[0] = 72
            m.write(b"x")
        m.close()
    assert records == []


# --- targets, nesting, the default ---------------------------------------------------------


def test_nesting_restores_the_outer_tracer():
    outer, inner = [], []
    with trace(outer.append):
        pymmap.mmap(-1, PAGE).close()
        with trace(inner.append):
            pymmap.mmap(-1, PAGE).close()
        pymmap.mmap(-1, PAGE).close()
    pymmap.mmap(-1, PAGE).close()  # traced by no one
    assert [r.name for r in outer] == ["mmap", "munmap", "mmap", "munmap"]
    assert [r.name for r in inner] == ["mmap", "munmap"]


def test_exception_in_block_restores(capfd):
    records = []
    with pytest.raises(ZeroDivisionError):
        with trace(records.append):
            1 / 0
    pymmap.mmap(-1, PAGE).close()
    assert records == []
    assert capfd.readouterr().err == ""


def test_same_trace_object_can_nest_itself():
    records = []
    t = trace(records.append)
    with t:
        with t:
            pymmap.mmap(-1, PAGE).close()
        pymmap.mmap(-1, PAGE).close()
    pymmap.mmap(-1, PAGE).close()
    assert len(records) == 4


def test_file_object_target():
    out = io.StringIO()
    with trace(out):
        pymmap.mmap(-1, PAGE).close()
    text = out.getvalue()
    assert text.count("\n") == 2
    assert text.startswith("mmap(NULL, ") and "\nmunmap(0x" in text


def test_path_target_appends_and_closes(tmp_path):
    log = tmp_path / "trace.log"
    log.write_text("earlier line\n")
    with trace(str(log)):
        pymmap.mmap(-1, PAGE).close()
    with trace(log):  # a pathlib.Path works too
        pymmap.mmap(-1, PAGE).close()
    got = log.read_text().splitlines()
    assert got[0] == "earlier line"
    assert [line.split("(")[0] for line in got[1:]] == ["mmap", "munmap", "mmap", "munmap"]


def test_default_target_is_stderr(capsys):
    with trace():
        pymmap.mmap(-1, PAGE).close()
    out, err = capsys.readouterr()
    assert out == ""
    assert re.match(r"mmap\(NULL, .*\nmunmap\(0x", err)


def test_no_output_when_off(capfd, tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100)
    with open(path, "r+b") as f:
        m = pymmap.mmap(f.fileno(), 0)
        m.flush()
        m.resize(PAGE)
        m.close()
    pymmap.mmap(-1, PAGE).close()
    assert capfd.readouterr() == ("", "")


def test_bad_target_is_refused():
    with pytest.raises(TypeError):
        trace(42).__enter__()


def test_failing_target_warns_and_the_call_still_counts():
    def broken(record):
        raise RuntimeError("target broke")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with trace(broken):
            m = pymmap.mmap(-1, PAGE)
            m[0] = 7
            m.close()
    assert m.closed
    assert any("target broke" in str(w.message) and w.category is RuntimeWarning for w in caught)


def test_exported():
    assert pymmap.trace is trace
    assert "trace" in pymmap.__all__


# --- PYMMAP_TRACE ---------------------------------------------------------------------------

SCRIPT = "import pymmap; m = pymmap.mmap(-1, 4096); m.close(); print('done')"


def run_with(value, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PYMMAP_TRACE", None)
    if value is not None:
        env["PYMMAP_TRACE"] = value
    return subprocess.run([sys.executable, "-c", SCRIPT], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=60)


def test_environment_variable_traces_to_stderr(tmp_path):
    proc = run_with("1", tmp_path)
    assert proc.returncode == 0
    assert proc.stdout == "done\n"
    got = proc.stderr.splitlines()
    assert len(got) == 2
    assert re.fullmatch(rf"mmap\(NULL, 4096, PROT_READ\|PROT_WRITE, MAP_SHARED\|MAP_ANONYMOUS, -1, 0\) "
                        rf"= {ADDR}", got[0])
    assert re.fullmatch(rf"munmap\({ADDR}, 4096\) = 0", got[1])


def test_environment_variable_names_a_file(tmp_path):
    log = tmp_path / "trace.log"
    proc = run_with(str(log), tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "done\n", "")
    assert [line.split("(")[0] for line in log.read_text().splitlines()] == ["mmap", "munmap"]


@pytest.mark.parametrize("value", [None, "", "0"])
def test_environment_variable_off(value, tmp_path):
    proc = run_with(value, tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "done\n", "")


def test_environment_variable_unopenable_file_warns(tmp_path):
    proc = run_with(str(tmp_path / "no" / "such" / "dir" / "log"), tmp_path)
    assert proc.returncode == 0
    assert proc.stdout == "done\n"
    assert "PYMMAP_TRACE" in proc.stderr and "RuntimeWarning" in proc.stderr


GUIDE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "how-mmap-works.md")


def _normalised(lines):
    """Trace lines with the parts that differ from run to run (addresses, descriptors) made equal."""
    out = []
    for line in lines:
        line = re.sub(r"0x[0-9a-f]+", "ADDR", line)
        line = re.sub(r"\b(dup|close)\(\d+\) = \d+", r"\1(FD) = FD", line)
        line = re.sub(r"\b(fstat|fcntl)\(\d+, ", r"\1(FD, ", line)  # (3, or 4 where the interpreter holds one more)
        line = re.sub(r"(F_DUPFD_CLOEXEC, 0\)) = \d+", r"\1 = FD", line)
        line = re.sub(r"(MAP_SHARED|MAP_PRIVATE), \d+, ", r"\1, FD, ", line)
        out.append(line)
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the guide shows Linux's calls")
def test_the_guides_program_makes_the_calls_the_guide_shows(tmp_path):
    with open(GUIDE) as f:
        text = f.read()
    program = re.search(r"```python\n(import pymmap\n.*?)```", text, re.S).group(1)
    shown = re.search(r"\$ PYMMAP_TRACE=1 python hello.py\n(.*?)```", text, re.S).group(1).splitlines()
    (tmp_path / "hello.py").write_text(program)
    env = dict(os.environ, PYMMAP_TRACE="1", PYTHONPATH=os.path.dirname(os.path.dirname(GUIDE)))
    proc = subprocess.run([sys.executable, "hello.py"], cwd=str(tmp_path), env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert _normalised(proc.stderr.splitlines()) == _normalised(shown)
