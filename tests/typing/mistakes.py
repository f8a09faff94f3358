"""Mistakes that ``mypy --strict`` must catch in code using pymmap (tests/test_typing.py).

Each line that must fail ends with a comment, ``E:`` and the words mypy
says: the test checks that mypy reports exactly those lines, with those words.
"""

import pymmap as mmap

m = mmap.mmap(-1, 4096)
m[0] = b"x"  # E: No overload variant of "__setitem__" of "mmap" matches argument types "int", "bytes"
m[0:1] = 5  # E: No overload variant of "__setitem__" of "mmap" matches argument types "slice
m["a"]  # E: No overload variant of "__getitem__" of "mmap" matches argument type "str"
text: str = m[0:4]  # E: Incompatible types in assignment (expression has type "bytes", variable has type "str")
number: bytes = m[0]  # E: Incompatible types in assignment (expression has type "int", variable has type "bytes")
m.typed("middle")  # E: Argument 1 to "typed" of "mmap" has incompatible type "Literal['middle']"
m.find("text")  # E: Argument 1 to "find" of "mmap" has incompatible type "str"
m.write(42)  # E: Argument 1 to "write" of "mmap" has incompatible type "int"
mmap.mmap(-1, 4096, flags="private")  # E: Argument "flags" to "mmap" has incompatible type "str"
mmap.MAP_NOT_A_THING  # E: Module has no attribute "MAP_NOT_A_THING"
