"""``python -m pymmap tour``: runs from a fresh clone, quickly, and shows the system calls.

The tour runs in a subprocess, from the repository root, with no
``PYTHONPATH`` and no installation: ``python -m pymmap`` must find the
package in the current directory, as it does in a fresh clone.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SYSCALL_LINE = re.compile(r"^  \| \w+\(.*\) = ", re.M)


def run_tour(*args, stdin=""):
    """Run the tour with ``args``; return (process, seconds it took)."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("PYMMAP_TRACE", None)
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pymmap", "tour", *args],
        cwd=str(ROOT),
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc, time.monotonic() - start


@pytest.fixture(scope="module")
def tour():
    proc, seconds = run_tour()
    return proc, seconds


def test_tour_succeeds_quickly(tour):
    proc, seconds = tour
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    assert proc.stderr == ""
    assert seconds < 20
    assert "The tour went wrong" not in proc.stdout


def test_tour_prints_every_step(tour):
    out = tour[0].stdout
    steps = re.findall(r"^Step (\d+) of (\d+): ", out, re.M)
    assert len(steps) >= 7
    total = int(steps[0][1])
    assert [int(n) for n, _ in steps] == list(range(1, total + 1))
    assert "End of the tour." in out


def test_tour_shows_lines_results_and_system_calls(tour):
    out = tour[0].stdout
    assert ">>> m = mmap.mmap(f.fileno(), 0)\n" in out
    assert "b'We will pe'" in out
    calls = SYSCALL_LINE.findall(out)
    assert len(calls) > 20
    for expected in KERNEL32_CALLS if os.name == "nt" else (
        r"mmap\(NULL, 302, PROT_READ\|PROT_WRITE, MAP_SHARED, \d+, 0\) = 0x[0-9a-f]+",
        r"msync\(0x[0-9a-f]+, 302, MS_SYNC\) = 0",
        r"munmap\(0x[0-9a-f]+, \d+\) = 0",
        r"mmap\(NULL, \d+, PROT_READ\|PROT_WRITE, MAP_PRIVATE, \d+, 0\)",
        r"MAP_SHARED\|MAP_ANONYMOUS",
        r"ftruncate\(\d+, \d+\) = 0",
        r"madvise\(0x[0-9a-f]+, \d+, MADV_DONTNEED\) = 0",
        r"= -1 EINVAL \(Invalid argument\)",
    ):
        assert re.search(r"^  \| .*" + expected, out, re.M), expected


#: The tour's calls on Windows: kernel32's, for the same steps.
KERNEL32_CALLS = (
    r"CreateFileMappingW\(0x[0-9a-f]+, NULL, PAGE_READWRITE, 0, 302, NULL\) = 0x[0-9a-f]+",
    r"MapViewOfFile\(0x[0-9a-f]+, FILE_MAP_WRITE, 0, 0, 302\) = 0x[0-9a-f]+",
    r"FlushViewOfFile\(0x[0-9a-f]+, 302\) = TRUE",
    r"UnmapViewOfFile\(0x[0-9a-f]+\) = TRUE",
    r"MapViewOfFile\(0x[0-9a-f]+, FILE_MAP_COPY, 0, 0, \d+\)",
    r"CreateFileMappingW\(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 13, \"pymmap-tour-\d+\"\)",
    r"SetEndOfFile\(0x[0-9a-f]+\) = TRUE",
    r"K32QueryWorkingSetEx\(INVALID_HANDLE_VALUE, 0x\.\.\., 4096\) = TRUE",
    r"= NULL \(WinError 1132: ",
)


def test_tour_shows_the_fork_and_the_access_modes(tour):
    out = tour[0].stdout
    assert "b'HELLO world!\\x00'" in out  # the child's store reached the parent
    assert "[b'original text\\n', b'CHANGED! text\\n', b'original text\\n']" in out
    assert "TypeError: mmap can't modify a readonly memory map." in out


@pytest.mark.skipif(os.name != "posix" or not os.path.exists("/proc/self/maps"), reason="no /proc")
def test_tour_shows_proc_maps(tour):
    out = tour[0].stdout
    assert re.search(r"^  maps: [0-9a-f]+-[0-9a-f]+ rw-s .*sample\.txt$", out, re.M)
    assert re.search(r"^  maps: [0-9a-f]+-[0-9a-f]+ rw-p ", out, re.M)


def test_no_trace_prints_no_system_calls():
    proc, _ = run_tour("--no-trace")
    assert proc.returncode == 0
    assert SYSCALL_LINE.findall(proc.stdout) == []
    assert "Step 1 of " in proc.stdout


def test_step_without_a_terminal_runs_to_the_end():
    proc, _ = run_tour("--step", stdin="")
    assert proc.returncode == 0
    assert proc.stdout.count("press Enter") == 1  # end of input: no more pauses
    assert "End of the tour." in proc.stdout


def test_step_q_quits():
    proc, _ = run_tour("--step", stdin="q\n")
    assert proc.returncode == 0
    assert "Step 2 of " not in proc.stdout


def test_cli_requires_a_command():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, "-m", "pymmap"], cwd=str(ROOT), env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "tour" in proc.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a mapped file is cut short on Linux only "
                    "(Windows refuses), and the step needs process_vm_readv or /proc/self/mem")
def test_tour_shows_a_truncated_file_kill_an_ordinary_map_and_not_a_checked_one(tour):
    out = tour[0].stdout
    step = out[out.index("A file cut short: SIGBUS, or an error with checked=True"):]
    assert "(-7, 'SIGBUS')" in step
    assert re.search(r"^  \| process_vm_readv\(\d+, \[\{iov_base=0x[0-9a-f]+, iov_len=1\}\], 1, "
                     r"\[\{iov_base=0x[0-9a-f]+, iov_len=1\}\], 1, 0\) = -1 EFAULT \(Bad address\)$", step, re.M)
    assert re.search(r"^OSError: \[Errno 14\] Bad address: mmap byte \d+ cannot be read: .* The file is \d+ "
                     r"bytes long now, shorter than the map", step, re.M)
    assert ">>> m[:3]\n" in step and "\nb'aaa'\n" in step


def _step(out, title):
    start = out.index(title)
    end = out.find("\nStep ", start)
    return out[start:] if end < 0 else out[start:end]


@pytest.mark.skipif(os.name == "nt", reason="the Windows tour shows the working set instead (no dirty pages)")
def test_tour_draws_the_pages_before_and_after_the_steps_that_change_them(tour):
    out = tour[0].stdout
    strips = re.findall(r"^  pages of (\w+): \[([SPDMr.?]+)\] \((\d+) pages?[,:]", out, re.M)
    assert len(strips) >= 15
    assert all(len(cells) == min(int(count), 64) for _, cells, count in strips)
    first = _step(out, "Map a file; read it like bytes")
    assert re.search(r"pages of m: \[r\].*\n>>> len\(m\).*\n(.*\n)*?  pages of m: \[M\]", first)
    access = _step(out, "ACCESS_READ, ACCESS_WRITE and ACCESS_COPY")
    assert re.search(r"pages of c: \[M\].*\n>>> c\[:8\] = b\"CHANGED!\"\n(  \|.*\n)*  pages of c: \[P\]", access)
    write = _step(out, "Change it by assigning")
    strips_of_m = re.findall(r"pages of m: \[(\w)\]", write)
    assert strips_of_m[0] == "M" and strips_of_m[-1] == "M"
    assert strips_of_m[1] in ("D", "M")  # (D where the kernel has cachestat: Linux 6.5+)


@pytest.mark.skipif(os.name == "nt", reason="the three steps need Linux (the Windows tour says so)")
def test_tour_has_the_three_steps_on_who_sees_dirty_pages_and_read_vs_mmap(tour):
    out = tour[0].stdout
    who = _step(out, "Who sees my write? MAP_SHARED, MAP_PRIVATE and read()")
    assert "(b'1', b'1', b'1')" in who and "(b'2', b'1', b'2')" in who and "(50, 50)" in who
    assert re.search(r"pages of private: \[P[MDr.]\]", who)
    dirty = _step(out, "Dirty pages and flush()")
    strips = re.findall(r"pages of m: \[([\w.]+)\]", dirty)
    assert strips[0] == "r" * 16
    assert strips[1] in ("rrDDrrrrrDrrrrrr", "rrMMrrrrrMrrrrrr")  # (M: no cachestat, dirty unknown)
    assert strips[2] == "rrMMrrrrrMrrrrrr"
    assert re.search(r"^  \| msync\(0x[0-9a-f]+, 65536, MS_SYNC\) = 0$", dirty, re.M)
    timing = _step(out, "read() vs mmap, with a cold and a warm page cache")
    rows = re.findall(r"^(read|mmap) (cold|warm): +(\d+) calls, +(\d+) minor \+ +(\d+) major faults", timing, re.M)
    assert [(how, when) for how, when, *_ in rows] == [
        ("read", "cold"), ("read", "warm"), ("mmap", "cold"), ("mmap", "warm")]
    assert int(rows[0][2]) == 64 and int(rows[2][2]) == 5  # fstat, fcntl (the dup), mmap, munmap, close
    assert int(rows[3][3]) < 1024  # fault-around: fewer faults than pages, on a warm cache
