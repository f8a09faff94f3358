"""What ``import pymmap`` costs: no process started, and nothing loaded that a map does not need.

The time itself is measured in benchmarks/import_time.py (whole processes,
against ``import mmap``); these tests keep the reasons it is short from
coming back one import at a time.
"""


from isolated import run_isolated

from pymmap._interpreter import CALLS_BUFFER_DUNDER, PYPY


def test_importing_pymmap_starts_no_process():
    # ctypes.util.find_library runs ldconfig or a compiler in a subprocess: an
    # import must not (the C library is opened by its known names).
    out = run_isolated("""
        import sys
        started = []
        def hook(event, args):
            if event.startswith(("subprocess.", "os.posix_spawn", "os.fork", "os.exec", "os.spawn", "os.system")):
                started.append(event)
        sys.addaudithook(hook)
        import pymmap
        print(started, "ctypes.util" in sys.modules)
    """)
    assert out.split() == ["[]", "False"]


def test_importing_pymmap_loads_only_what_a_map_needs():
    out = run_isolated("""
        import sys
        import ctypes  # (pymmap's floor: and PyPy's ctypes imports re and enum itself)
        before = set(sys.modules)
        import pymmap
        print(" ".join(sorted(set(sys.modules) - before)))
    """)
    loaded = set(out.split())
    assert "pymmap.facade" in loaded  # (the list is real)
    # typing (3-5 ms, more than pymmap's own modules), pickle and re, the
    # command line's and the teaching modules', and the stdlib's mmap (never).
    heavy = {"typing", "pickle", "re", "ctypes.util", "platform", "tempfile", "subprocess", "argparse",
             "enum", "mmap", "pymmap.__main__", "pymmap.tour", "pymmap.pages", "pymmap.typed",
             "pymmap.records", "pymmap.checked", "pymmap.page_states"}
    if CALLS_BUFFER_DUNDER and not PYPY:
        # _pickle (PickleBuffer) waits for the first buffer lent; before 3.12
        # the buffer slots are filled at import, from PickleBuffer's.
        heavy.add("_pickle")
    assert sorted(loaded & heavy) == []


def test_the_first_buffer_lent_makes_the_release_slot_quiet():
    # The quiet C release slot (buffer_slots._quiet_release: PickleBuffer's
    # function, which does nothing) is put in when a map first lends; a class
    # made after that gets it at once.  A class waiting for it is not kept
    # alive by the wait.
    out = run_isolated("""
        import gc, sys, weakref
        import pymmap
        from pymmap import buffer_slots as b

        def quiet(cls):
            procs = b._pointer_at(b._address(cls) + b._TP_AS_BUFFER)
            return b._pointer_at(procs + b._POINTER) == b._picklebuffer_functions()[1]

        class Early(pymmap.mmap):
            pass
        early = weakref.ref(Early)
        del Early
        gc.collect()
        print(b._quieted, "_pickle" in sys.modules, early() is None)
        m = pymmap.mmap(-1, 4096)
        with memoryview(m) as view:
            view[0] = 1
        class Sub(pymmap.mmap):
            pass
        if b.CALLS_BUFFER_DUNDER and not b.PYPY:  # (where the slot is made quiet)
            print(b._quieted, quiet(pymmap.mmap), quiet(Sub), m[0])
        else:
            print(b._quieted, m[0])
        m.close()
    """)
    first, second = out.splitlines()
    assert first.split()[-1] == "True"  # (Early was let go)
    if PYPY:  # (PyPy's classes are left as they are)
        assert second == "False 1"
    elif CALLS_BUFFER_DUNDER:
        assert first == "False False True"
        assert second == "True True True 1"
    else:
        assert second.split()[-1] == "1"
