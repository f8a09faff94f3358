"""Every Python block in the README runs when pasted into a fresh interpreter.

``python`` blocks run as a program; ``pycon`` blocks (typed at the prompt,
with their output) run as doctests, so the output shown is the output
given.  Each runs in a fresh interpreter in an empty directory.  Blocks
tagged ``text`` or ``sh`` are fragments and transcripts, marked as such.
"""

import os
import re
import subprocess
import sys
import textwrap

import pytest
from isolated import ROOT

README = os.path.join(ROOT, "README.md")
_BLOCK = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.M | re.S)


def _blocks():
    with open(README, encoding="utf-8") as f:
        text = f.read()
    found = []
    for match in _BLOCK.finditer(text):
        _, language, body = match.groups()
        line = text.count("\n", 0, match.start()) + 1
        body = textwrap.dedent(body)
        found.append(pytest.param(language, body, id=f"line {line} ({language or 'untagged'})"))
    return found


BLOCKS = _blocks()

# What a block needs from the system, and which blocks those are.
_NEEDS = [
    (r"sysv_attach|shm_open\(", lambda: getattr(__import__("pymmap")._platform.backend, "HAS_SYSV_SHM", False),
     "System V shared memory (POSIX)"),
    (r"MAP_PRIVATE|protect\(|madvise|checked=True", lambda: os.name == "posix",
     "POSIX constants, protect() and madvise (the Windows stdlib has none of them)"),
]


def test_every_block_is_tagged():
    assert BLOCKS
    for param in BLOCKS:
        language, _ = param.values
        assert language in ("python", "pycon", "sh", "text"), (param.id, "tag it: python, pycon, sh or text")


@pytest.mark.parametrize("language, body", [p for p in BLOCKS if p.values[0] in ("python", "pycon")])
def test_the_block_runs_as_pasted(language, body, tmp_path):
    for pattern, available, what in _NEEDS:
        if re.search(pattern, body) and not available():
            pytest.skip(f"this block needs {what}")
    if language == "python":
        program = body
    else:
        program = ("import doctest, sys\n"
                   "test = doctest.DocTestParser().get_doctest(sys.argv[1], {}, 'README', 'README.md', 0)\n"
                   "runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)\n"
                   "runner.run(test)\n"
                   "sys.exit(1 if runner.failures else 0)\n")
    proc = subprocess.run([sys.executable, "-c", program, body], cwd=tmp_path, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
