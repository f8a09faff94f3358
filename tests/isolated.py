"""Run test code in a child interpreter, so that a crash fails the test.

A segfault (SIGSEGV) or bus error (SIGBUS) inside pytest's own process would
kill the whole test run.  Code that could crash if pymmap had a bug runs
through :func:`run_isolated` instead: the child's death by a signal becomes
an ordinary assertion failure naming the signal.
"""

import os
import signal
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_isolated(code, *args, timeout=300, cwd=None, python_options=()):
    """Run ``code`` (dedented) with this interpreter; return its stdout as text.

    ``python_options`` go to the interpreter (``("-X", "dev")``).  Fails the
    calling test if the child dies by a signal or exits non-zero.
    """
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONFAULTHANDLER="1")
    proc = subprocess.run(
        [sys.executable, *python_options, "-c", textwrap.dedent(code), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=timeout,
    )
    # Windows writes text with CRLF line ends; the tests compare lines.
    out = proc.stdout.decode("utf-8", "replace").replace("\r\n", "\n")
    err = proc.stderr.decode("utf-8", "replace").replace("\r\n", "\n")
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        raise AssertionError(f"the child process crashed with {name}\n{out}\n{err}")
    assert proc.returncode == 0, f"exit status {proc.returncode}\n{out}\n{err}"
    return out
