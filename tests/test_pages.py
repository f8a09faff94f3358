"""``python -m pymmap pages``: page-cache residency of files, like fincore/vmtouch.

The page cache is made predictable with ``posix_fadvise(POSIX_FADV_DONTNEED)``,
which drops a file's clean pages (on file systems that allow it; the tests
that need it skip elsewhere).
"""

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest
from isolated import ROOT, run_isolated

import pymmap
from pymmap import pages
from pymmap.__main__ import main
from pymmap._platform import backend

if os.name != "posix":
    pytest.skip('page-cache residency (mincore, posix_fadvise eviction, file modes); on Windows `pages` reports the working set, tested in tests/test_windows_features.py', allow_module_level=True)

P = pymmap.PAGESIZE
SUMMARY = re.compile(r"^(?P<file>.+): (?P<resident>\d+)/(?P<pages>\d+) pages resident \((?P<percent>\d+\.\d)%\), "
                     r"(?P<cached>[\d.]+ (B|KiB|MiB|GiB)) of (?P<size>[\d.]+ (B|KiB|MiB|GiB))$")


def _evicted(path):
    """Write ``path`` to disk and drop it from the page cache; skip if the system keeps it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        size = os.fstat(fd).st_size
        address = backend.map_memory(size, pymmap.PROT_READ, pymmap.MAP_SHARED, fd, 0)
        cached = 1 in backend.resident(address, size)  # no views: nothing read
        backend.unmap(address, size)
    finally:
        os.close(fd)
    if cached:
        pytest.skip("this file system keeps the file's pages cached (tmpfs?)")
    return path


@pytest.fixture
def big(make_file):
    """A 245-page file (1,000,000 bytes), not in the page cache."""
    return _evicted(make_file(os.urandom(1_000_000), name="big.bin"))


def _cli(*args, columns=60):
    """Run ``python -m pymmap`` in a child; return (status, stdout, stderr)."""
    env = dict(os.environ, PYTHONPATH=ROOT, COLUMNS=str(columns))
    proc = subprocess.run([sys.executable, "-m", "pymmap", *args], env=env,
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def _run(*paths, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    status = pages.run(paths, out=out, err=err, width=kwargs.pop("width", 40), **kwargs)
    return status, out.getvalue(), err.getvalue()


# --- the command line, in a child ---------------------------------------------------


def test_cli_reports_an_uncached_file(big):
    status, out, err = _cli("pages", big)
    assert (status, err) == (0, "")
    line, picture = out.splitlines()
    assert line == f"{big}: 0/245 pages resident (0.0%), 0 B of 976.6 KiB"
    assert picture == "[" + "." * 58 + "]"  # as wide as the terminal (COLUMNS=60)


def test_cli_touch_brings_every_page_in(big):
    fd = os.open(big, os.O_RDONLY)
    os.pread(fd, 1, 0)  # one read: the kernel reads ahead a few pages
    os.close(fd)
    status, out, err = _cli("pages", "--touch", big, columns=300)
    assert (status, err) == (0, "")
    before, before_picture, change, after, after_picture = out.splitlines()
    first = SUMMARY.match(before)
    assert first and first["file"] == big and 0 < int(first["resident"]) < 245
    assert before_picture.startswith("[#") and before_picture.endswith(".]")
    assert len(before_picture) == 245 + 2  # one character per page when they fit
    assert change == f"--touch read 245 pages: {245 - int(first['resident'])} more now resident"
    assert after == f"{big}: 245/245 pages resident (100.0%), 976.6 KiB of 976.6 KiB"
    assert after_picture == "[" + "#" * 245 + "]"
    # and the pages stay cached for the next look
    assert _cli("pages", big)[1].splitlines()[0] == after


def test_cli_json(big, tmp_path):
    status, out, err = _cli("pages", "--json", "--touch", big, str(tmp_path / "missing"))
    assert status == 1
    assert err == f"pymmap pages: {tmp_path / 'missing'}: No such file or directory\n"
    report = json.loads(out)
    assert report["page_size"] == P
    done, failed = report["files"]
    assert done == {
        "file": big, "size": 1_000_000, "pages": 245, "resident": 245, "percent": 100.0,
        "resident_ranges": [[0, 245]], "page_cache_visible": True,
        "before_touch": {"resident": 0, "percent": 0.0, "resident_ranges": []},
    }
    assert failed == {"file": str(tmp_path / "missing"), "error": "No such file or directory"}


@pytest.mark.parametrize("what, reason", [
    ("missing", "No such file or directory"),
    ("directory", "Is a directory"),
    ("device", "not a regular file (a character device): pages looks at regular files only"),
    ("fifo", "not a regular file (a FIFO): pages looks at regular files only"),
])
def test_cli_errors_are_one_line_without_a_traceback(tmp_path, what, reason):
    path = {"missing": str(tmp_path / "nothing-here"), "directory": str(tmp_path),
            "device": "/dev/null", "fifo": str(tmp_path / "fifo")}[what]
    if what == "fifo":
        os.mkfifo(path)  # (no writer: opening it must not wait for one)
    status, out, err = _cli("pages", path)
    assert (status, out) == (1, "")
    assert err == f"pymmap pages: {path}: {reason}\n"


def test_cli_without_files_is_a_usage_error():
    status, out, err = _cli("pages")
    assert (status, out) == (2, "") and "FILE" in err and "Traceback" not in err


def test_permission_denied_is_one_line(tmp_path):
    path = tmp_path / "secret.bin"
    path.write_bytes(b"x" * P)
    path.chmod(0)
    out = run_isolated(
        """
        import io, os, sys
        from pymmap import pages
        if os.getuid() == 0:
            os.setgid(65534)  # root may read anything: become an ordinary user
            os.setuid(65534)
        err = io.StringIO()
        print(pages.run([sys.argv[1]], out=io.StringIO(), err=err), err.getvalue(), end="")
        """,
        path,
    )
    assert out == f"1 pymmap pages: {path}: Permission denied\n"


# --- the same, in this process ------------------------------------------------------


def test_run_several_files(big, make_file):
    small = make_file(b"y" * (2 * P + 1))
    status, out, err = _run(big, small, width=12)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"{big}: 0/245 pages resident (0.0%), 0 B of 976.6 KiB"
    assert lines[1] == "[" + "." * 10 + "]"
    assert SUMMARY.match(lines[2])["pages"] == "3"
    resident = int(SUMMARY.match(lines[2])["resident"])
    assert lines[4] == (f"total: {resident}/248 pages resident ({100 * resident / 248:.1f}%), "
                        f"{pages.human(min(2 * P + 1, resident * P))} of {pages.human(1_000_000 + 2 * P + 1)} "
                        "in 2 files")
    assert len(lines) == 5


def test_run_touch_and_json_in_process(big, tmp_path):
    status, out, err = _run(big, touch=True)
    assert status == 0 and f"{big}: 245/245 pages resident (100.0%), 976.6 KiB of 976.6 KiB" in out.splitlines()
    status, out, err = _run(big, str(tmp_path), as_json=True)
    assert status == 1 and err.endswith("Is a directory\n")
    report = json.loads(out)
    assert report["files"][0]["resident_ranges"] == [[0, 245]]
    assert "before_touch" not in report["files"][0]
    assert report["files"][1]["error"] == "Is a directory"


def test_run_reports_each_refused_file_and_goes_on(make_file, tmp_path):
    empty = make_file(b"")
    good = make_file(b"v" * P)
    missing = str(tmp_path / "missing")
    status, out, err = _run(missing, empty, "/dev/null", good, touch=True, as_json=True)
    assert status == 1
    device = "not a regular file (a character device): pages looks at regular files only"
    assert err.splitlines() == [f"pymmap pages: {missing}: No such file or directory",
                                f"pymmap pages: /dev/null: {device}"]
    files = json.loads(out)["files"]
    assert [f.get("error") for f in files] == ["No such file or directory", None, device, None]
    # An empty file is 0 pages, as fincore says, not an error.
    assert (files[1]["pages"], files[1]["resident"], files[1]["resident_ranges"]) == (0, 0, [])
    assert files[3]["resident"] == 1 and files[3]["before_touch"]["resident"] in (0, 1)


def test_run_gives_only_what_the_kernel_tells_when_mincore_would_lie(big, monkeypatch):
    # A file this user neither owns nor may write (the real case, as an
    # unprivileged user: test_cli_as_an_unprivileged_user_prints_no_made_up_number).
    monkeypatch.setattr(pages, "_sees_page_cache", lambda path, st: False)
    monkeypatch.setattr(pages, "_cached_count", lambda fd: 7)  # cachestat's count
    status, out, err = _run(big)
    assert status == 0
    assert out.splitlines() == [f"{big}: 7/245 pages resident (2.9%), 28.0 KiB of 976.6 KiB", "[" + "?" * 38 + "]"]
    assert err == (f"pymmap pages: note: {big}: you neither own nor may write this file: the kernel gives "
                   "the number of cached pages (cachestat), not which ones\n")
    monkeypatch.setattr(pages, "_cached_count", lambda fd: None)  # cachestat refused
    status, out, err = _run(big, as_json=True)
    facts = json.loads(out)["files"][0]
    assert (facts["resident"], facts["percent"], facts["resident_ranges"]) == (None, None, None)
    status, out, err = _run(big)
    assert out.splitlines()[0] == f"{big}: unknown/245 pages resident (the kernel will not tell), 976.6 KiB"
    assert "will not say which of its pages are cached" in err


def test_run_reports_a_map_that_fails(make_file, monkeypatch):
    path = make_file(b"z" * P)

    def refuse(*args, **kwargs):
        raise OSError(19, os.strerror(19))  # ENODEV: a file system without mmap

    monkeypatch.setattr(pages, "mmap", refuse)
    assert _run(path) == (1, "", f"pymmap pages: {path}: {os.strerror(19)}\n")


def test_main_dispatches_to_pages(make_file, capsys):
    path = make_file(b"w" * P)
    assert main(["pages", path]) == 0
    assert SUMMARY.match(capsys.readouterr().out.splitlines()[0])["file"] == path


def test_picture_groups_pages_into_the_width():
    assert pages.picture(b"\x01\x00\x01\x01", 80) == "[#.##]"
    assert pages.picture(b"\x01\x01\x00\x00\x01\x00", 5) == "[#.+]"
    assert pages.picture(b"\x00" * 1000, 12) == "[" + "." * 10 + "]"
    assert pages.picture(b"\x01", 1) == "[#]"
    assert pages.picture(None, 10, total=4) == "[????]"
    assert pages.summary(pages.Residency("f", 3 * P, b"\x01\x00\x00")) == (
        "f: 1/3 pages resident (33.3%), 4.0 KiB of 12.0 KiB")
    assert pages.summary(pages.Residency("e", 0, b"")) == "e: 0/0 pages resident (empty file)"
    assert [pages.human(n) for n in (0, 1023, 1024, 1536, 3 << 20, 5 << 30)] == [
        "0 B", "1023 B", "1.0 KiB", "1.5 KiB", "3.0 MiB", "5.0 GiB"]


# --- honest numbers, quiet exits, and the conventions of a command-line tool ------------------


def test_cli_as_an_unprivileged_user_prints_no_made_up_number():
    # A root-owned file, readable by all, not in the page cache: mincore would
    # answer "resident" for all 245 pages to an ordinary user (Linux 5.2+).
    if os.geteuid() != 0:
        pytest.skip("needs root, to become another user")
    directory = tempfile.mkdtemp()  # (pytest's own directories are private to root)
    try:
        os.chmod(directory, 0o755)
        path = os.path.join(directory, "big.bin")
        with open(path, "wb") as f:
            f.write(os.urandom(1_000_000))
        os.chmod(path, 0o644)
        _evicted(path)
        out = run_isolated("""
            import io, json, os, sys
            from pymmap import pages
            os.setgid(65534)
            os.setuid(65534)
            out, err = io.StringIO(), io.StringIO()
            status = pages.run([sys.argv[1]], out=out, err=err, width=20)
            print(json.dumps([status, out.getvalue(), err.getvalue()]))
        """, path)
    finally:
        shutil.rmtree(directory)
    status, text, note = json.loads(out)
    assert status == 0
    line = text.splitlines()[0]
    assert "245/245" not in line
    # What this kernel tells an ordinary user: cachestat's count (0: nothing
    # cached), or nothing at all ("unknown"); never mincore's all-ones.
    assert line in (f"{path}: 0/245 pages resident (0.0%), 0 B of 976.6 KiB",
                    f"{path}: unknown/245 pages resident (the kernel will not tell), 976.6 KiB")
    assert text.splitlines()[1] == "[" + "?" * 18 + "]"
    assert "you neither own nor may write this file" in note


def test_cli_output_cut_short_by_a_closed_pipe_ends_quietly(big):
    env = dict(os.environ, PYTHONPATH=ROOT)
    for command in (["pages", big, big, big], ["tour", "--no-trace"]):
        proc = subprocess.run(f"{sys.executable} -m pymmap {' '.join(command)} | head -1", shell=True,
                              env=env, capture_output=True, text=True, timeout=120)
        assert proc.stderr == "", proc.stderr
        assert len(proc.stdout.splitlines()) == 1


def test_ctrl_c_exits_130_without_a_traceback(make_file):
    path = make_file(b"k" * P)
    out = run_isolated("""
        import sys
        from pymmap import __main__, pages
        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt
        pages.run = interrupted
        print(__main__.main(["pages", "--touch", sys.argv[1]]))
    """, path)
    assert out.split() == ["130"]


def test_touch_shows_progress_on_a_terminal(make_file, monkeypatch):
    path = make_file(b"t" * (3 * P))
    monkeypatch.setattr(pages, "_TOUCH_STEP", P)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    err = Terminal()
    status = pages.run([path], touch=True, out=io.StringIO(), err=err, width=20)
    assert status == 0
    shown = err.getvalue()
    assert f"\r{path}: touching, 4.0 KiB of 12.0 KiB (33%)" in shown
    assert f"\r{path}: touching, 12.0 KiB of 12.0 KiB (100%)" in shown and shown.endswith("\r\x1b[K")
    quiet = io.StringIO()  # (not a terminal: no progress)
    pages.run([path], touch=True, out=io.StringIO(), err=quiet, width=20)
    assert quiet.getvalue() == ""


def test_help_has_examples_and_exit_codes_and_there_is_a_version():
    for args in (["-h"], ["pages", "-h"]):
        status, out, _ = _cli(*args)
        assert status == 0 and "examples:" in out and "exit status: 0 success" in out and "130" in out
    status, out, _ = _cli("--version")
    assert status == 0 and out.startswith(f"pymmap {pymmap.__version__} (")


def test_the_command_is_installed_as_pymmap():
    import importlib.metadata as metadata  # (3.8+)

    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    assert '[project.scripts]\npymmap = "pymmap.__main__:main"' in text
    try:
        scripts = metadata.distribution("pymmap").entry_points
    except metadata.PackageNotFoundError:
        pytest.skip("pymmap is not installed here (the tests run from the checkout)")
    assert any(e.name == "pymmap" and e.value == "pymmap.__main__:main" for e in scripts)
