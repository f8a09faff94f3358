"""effbot's mmap-example-2.py ("Using string functions and regular expressions on a mapped region"), in Python 3.

The map behaves like a byte string: ``find`` searches it, and the ``re``
module can match against it.

Changes for Python 3: the needle and the pattern are bytes (``b"small"``),
and ``repr()`` shows ``b'...'`` with ``\\r\\n`` where Python 2.0 printed
``\\015\\012``.

``re.search(pattern, data)`` needs the buffer protocol, which a class
written in Python can offer only from Python 3.12 (PEP 688).  On older
versions the example searches ``data[:]``, a bytes copy of the map; the
result is the same.
"""

import os
import re
import sys

from _samples import work_in_temp_dir

import pymmap as mmap

work_in_temp_dir()


def mapfile(filename):
    file = open(filename, "r+")
    size = os.path.getsize(filename)
    return mmap.mmap(file.fileno(), size)


data = mapfile("samples/sample.txt")

# search
index = data.find(b"small")
print(index, repr(data[index-5:index+15]))

# regular expressions work too!
if sys.version_info >= (3, 12):
    m = re.search(b"small", data)
else:  # no buffer protocol for Python classes before 3.12: search a copy
    m = re.search(b"small", data[:])
print(m.start(), m.group())
