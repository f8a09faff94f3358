"""The Python documentation's first mmap example ("a simple way of using mmap").

Write ``hello.txt``, map all of it (length 0), read it with ``readline()``
and with a slice, change it with a slice assignment, and read it again.

A correction to the documentation's comment: ``map[6:]`` is 8 bytes,
``b"Python!\\n"``, so assigning ``b" world!\\n"`` (also 8 bytes) leaves the
space of ``b"Hello "`` in place, and the last line prints
``b'Hello  world!\\n'``, with two spaces, not ``b"Hello world!\\n"``.
"""

from _samples import work_in_temp_dir

import pymmap as mmap

work_in_temp_dir()

# write a simple example file
with open("hello.txt", "wb") as f:
    f.write(b"Hello Python!\n")

with open("hello.txt", "r+b") as f:
    # memory-map the file, size 0 means whole file
    map = mmap.mmap(f.fileno(), 0)
    # read content via standard file methods
    print(map.readline())  # prints b"Hello Python!\n"
    # read content via slice notation
    print(map[:5])  # prints b"Hello"
    # update content using slice notation;
    # note that new content must have same size
    map[6:] = b" world!\n"
    # ... and read again using standard file methods
    map.seek(0)
    print(map.readline())  # prints b"Hello  world!\n" (two spaces: see above)
    # close the map
    map.close()
