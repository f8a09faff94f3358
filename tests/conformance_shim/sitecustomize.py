"""Make ``import mmap`` give pymmap, for the conformance test's subprocesses.

The conformance test puts this directory first on ``PYTHONPATH``.  Python
imports ``sitecustomize`` at start-up, before any test code runs; registering
pymmap under the name ``mmap`` then makes every later ``import mmap`` — in
CPython's ``test.test_mmap`` and in subprocesses it starts with the same
environment — return pymmap.  This works even where ``mmap`` is built into
the interpreter (PyPy), which a same-named module on the path could not
shadow.
"""

import sys

import pymmap

sys.modules["mmap"] = pymmap
