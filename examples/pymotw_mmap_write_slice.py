"""PyMOTW's mmap_write_slice.py ("Writing"), in Python 3.

Map a copy of ``lorem.txt`` for writing (the default, ``ACCESS_WRITE``),
find a word and replace it, in place, by assigning to a slice of the same
length; ``flush()`` writes the change to the file.

Changes for Python 3: the word is ``bytes`` (a map holds bytes, not text),
so the output shows ``b'...'``.
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
print('Looking for    :', word)
print('Replacing with :', reversed)

with open('lorem_copy.txt', 'r+') as f, contextlib.closing(mmap.mmap(f.fileno(), 0)) as m:
    print('Before:', m.readline().rstrip())
    m.seek(0)  # rewind

    loc = m.find(word)
    m[loc:loc+len(word)] = reversed
    m.flush()

    m.seek(0)  # rewind
    print('After :', m.readline().rstrip())
