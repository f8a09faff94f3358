"""CPython's own ``test.test_mmap``, run against pymmap.

The directory ``tests/conformance_shim`` holds a ``sitecustomize.py`` that
registers pymmap as ``sys.modules["mmap"]``.  Put first on ``PYTHONPATH``, it
makes ``import mmap`` in the test module (and in any subprocess the test
module starts) import pymmap.  The running interpreter's own copy of the test
module is used, so each CPython version checks pymmap against the behaviour
it expects.

Every test must pass, or be skipped for the same reason the stdlib run
skips it.  The single principled exception is listed in ``EXPECTED_FAILURES``.
"""

import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHIM = os.path.join(HERE, "conformance_shim")

# test_basic calls re.search(pattern, m).  The re module needs the buffer
# protocol, and before CPython 3.12 (PEP 688) a class written in Python cannot
# provide it (PyPy honours ``__buffer__`` on every version).  Everything
# test_basic checks before and after that line is covered by pymmap's
# differential tests; on CPython 3.8-3.11, re.search works on ``m.buffer()``
# instead (see the README).
NO_BUFFER_PROTOCOL = sys.implementation.name == "cpython" and sys.version_info < (3, 12)
EXPECTED_FAILURES = {"test_basic": "re.search(b'[A-Za-z]+', m)"} if NO_BUFFER_PROTOCOL else {}

_RESULT = re.compile(r"^(test_\w+) \(([\w.]+)\)(?:\n.*?)? \.\.\. (ok|skipped .*|ERROR|FAIL|expected failure)$", re.M)


def _have_test_module():
    try:
        import test.test_mmap  # noqa: F401
    except ImportError:
        return False
    return True


def _run(shim, tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(([SHIM] if shim else []) + [ROOT])
    proc = subprocess.run(
        [sys.executable, "-m", "unittest", "-v", "test.test_mmap"],
        cwd=str(tmp_path),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=600,
    )
    # Windows writes CRLF line ends: the result lines are parsed as lines.
    return proc.returncode, proc.stdout.decode("utf-8", "replace").replace("\r\n", "\n")


def _results(output):
    """Every test's status, by name; every test unittest ran must be among them."""
    results = {name: status for name, _cls, status in _RESULT.findall(output)}
    ran = re.search(r"^Ran (\d+) tests? in ", output, re.M)
    assert ran is not None and int(ran.group(1)) == len(results), output
    return results


@pytest.mark.skipif(not _have_test_module(), reason="this interpreter ships no test.test_mmap")
def test_cpython_test_mmap_passes_against_pymmap(tmp_path):
    (tmp_path / "std").mkdir()
    (tmp_path / "py").mkdir()
    _, std_output = _run(False, tmp_path / "std")
    code, output = _run(True, tmp_path / "py")
    assert (code == 0) == (not EXPECTED_FAILURES), output
    std = _results(std_output)
    ours = _results(output)
    assert std, std_output
    assert set(ours) == set(std), output
    for name, status in std.items():
        if name in EXPECTED_FAILURES:
            assert ours[name] == "ERROR", (name, ours[name])
            assert EXPECTED_FAILURES[name] in output, output
            continue
        assert ours[name] == status, f"{name}: stdlib {status!r}, pymmap {ours[name]!r}\n{output}"


def test_shim_really_imports_pymmap(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([SHIM, ROOT]))
    out = subprocess.check_output(
        [sys.executable, "-c", "import mmap, pymmap; print(mmap is pymmap)"],
        cwd=str(tmp_path),
        env=env,
    )
    assert out.strip() == b"True"
