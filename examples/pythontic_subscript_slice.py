"""pythontic's example from "Memory Mapped Files Using Python", in Python 3.

Map the first 32 bytes of ``sample.txt`` and read them by subscript (one
byte, an ``int``) and by slice (``bytes``).  Index 32 is one past the end
of the map, so it raises ``IndexError``.

Changes: the page lets the ``IndexError`` end the program with a
traceback; here it is caught and printed, so the example exits normally.
The page does not show ``sample.txt``; ours is in ``_samples.py``.
"""

from _samples import work_in_temp_dir

import pymmap as mmap

work_in_temp_dir()

# Create a memory map backed by a file
fileObject = open("sample.txt", "r+b")
fileDesc = fileObject.fileno()
memoryMap = mmap.mmap(fileDesc, 32)

# Print the contents using subscript notation
print(chr(memoryMap[0]))
print(chr(memoryMap[1]))

# Print the contents using slicing notation
print(memoryMap[2:5])

# This will produce an IndexError: mmap index out of range
try:
    print(memoryMap[32])
except IndexError as error:
    print(f"IndexError: {error}")
