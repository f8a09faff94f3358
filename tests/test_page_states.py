"""``m.pages()``: each state proven by a scenario that makes it, not by reading the same source again.

Linux gives every state but ``dirty`` to any user (``mincore``, and the
flags of ``/proc/self/pagemap``); ``dirty`` needs ``cachestat(2)`` (6.5+).
Windows gives ``mapped`` and ``private`` (``QueryWorkingSetEx``): its
scenarios run under Wine in CI.
"""

import html.parser
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
from isolated import ROOT, run_isolated

import pymmap
from pymmap._platform import backend
from pymmap.page_states import LEGEND, PageState, PageStates

P = pymmap.PAGESIZE
LINUX = sys.platform.startswith("linux")
WINDOWS = sys.platform == "win32"
linux_only = pytest.mark.skipif(not LINUX, reason="/proc/self/pagemap and cachestat(2) are Linux's")


def _has_cachestat():
    try:
        backend.cachestat(0, 0, 0)
    except (AttributeError, OSError) as exc:
        return getattr(exc, "errno", None) not in (None, 38)  # (ENOSYS: no cachestat; EBADF etc.: it exists)
    return True


HAS_CACHESTAT = LINUX and _has_cachestat()


@pytest.fixture
def clean_file(tmp_path):
    """A 16-page file, written and synced to disk: no page of it is dirty."""
    path = tmp_path / "clean.bin"
    with open(path, "wb") as f:
        f.write(bytes(range(256)) * (16 * P // 256))
        f.flush()
        os.fsync(f.fileno())
    return path


def test_a_state_per_page_with_offsets(clean_file):
    with open(clean_file, "r+b") as f, pymmap.mmap(f.fileno(), 0) as m:
        states = m.pages()
        assert isinstance(states, PageStates) and len(states) == 16
        assert [s.offset for s in states] == [i * P for i in range(16)]
        part = m.pages(P + 1, 3 * P)            # the pages bytes [P+1, 3P) touch
        assert [s.offset for s in part] == [P, 2 * P]
        assert len(m.pages(5 * P, 5 * P)) == 0
        with pytest.raises(ValueError):
            m.pages(-1)
    with pytest.raises(ValueError):
        m.pages()


@pytest.mark.skipif(WINDOWS, reason="Windows' working set: test_windows_working_set below")
def test_reading_one_byte_maps_its_page(clean_file):
    with open(clean_file, "rb") as f, pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ) as m:
        assert m.pages()[9].mapped is False
        m[9 * P + 7]
        after = m.pages()
        assert after[9].mapped is True and after[9].resident is True
        assert after[9].private is False and after[9].dirty in (False, None)


@linux_only
def test_a_fresh_anonymous_map_has_nothing_mapped_until_touched():
    with pymmap.mmap(-1, 8 * P, flags=pymmap.MAP_PRIVATE) as m:
        assert [s.mapped for s in m.pages()] == [False] * 8
        assert all(s.dirty is None for s in m.pages())  # (no file to write back to)
        m[2 * P] = 1
        states = m.pages()
        assert [s.mapped for s in states] == [False, False, True] + [False] * 5
        assert states[2].private is True and states[2].resident is True


@linux_only
def test_writing_an_access_copy_page_makes_it_private_and_leaves_the_file_alone(clean_file):
    before = clean_file.read_bytes()
    with open(clean_file, "r+b") as f, pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_COPY) as m:
        m[3 * P]                                  # read: the file's page, shared
        assert m.pages()[3].private is False and m.pages()[3].mapped is True
        m[3 * P] = 0xEE                           # write: copy-on-write
        states = m.pages()
        assert states[3].private is True and states[3].mapped is True
        assert [s.private for i, s in enumerate(states) if i != 3] == [False] * 15
        assert str(states).count("P") == 1 + str(states).count("P private copy")
    assert clean_file.read_bytes() == before


@linux_only
@pytest.mark.skipif(not HAS_CACHESTAT, reason="cachestat(2) needs Linux 6.5+ (dirty is then None: tested below)")
def test_a_shared_write_makes_the_page_dirty_and_flush_makes_it_clean(clean_file):
    with open(clean_file, "r+b") as f, pymmap.mmap(f.fileno(), 0) as m:
        assert [s.dirty for s in m.pages()] == [False] * 16
        m[5 * P + 1] = 1
        states = m.pages()
        # The kernel keeps a file's pages in folios, several pages at once on
        # newer kernels (large folios), and a store dirties its whole folio:
        # page 5, and perhaps its neighbours in one aligned run.
        dirty = [i for i, s in enumerate(states) if s.dirty]
        assert 5 in dirty and dirty == list(range(dirty[0], dirty[-1] + 1))
        assert len(dirty) & (len(dirty) - 1) == 0 and dirty[0] % len(dirty) == 0
        assert states[5].symbol == "D" and "D dirty" in str(states)
        m.flush()
        assert [s.dirty for s in m.pages()] == [False] * 16


@linux_only
def test_dirty_is_none_where_the_kernel_cannot_say(clean_file, monkeypatch):
    def refused(fd, offset, length):
        raise backend.oserror(38)  # ENOSYS: a kernel before 6.5

    monkeypatch.setattr(backend, "cachestat", refused)
    with open(clean_file, "r+b") as f, pymmap.mmap(f.fileno(), 0) as m:
        m[0] = 1
        assert {s.dirty for s in m.pages()} == {None}
    with open(clean_file, "r+b") as f, pymmap.mmap(f.fileno(), 0, trackfd=False) as m:
        monkeypatch.undo()
        assert {s.dirty for s in m.pages()} == {None}  # (no descriptor to ask)


@linux_only
def test_madv_dontneed_unmaps_private_pages_and_they_read_as_zeros():
    with pymmap.mmap(-1, 4 * P, flags=pymmap.MAP_PRIVATE) as m:
        m[:] = b"\x01" * (4 * P)
        assert [s.mapped for s in m.pages()] == [True] * 4
        m.madvise(pymmap.MADV_DONTNEED, P, P)
        states = m.pages()
        assert [s.mapped for s in states] == [True, False, True, True]
        assert states[1].private is False
        assert m[P:2 * P] == bytes(P) and m[0] == 1


@linux_only
def test_madv_dontneed_drops_a_file_page_from_this_process_but_not_from_the_cache(clean_file):
    with open(clean_file, "rb") as f, pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ) as m:
        m[:]
        assert m.pages()[4].mapped is True
        m.madvise(pymmap.MADV_DONTNEED, 4 * P, P)
        assert m.pages()[4].mapped is False and m.pages()[4].resident is True


@linux_only
def test_a_forked_childs_write_to_a_private_page_leaves_the_parents_page_alone():
    out = run_isolated("""
        import os, pymmap
        P = pymmap.PAGESIZE
        m = pymmap.mmap(-1, 2 * P, flags=pymmap.MAP_PRIVATE)
        m[0] = 1                         # the parent's own page
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            m[0] = 2                     # the child's write: a copy of its own
            os.write(write, str(m.pages()[0].private).encode())
            os._exit(0)
        os.waitpid(pid, 0)
        print(os.read(read, 16).decode(), m[0], m.pages()[0].private, m.pages()[0].mapped)
    """)
    assert out.split() == ["True", "1", "True", "True"]


@linux_only
def test_resident_is_none_for_a_file_this_user_may_neither_write_nor_owns():
    if os.geteuid() != 0:
        pytest.skip("needs root, to become another user")
    directory = tempfile.mkdtemp()  # (pytest's own are private to root)
    os.chmod(directory, 0o755)
    path = os.path.join(directory, "root-owned.bin")
    with open(path, "wb") as f:
        f.write(b"r" * (4 * P))
    os.chmod(path, 0o644)
    out = subprocess.run(
        # (pymmap.page_states, imported on first use, before the interpreter's
        # own files under /root are out of reach.)
        [sys.executable, "-c", "import os, sys, pymmap, pymmap.page_states\n"
         "os.setgid(65534); os.setuid(65534)\n"
         "f = open(sys.argv[1], 'rb'); m = pymmap.mmap(f.fileno(), 0, access=pymmap.ACCESS_READ)\n"
         "print({s.resident for s in m.pages()}, {s.mapped for s in m.pages()})", str(path)],
        env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True)
    shutil.rmtree(directory)
    assert out.returncode == 0, out.stderr
    resident, mapped = out.stdout.split()
    assert resident == "{None}"  # (mincore would have said 1 for every page: see page_states)
    # /proc/self/pagemap: readable, unless the change of user made the
    # process undumpable (then /proc/self is root's): False, or None.
    assert mapped in ("{False}", "{None}")


# --- drawing it -----------------------------------------------------------------------------


def _states(symbols):
    kinds = {
        ".": (False, False, False, False, False),
        "r": (True, False, False, False, False),
        "M": (True, True, False, False, False),
        "D": (True, True, False, True, False),
        "P": (True, True, True, False, False),
        "S": (False, False, True, None, True),
        "?": (None, None, None, None, None),
    }
    return PageStates(PageState(i * P, *kinds[c]) for i, c in enumerate(symbols))


def test_the_strip_has_one_character_per_page_and_a_legend_of_what_it_shows():
    states = _states("..MMDP.S?r")
    assert [s.symbol for s in states] == list("..MMDP.S?r")
    text = str(states)
    assert text.startswith("[..MMDP.S?r] (10 pages: ")
    for symbol in "SPDMr.?":
        assert f"{symbol} {LEGEND[symbol]}" in text
    assert "\n" not in text
    assert str(_states("MM")) == "[MM] (2 pages: M mapped)"


def test_many_pages_share_a_character_which_shows_the_strongest_state():
    states = _states("." * 200 + "D" + "." * 55)  # 256 pages, 4 per character
    text = str(states)
    assert text.startswith("[" + "." * 50 + "D" + "." * 13 + "] (256 pages, 4 per character: ")


def test_the_html_grid_is_well_formed_with_a_cell_per_page_and_a_legend():
    states = _states("..MMDP.S?r" * 30)

    class Cells(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.open = []
            self.cells = 0
            self.text = ""

        def handle_starttag(self, tag, attrs):
            self.open.append(tag)
            if dict(attrs).get("title", "").startswith("page at byte"):
                self.cells += 1

        def handle_endtag(self, tag):
            assert self.open.pop() == tag

        def handle_data(self, data):
            self.text += data

    parser = Cells()
    parser.feed(states._repr_html_())
    parser.close()
    assert parser.open == []
    assert parser.cells == 300
    for text in LEGEND.values():
        assert text in parser.text


def test_as_json_is_plain_data():
    states = _states("MD?")
    assert json.loads(json.dumps(states.as_json())) == [
        {"offset": 0, "resident": True, "mapped": True, "private": False, "dirty": False, "swapped": False},
        {"offset": P, "resident": True, "mapped": True, "private": False, "dirty": True, "swapped": False},
        {"offset": 2 * P, "resident": None, "mapped": None, "private": None, "dirty": None, "swapped": None},
    ]


def test_every_state_has_a_one_line_docstring():
    for name in PageState._fields:
        doc = getattr(PageState, name).__doc__
        assert doc and "\n" not in doc and not doc.startswith("Alias for field")


def test_the_cli_shows_states_and_dirty_counts(clean_file):
    env = dict(os.environ, PYTHONPATH=ROOT)
    text = subprocess.run([sys.executable, "-m", "pymmap", "pages", "--states", "--dirty", str(clean_file)],
                          env=env, capture_output=True, text=True)
    assert text.returncode == 0, text.stderr
    assert "(16 pages: " in text.stdout
    if HAS_CACHESTAT:
        assert "dirty: 0 pages, writeback: 0 pages" in text.stdout
    else:
        assert "dirty: unknown, writeback: unknown" in text.stdout
    data = json.loads(subprocess.run(
        [sys.executable, "-m", "pymmap", "pages", "--states", "--dirty", "--json", str(clean_file)],
        env=env, capture_output=True, text=True).stdout)
    facts = data["files"][0]
    assert len(facts["states"]) == 16 and set(facts["states"][0]) == set(PageState._fields)
    assert facts["dirty"] == (0 if HAS_CACHESTAT else None)


@linux_only
@pytest.mark.skipif(not HAS_CACHESTAT, reason="cachestat(2) needs Linux 6.5+")
def test_the_cli_sees_another_programs_writes_wait_in_the_page_cache(tmp_path):
    path = tmp_path / "log.bin"
    with open(path, "wb") as f:
        f.write(b"x" * (8 * P))
        f.flush()
        os.fsync(f.fileno())
        f.seek(2 * P)
        f.write(b"y" * (3 * P))   # three pages changed, not yet on disk
        f.flush()
        out = subprocess.run([sys.executable, "-m", "pymmap", "pages", "--dirty", str(path)],
                             env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True).stdout
        dirty = int(out.split("dirty: ")[1].split()[0])
        assert 3 <= dirty <= 8  # (the pages written, or their whole folios: see above)
        os.fsync(f.fileno())
    out = subprocess.run([sys.executable, "-m", "pymmap", "pages", "--dirty", str(path)],
                         env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True).stdout
    assert "dirty: 0 pages" in out


@pytest.mark.skipif(not WINDOWS, reason="QueryWorkingSetEx: Windows (under Wine in CI)")
def test_windows_working_set():
    with pymmap.mmap(-1, 4 * P) as m:
        before = m.pages()
        assert {s.dirty for s in before} == {None} and {s.swapped for s in before} == {None}
        # Out of the working set: not mapped, and whether in memory no one says.
        assert before[1].mapped is False and before[1].resident is None and before[1].symbol == "?"
        m[P] = 1
        after = m.pages()
        assert after[1].mapped is True and after[1].resident is True
        assert after[1].private in (True, False)
        assert [s.mapped for s in after].count(True) >= 1


# --- the readers' branches, with the kernel's answers stood in for ------------------------------


def test_count_of_says_none_when_any_is_unknown():
    states = _states("MD?")
    assert states.count_of("dirty") is None
    assert _states("MDD").count_of("dirty") == 2


@linux_only
def test_without_pagemap_mapped_private_and_swapped_are_unknown(monkeypatch):
    def refused(address, length):
        raise backend.oserror(13)  # EACCES: /proc/self undumpable, or no /proc at all

    monkeypatch.setattr(backend, "page_flags", refused, raising=False)
    with pymmap.mmap(-1, 2 * P) as m:
        m[0] = 1
        states = m.pages()
        assert {(s.mapped, s.private, s.swapped) for s in states} == {(None, None, None)}
        assert states[0].resident is True


def test_the_windows_reader_on_its_working_set_answers(monkeypatch):
    from pymmap import page_states

    answers = [0, 1 | (1 << 15), 1]  # out of the working set; in it and shareable; in it and private
    monkeypatch.setattr(backend, "working_set", lambda address, length: tuple(answers), raising=False)
    states = page_states.read_states(0, 0, 3, -1, 0, True)
    assert [(s.resident, s.mapped, s.private, s.dirty, s.swapped) for s in states] == [
        (None, False, None, None, None), (True, True, False, None, None), (True, True, True, None, None)]
    assert str(states) == "[?MP] (3 pages: P private copy, M mapped, ? unknown)"


@linux_only
def test_mincore_is_trusted_only_where_linux_answers_truthfully(monkeypatch, clean_file):
    from pymmap import page_states

    fd = os.open(clean_file, os.O_RDONLY)
    try:
        assert page_states._can_trust_mincore(fd) is True  # (root, or the owner)
        monkeypatch.setattr(os, "geteuid", lambda: 12345)  # someone else, who may not write it
        monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
        assert page_states._can_trust_mincore(fd) is False
        assert page_states._can_trust_mincore(-1) is True  # (anonymous memory)
    finally:
        os.close(fd)
    assert page_states._can_trust_mincore(fd) is False  # (closed: fstat fails, so no)
