"""PyMOTW's mmap_read.py ("Reading"), in Python 3.

Read ``lorem.txt`` through a read-only map, with ``read()`` and with a
slice.

Changes for Python 3: ``print`` is a function, and the map holds bytes, so
the output shows ``b'...'``.

A correction to the PyMOTW text: a slice does *not* move the file
position.  The second ``read(10)`` gives bytes 10 to 19 because the first
``read(10)`` moved the position to 10; the slice in between changed nothing.
"""

import contextlib

from _samples import work_in_temp_dir

import pymmap as mmap

work_in_temp_dir()

with open('lorem.txt') as f, contextlib.closing(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)) as m:
    print('First 10 bytes via read :', m.read(10))
    print('First 10 bytes via slice:', m[:10])
    print('2nd   10 bytes via read :', m.read(10))
