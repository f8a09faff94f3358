"""Types that help: a user program passes ``mypy --strict``, and the usual mistakes fail it.

mypy is not a test dependency (it is heavy, and has no wheels for every
interpreter here): where it is not installed these tests skip, and
``.ci/run``'s typing gate, which installs it, runs them on CPython 3.13.
The constants' declarations for type checkers are checked everywhere.
"""

import ast
import os
import re
import subprocess
import sys

import pytest

from pymmap._platform import tables

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(ROOT, "tests", "typing")


def _mypy(path):
    pytest.importorskip("mypy", reason="mypy is not installed here (.ci/run's typing gate runs these tests)")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--config-file",
         os.path.join(ROOT, "pyproject.toml"), "--python-version", "3.13", path],
        cwd=ROOT, env=dict(os.environ, MYPYPATH=ROOT), capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout


def test_a_user_program_passes_mypy_strict():
    status, out = _mypy(os.path.join(HERE, "user_program.py"))
    assert status == 0, out


def test_the_usual_mistakes_fail_with_the_expected_errors():
    path = os.path.join(HERE, "mistakes.py")
    status, out = _mypy(path)
    assert status == 1
    expected = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if "# E: " in line:
                expected[number] = line.split("# E: ", 1)[1].strip()
    found = {}
    for line in out.splitlines():
        match = re.match(r"^tests[/\\]typing[/\\]mistakes\.py:(\d+): error: (.*?)(  \[[\w-]+\])?$", line)
        if match:
            found.setdefault(int(match[1]), []).append(match[2])
    assert set(found) == set(expected), out
    for number, words in expected.items():
        assert any(message.startswith(words) for message in found[number]), (number, words, found[number])


def _declared():
    """The constants ``pymmap/__init__.py`` declares for type checkers, by the condition they sit under."""
    tree = ast.parse(open(os.path.join(ROOT, "pymmap", "__init__.py")).read())
    declared = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for branch in node.body:
                if isinstance(branch, ast.If):
                    key = ast.dump(branch.test)
                    declared[key] = {s.target.id for s in branch.body if isinstance(s, ast.AnnAssign)}
    return declared


def test_the_constants_declared_for_type_checkers_are_the_tables_names():
    names = {name: {n for n in table if not n.startswith("_")} for name, table in tables.TABLES.items()}
    linux = set().union(*(v for k, v in names.items() if k.startswith("linux")))
    common = set.intersection(*(v for k, v in names.items() if k.startswith("linux"))) & names["darwin"] \
        & names["freebsd"]
    declared = list(_declared().values())
    assert declared == [common, linux - common, names["darwin"] - common, names["freebsd"] - common]


def test_every_constant_this_platform_has_is_declared():
    import pymmap

    declared = set().union(*_declared().values())
    assert set(pymmap.CONSTANTS) <= declared
