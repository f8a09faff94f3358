"""PyMOTW's mmap_regex.py ("Regular Expressions"), in Python 3.

Find every sentence of ``lorem.txt`` that contains "nulla", with a regular
expression run over the map.

Changes for Python 3: the pattern is bytes (``rb'...'``), so the sentences
print as ``b'...'``.  ``pattern.findall(m)`` borrows the map's memory
through the buffer protocol: no copy is made.
"""

import contextlib
import re

from _samples import work_in_temp_dir

import pymmap as mmap

work_in_temp_dir()

pattern = re.compile(rb'(\.\W+)?([^.]?nulla[^.]*?\.)',
                     re.DOTALL | re.IGNORECASE | re.MULTILINE)

with open('lorem.txt') as f, contextlib.closing(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)) as m:
    for match in pattern.findall(m):
        print(match[1].replace(b'\n', b' '))
