"""Stand-in for the stdlib ``mmap`` module: it replaces itself with pymmap.

The conformance test puts this directory first on ``PYTHONPATH`` and runs
CPython's own ``test.test_mmap``, so that ``import mmap`` — in the test
module and in any subprocess it starts — gets pymmap instead of the C module.
"""

import sys

import pymmap

sys.modules[__name__] = pymmap
