"""effbot's mmap-example-2.py ("Using string functions and regular expressions on a mapped region"), in Python 3.

The map behaves like a byte string: ``find`` searches it, and the ``re``
module can match against it.

Changes for Python 3: the needle and the pattern are bytes (``b"small"``),
and ``repr()`` shows ``b'...'`` with ``\\r\\n`` where Python 2.0 printed
``\\015\\012``.

``re.search(pattern, data)`` borrows the map's memory through the buffer
protocol: no copy is made.
"""

import os
import re

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
m = re.search(b"small", data)
print(m.start(), m.group())
