"""Run every program in ``examples/`` and compare its output with ``examples/expected/``.

Each example runs in a subprocess, from an empty temporary directory, with
the repository root on ``PYTHONPATH`` (nothing needs installing).  The
comparison is exact, after the expected file's header of ``#`` lines.

The same examples also run against the C ``mmap`` module, through a
one-line ``pymmap`` shim that re-exports it: the stdlib is the oracle for
what each example should print.  An example that uses pymmap's own API says
so in a ``# pymmap-only`` comment and skips that comparison; one whose output
needs a C compiler says ``# needs: cc``.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "examples"
EXAMPLES = sorted(p for p in EXAMPLES_DIR.glob("*.py") if not p.name.startswith("_"))
# The Python docs' fork example needs os.fork(); Windows has no fork.
RUNNABLE = [pytest.param(p, marks=pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork()"))
            if p.stem == "docs_fork" else p for p in EXAMPLES]


def expected_output(example: Path) -> str:
    """The example's expected output, without the leading ``#`` comment lines."""
    lines = (EXAMPLES_DIR / "expected" / (example.stem + ".txt")).read_text().splitlines(True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "".join(lines)


def has_marker(example: Path, marker: str) -> bool:
    """True if a line of the example starts with the comment ``marker``."""
    return any(line.startswith(marker) for line in example.read_text().splitlines())


def run_example(example: Path, cwd: Path, pythonpath: str) -> subprocess.CompletedProcess:
    """Run one example as its own program; return the finished process."""
    env = dict(os.environ, PYTHONPATH=pythonpath)
    env.pop("PYMMAP_TRACE", None)
    return subprocess.run(
        [sys.executable, str(example)],
        cwd=str(cwd),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_example_has_expected_output():
    names = {p.stem for p in EXAMPLES}
    expected = {p.stem for p in (EXAMPLES_DIR / "expected").glob("*.txt")}
    assert names == expected
    assert len(names) >= 9


@pytest.mark.parametrize("example", RUNNABLE, ids=lambda p: p.stem)
def test_example_uses_pymmap(example):
    source = example.read_text()
    assert "import pymmap as mmap" in source
    assert "\nimport mmap" not in source


@pytest.mark.parametrize("example", RUNNABLE, ids=lambda p: p.stem)
def test_example_output(example, tmp_path):
    if has_marker(example, "# needs: cc") and shutil.which("cc") is None:
        pytest.skip("the expected output was made with a C compiler (cc), and there is none")
    proc = run_example(example, tmp_path, str(ROOT))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout == expected_output(example)
    assert list(tmp_path.iterdir()) == []  # the example worked in its own directory


@pytest.mark.parametrize("example", RUNNABLE, ids=lambda p: p.stem)
def test_example_output_matches_the_stdlib(example, tmp_path):
    if sys.implementation.name != "cpython":
        pytest.skip("the reference is CPython's mmap; PyPy's words some errors differently")
    if example.stem == "effbot_mmap_example_1" and sys.version_info < (3, 13):
        pytest.skip("before 3.13 the C module's repr shows an address")
    if has_marker(example, "# pymmap-only"):
        pytest.skip("uses pymmap's own API, which the C module does not have")
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "pymmap.py").write_text("from mmap import *  # the C module, as the oracle\n")
    work = tmp_path / "work"
    work.mkdir()
    proc = run_example(example, work, str(shim))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected_output(example)


def test_an_example_runs_from_a_fresh_clone_without_pythonpath(tmp_path):
    # The README says each example is runnable on its own: python examples/x.py,
    # from anywhere, with nothing installed (the venv's pymmap is hidden by -I
    # and a site-less interpreter).
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-S", str(EXAMPLES_DIR / "docs_hello.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected_output(EXAMPLES_DIR / "docs_hello.py")
