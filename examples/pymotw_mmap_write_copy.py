"""PyMOTW's mmap_write_copy.py ("ACCESS_COPY Mode"), in Python 3.

With ``ACCESS_COPY`` (``MAP_PRIVATE``) the map is copy-on-write: the change
is visible in memory, but the file on disk keeps its text.  The file
object and the map each have their own position, so each is rewound
separately.

Changes for Python 3: the word is ``bytes``, so the map's lines print as
``b'...'``; the file is opened in text mode and its lines print as text.
"""

import contextlib
import shutil

from _samples import work_in_temp_dir

import pymmap as mmap

work_in_temp_dir()

# Copy the example file
shutil.copyfile('lorem.txt', 'lorem_copy.txt')

word = b'consectetuer'
reversed = word[::-1]

with open('lorem_copy.txt', 'r+') as f:
    with contextlib.closing(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)) as m:
        print('Memory Before:', m.readline().rstrip())
        print('File Before  :', f.readline().rstrip())
        print()

        m.seek(0)  # rewind
        loc = m.find(word)
        m[loc:loc+len(word)] = reversed

        m.seek(0)  # rewind
        print('Memory After :', m.readline().rstrip())

        f.seek(0)
        print('File After   :', f.readline().rstrip())
