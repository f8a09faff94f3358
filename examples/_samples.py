"""The sample files the classic mmap examples expect, made in a temporary directory.

Each example calls :func:`work_in_temp_dir` first.  It creates a fresh
temporary directory holding the files below, makes it the current directory
(so the examples can use the same relative names as the texts they come
from), and removes it when the example ends.
"""

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile

# Run from a fresh clone (``python examples/docs_hello.py``), pymmap is the
# checkout's own, one directory up: put it on the path, unless a pymmap is
# installed (or given on PYTHONPATH, as the tests do).
if importlib.util.find_spec("pymmap") is None:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: effbot's ``samples/sample.txt``: a Knuth quotation, seven lines ending in
#: CR LF, the last one indented with a tab: 302 bytes, the size effbot's
#: mmap-example-1.py prints.
SAMPLE_TXT = (
    b"We will perhaps eventually be writing only small\r\n"
    b"modules which are identified by name as they are\r\n"
    b"used to build larger ones, so that devices like\r\n"
    b"indentation, rather than delimiters, might become\r\n"
    b"feasible for expressing local structure in the\r\n"
    b"source language.\r\n"
    b"\t-- Donald E. Knuth, December 1974\r\n"
)

#: PyMOTW's ``lorem.txt``, as printed on the PyMOTW mmap page.
LOREM_TXT = b"""\
Lorem ipsum dolor sit amet, consectetuer adipiscing elit. Donec
egestas, enim et consectetuer ullamcorper, lectus ligula rutrum leo, a
elementum elit tortor eu quam. Duis tincidunt nisi ut ante. Nulla
facilisi. Sed tristique eros eu libero. Pellentesque vel arcu. Vivamus
purus orci, iaculis ac, suscipit sit amet, pulvinar eu,
lacus. Praesent placerat tortor sed nisl. Nunc blandit diam egestas
dui. Pellentesque habitant morbi tristique senectus et netus et
malesuada fames ac turpis egestas. Aliquam viverra fringilla
leo. Nulla feugiat augue eleifend nulla. Vivamus mauris. Vivamus sed
mauris in nibh placerat egestas. Suspendisse potenti. Mauris massa. Ut
eget velit auctor tortor blandit sollicitudin. Suspendisse imperdiet
justo.
"""

#: pythontic's ``sample.txt``.  The page does not show the file, only that
#: it has at least 32 bytes; this text is ours.
PYTHONTIC_SAMPLE_TXT = b"Memory mapped files in Python: bytes you can index.\n"

_FILES = {
    os.path.join("samples", "sample.txt"): SAMPLE_TXT,
    "lorem.txt": LOREM_TXT,
    "sample.txt": PYTHONTIC_SAMPLE_TXT,
}


def work_in_temp_dir() -> str:
    """Create the sample files in a new temporary directory and ``chdir`` there.

    Returns the directory's path.  It is removed when the program exits.
    """
    home = os.getcwd()
    workdir = tempfile.mkdtemp(prefix="pymmap-example-")
    for name, data in _FILES.items():
        path = os.path.join(workdir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    os.chdir(workdir)

    def clean_up() -> None:
        os.chdir(home)
        shutil.rmtree(workdir, ignore_errors=True)

    atexit.register(clean_up)
    return workdir
