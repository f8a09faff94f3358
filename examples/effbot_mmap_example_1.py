"""effbot's mmap-example-1.py ("Using the mmap module"), in Python 3.

From Fredrik Lundh's *Python Standard Library*: map
``samples/sample.txt`` (302 bytes) and read it three ways: as a whole, by
slicing, and with the file interface.

Changes for Python 3: ``print`` is a function, and the map holds bytes, so
``repr()`` shows ``b'...'``.  ``print(data)`` shows the map's repr, which
names no address (the seed showed ``<mmap object at 008A2A10>``).

Notice that slicing does not move the map's file position: the first
``read(10)`` still starts at byte 0.
"""

import os

from _samples import work_in_temp_dir

import pymmap as mmap

work_in_temp_dir()

filename = "samples/sample.txt"

file = open(filename, "r+")
size = os.path.getsize(filename)

data = mmap.mmap(file.fileno(), size)

# basics
print(data)
print(len(data), size)

# use slicing to read from the file
print(repr(data[:10]), repr(data[:10]))

# or use the standard file interface
print(repr(data.read(10)), repr(data.read(10)))
