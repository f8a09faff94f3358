"""The Python documentation's second mmap example: anonymous memory and fork.

Map 13 bytes of anonymous memory (``fileno`` -1), write to it, and fork.
The map is ``MAP_SHARED``, so the child sees what the parent wrote (and
would see what it writes later); the child prints the line.

The map is 13 bytes and ``b"Hello world!"`` only 12, so the line the child
reads ends with the 13th byte, still zero: ``b'Hello world!\\x00'``.

Change: the documentation's parent does not wait for its child.  Here it
does, with ``os.waitpid``, so the program ends after the child has printed.
"""

import os

from _samples import work_in_temp_dir

import pymmap as mmap

work_in_temp_dir()

map = mmap.mmap(-1, 13)
map.write(b"Hello world!")

pid = os.fork()

if pid == 0:  # In a child process
    map.seek(0)
    print(map.readline())

    map.close()
else:  # In the parent: wait for the child
    os.waitpid(pid, 0)
