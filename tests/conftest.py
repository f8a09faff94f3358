"""Shared fixtures: temporary files and the stdlib ``mmap`` as the oracle.

The tests (never the library) import the C ``mmap`` module, to run the same
operations on it and on pymmap and compare the results.
"""

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import xml.etree.ElementTree as ElementTree

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # pragma: no cover - when run without installing
    sys.path.insert(0, ROOT)


@pytest.fixture
def make_file(tmp_path):
    """Return a function that writes ``data`` to a new file and returns its path."""
    counter = [0]

    def make(data=b"", name=None):
        counter[0] += 1
        path = tmp_path / (name or f"file{counter[0]}.bin")
        path.write_bytes(data)
        return str(path)

    return make


@pytest.fixture
def open_file(make_file):
    """Return a function that creates a file with ``data`` and opens it (closed at teardown)."""
    opened = []

    def open_(data=b"", mode="r+b"):
        f = open(make_file(data), mode)
        opened.append(f)
        return f

    yield open_
    for f in opened:
        f.close()


# On PyPy, which has no reference counts, MappedRegion.close() cannot tell
# whether another thread still holds the memory, so it always swaps in a
# zero-filled placeholder (one mmap(MAP_FIXED)) and the munmap(2) comes when
# the collector frees the views (see the README's Safety section).  These
# tests assert CPython's exact call sequence (mmap ... munmap at close); the
# trace's format itself is the same on both and is tested on CPython.
EXACT_CLOSE_SEQUENCE = {
    "tests/test_mmap_windows.py::test_the_trace_shows_kernel32s_calls",
    "tests/test_tour.py::test_tour_shows_lines_results_and_system_calls",
    "tests/test_trace.py::test_anonymous_map_lifetime",
    "tests/test_trace.py::test_records_carry_the_raw_call",
    "tests/test_trace.py::test_file_map_flush_resize_advise",
    "tests/test_trace.py::test_nesting_restores_the_outer_tracer",
    "tests/test_trace.py::test_file_object_target",
    "tests/test_trace.py::test_path_target_appends_and_closes",
    "tests/test_trace.py::test_default_target_is_stderr",
    "tests/test_trace.py::test_environment_variable_traces_to_stderr",
    "tests/test_trace.py::test_environment_variable_names_a_file",
    "tests/test_trace.py::test_the_guides_program_makes_the_calls_the_guide_shows",
}


def pytest_collection_modifyitems(config, items):
    if sys.implementation.name == "cpython":
        return
    skip = pytest.mark.skip(reason="PyPy unmaps at garbage collection: the close() call sequence differs")
    for item in items:
        if item.nodeid.split("[")[0] in EXACT_CLOSE_SEQUENCE:
            item.add_marker(skip)


# --- test modules that run in a child pytest -------------------------------------------
#
# A module that sets ``pytestmark = pytest.mark.in_child`` runs in a second
# pytest process, all its selected tests at once, the first time one of them
# is due; each test then reports its own result from the child's JUnit XML.
# A crash (SIGSEGV, SIGBUS) kills only the child: the test that was running
# and those after it fail, naming the signal, and pytest itself goes on.
# The child measures coverage too, into a data file of its own that CI
# combines with the others.

IN_CHILD = os.environ.get("PYMMAP_TEST_CHILD") == "1"
_child_runs = {}


def pytest_configure(config):
    config.addinivalue_line("markers", "in_child: run this module's tests in a child pytest process")


def _run_module_in_child(config, module_path, nodeids):
    """Run ``nodeids`` of one module in a child pytest; return {nodeid: (outcome, text)}."""
    report = os.path.join(tempfile.mkdtemp(prefix="pymmap-child-"), "junit.xml")
    env = dict(os.environ, PYMMAP_TEST_CHILD="1", PYTHONPATH=ROOT)
    command = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "--override-ini=addopts=",
               f"--junitxml={report}", *nodeids]
    if os.environ.get("COVERAGE_FILE") or config.pluginmanager.hasplugin("_cov"):
        base = os.environ.get("COVERAGE_FILE", os.path.join(ROOT, ".coverage"))
        env["COVERAGE_FILE"] = f"{base}.child-{os.path.basename(module_path)[:-3]}-{os.getpid()}"
        command += ["--cov=pymmap", "--cov-report="]
    child = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=1800)
    output = child.stdout.decode("utf-8", "replace")
    results = {}
    if os.path.exists(report):
        for case in ElementTree.parse(report).getroot().iter("testcase"):
            name = case.get("name")
            nodeid = next((nid for nid in nodeids if nid.endswith("::" + name)), name)
            problem = case.find("failure")
            if problem is None:
                problem = case.find("error")
            skipped = case.find("skipped")
            if problem is not None:
                results[nodeid] = ("failed", (problem.get("message") or "") + "\n" + (problem.text or ""))
            elif skipped is not None:
                results[nodeid] = ("skipped", skipped.get("message") or "skipped in the child")
            else:
                results[nodeid] = ("passed", "")
    died = ""
    if child.returncode < 0:
        died = f"the child pytest process died with {signal.Signals(-child.returncode).name}"
        # No report was written: take what the verbose lines said before the end.
        for line in output.splitlines():
            nodeid, _, status = line.partition(" ")
            if nodeid in nodeids and status.startswith(("PASSED", "SKIPPED")):
                results[nodeid] = ("passed" if status.startswith("PASSED") else "skipped", "")
    return results, died, output


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    if IN_CHILD or item.get_closest_marker("in_child") is None:
        return
    module_path = str(item.fspath)
    if module_path not in _child_runs:
        nodeids = [i.nodeid for i in item.session.items
                   if str(i.fspath) == module_path and i.get_closest_marker("in_child") is not None]
        _child_runs[module_path] = _run_module_in_child(item.config, module_path, nodeids)
    results, died, output = _child_runs[module_path]
    outcome, text = results.get(item.nodeid, (None, ""))
    if outcome is None:
        why = died or "the child pytest process did not report this test"
        pytest.fail(f"{why} (this test, or one before it in the child, was running):\n{output[-4000:]}",
                    pytrace=False)
    if outcome == "failed":
        pytest.fail(f"failed in the child pytest process:\n{text}", pytrace=False)
    if outcome == "skipped":
        pytest.skip(text)
    # Passed in the child: nothing left to run here.
    item.runtest = lambda: None


@pytest.fixture
def block_device(tmp_path):
    """A 1 MiB loop device (needs root and losetup(8)); yields its path."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or shutil.which("losetup") is None:
        pytest.skip("a loop device needs Linux, root and losetup(8)")
    image = tmp_path / "disk.img"
    image.write_bytes(b"d" * (1 << 20))
    made = subprocess.run(["losetup", "--find", "--show", str(image)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"losetup could not attach a loop device: {made.stderr.strip()}")
    device = made.stdout.strip()
    try:
        yield device
    finally:
        subprocess.run(["losetup", "--detach", device], check=True)


# --- free-threaded CPython: the GIL must stay off -------------------------------------
#
# A free-threaded interpreter turns its GIL on, for good, when it imports an
# extension module that has not declared itself safe without it.  Then the
# suite would prove nothing about free threading: say so, and fail the run.


FREE_THREADED_BUILD = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def pytest_sessionfinish(session, exitstatus):
    if FREE_THREADED_BUILD and sys._is_gil_enabled():
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            "FAILED: the GIL is on in this free-threaded interpreter: the suite ran with it "
            "(an imported extension module turned it on)", red=True)
        session.exitstatus = 1
