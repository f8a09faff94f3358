"""PyMOTW's mmap_regex.py ("Regular Expressions"), in Python 3.

Find every sentence of ``lorem.txt`` that contains "nulla", with a regular
expression run over the map.

Changes for Python 3: the pattern is bytes (``rb'...'``), so the sentences
print as ``b'...'``.  ``pattern.findall(m)`` needs the buffer protocol,
which a class written in Python can offer only from Python 3.12 (PEP 688);
on older versions the example searches ``m[:]``, a bytes copy of the map,
with the same result.
"""

import contextlib
import re
import sys

from _samples import work_in_temp_dir

import pymmap as mmap

work_in_temp_dir()

pattern = re.compile(rb'(\.\W+)?([^.]?nulla[^.]*?\.)',
                     re.DOTALL | re.IGNORECASE | re.MULTILINE)

with open('lorem.txt') as f, contextlib.closing(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)) as m:
    # Before 3.12, a Python class cannot lend re its memory: use a copy.
    text = m if sys.version_info >= (3, 12) else m[:]
    for match in pattern.findall(text):
        print(match[1].replace(b'\n', b' '))
