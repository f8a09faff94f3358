"""Growing anonymous maps: the bytes are kept, the new ones are zero, nothing dies.

CPython 3.11-3.13.0 let ``mmap(-1, PAGESIZE).resize(3 * PAGESIZE)`` succeed
and then died with SIGBUS on reading the new pages (the shared memory object
behind the mapping keeps its first size); later versions refuse.  pymmap
grows it by making a fresh shared mapping of the new size and copying the
bytes.  Run in child processes, so that a SIGBUS fails the test.
"""

import os

import pytest
from isolated import run_isolated

if os.name != "posix":
    pytest.skip('growing shared anonymous memory (memfd, mremap) and fork(): Windows has neither', allow_module_level=True)


def test_growing_a_shared_anonymous_map_keeps_bytes_and_zero_fills():
    run_isolated(
        """
        import pymmap
        P = pymmap.PAGESIZE
        m = pymmap.mmap(-1, P)
        m[:4] = b"keep"
        m[P - 1] = 9
        m.resize(3 * P)
        assert len(m) == 3 * P and m.size() == 3 * P
        assert m[:4] == b"keep" and m[P - 1] == 9
        assert m[P:] == bytes(2 * P)          # every new page is readable, and zero
        m[3 * P - 1] = 1
        m.resize(P // 2)                      # shrinking works as well
        assert m[:4] == b"keep" and len(m) == P // 2
        m.close()
        print("ok")
        """
    )


def test_grown_map_is_shared_with_children_forked_afterwards():
    run_isolated(
        """
        import os, pymmap
        P = pymmap.PAGESIZE
        m = pymmap.mmap(-1, P)
        m[0] = 1
        m.resize(4 * P)
        pid = os.fork()
        if pid == 0:
            m[3 * P] = 42                     # the child writes to a new page
            m[0] = 2
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        assert m[3 * P] == 42 and m[0] == 2   # and the parent sees it
        print("ok")
        """
    )


def test_private_anonymous_maps_grow_in_place():
    run_isolated(
        """
        import pymmap
        P = pymmap.PAGESIZE
        m = pymmap.mmap(-1, P, flags=pymmap.MAP_PRIVATE)
        m[:3] = b"abc"
        m.resize(5 * P)
        assert m[:3] == b"abc" and m[5 * P - 1] == 0
        print("ok")
        """
    )
