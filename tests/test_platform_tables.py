"""The constant tables of every platform: consistent with themselves, with their headers, and chosen right.

Only this machine's table can be checked against a real C module (see
test_platform_posix.py).  The others are checked here for what their headers
promise: PROT_* bits, one sharing type, MAP_* option flags that never
overlap one another or the type bits, MAP_ANON equal to MAP_ANONYMOUS,
distinct msync and madvise values.  A few values are spot-checked against
the headers they come from, especially where the platforms differ.
"""


import pytest

from pymmap._platform import tables

ALL = sorted(tables.TABLES)
LINUX = [name for name in ALL if name.startswith("linux-")]

# The bits that hold the sharing type (MAP_SHARED, MAP_PRIVATE, ...), which
# no option flag may use: MAP_TYPE of <asm-generic/mman-common.h> (0x0f), of
# PA-RISC (0x2b, which also reserves 0x08 and 0x20), and the BSDs' two bits.
TYPE_BITS = {name: 0x0F for name in LINUX}
TYPE_BITS.update({"linux-parisc": 0x2B, "darwin": 0x03, "freebsd": 0x03})
SHARING = {"MAP_SHARED", "MAP_PRIVATE", "MAP_SHARED_VALIDATE"}
ALIASES = {"MAP_ANON"}  # the same flag as MAP_ANONYMOUS


def public(table):
    return {k: v for k, v in tables.TABLES[table].items() if not k.startswith("_")}


def group(table, prefix):
    return {k: v for k, v in public(table).items() if k.startswith(prefix)}


@pytest.mark.parametrize("table", ALL)
class TestEveryTable:
    def test_the_names_the_layers_above_need(self, table):
        needed = {"PROT_NONE", "PROT_READ", "PROT_WRITE", "PROT_EXEC", "MAP_SHARED", "MAP_PRIVATE",
                  "MAP_ANONYMOUS", "MAP_ANON", "MAP_FIXED", "MS_ASYNC", "MS_SYNC", "MS_INVALIDATE",
                  "MADV_NORMAL", "MADV_RANDOM", "MADV_SEQUENTIAL", "MADV_WILLNEED", "MADV_DONTNEED"}
        assert needed <= set(public(table))
        assert "_SC_PAGESIZE" in tables.TABLES[table]

    def test_prot_values_are_single_distinct_bits(self, table):
        prot = group(table, "PROT_")
        assert prot["PROT_NONE"] == 0
        bits = [prot["PROT_READ"], prot["PROT_WRITE"], prot["PROT_EXEC"]]
        assert all(bin(b).count("1") == 1 for b in bits)
        assert len(set(bits)) == 3

    def test_anon_is_anonymous(self, table):
        assert public(table)["MAP_ANON"] == public(table)["MAP_ANONYMOUS"]

    def test_sharing_types(self, table):
        flags = group(table, "MAP_")
        assert flags["MAP_SHARED"] and flags["MAP_PRIVATE"]
        assert flags["MAP_SHARED"] != flags["MAP_PRIVATE"]
        assert (flags["MAP_SHARED"] | flags["MAP_PRIVATE"]) & ~TYPE_BITS[table] == 0
        if "MAP_SHARED_VALIDATE" in flags:
            assert flags["MAP_SHARED_VALIDATE"] == flags["MAP_SHARED"] | flags["MAP_PRIVATE"]

    def test_map_option_flags_never_overlap(self, table):
        options = {k: v for k, v in group(table, "MAP_").items() if k not in SHARING | ALIASES}
        seen = {}
        for name, value in sorted(options.items()):
            assert value, name
            assert bin(value).count("1") == 1, f"{name} = {value:#x} is not one bit"
            assert value & TYPE_BITS[table] == 0, f"{name} uses a sharing-type bit"
            assert value not in seen, f"{name} and {seen.get(value)} are both {value:#x}"
            seen[value] = name

    def test_msync_flags(self, table):
        ms = group(table, "MS_")
        assert len(set(ms.values())) == len(ms)
        assert ms["MS_ASYNC"] and ms["MS_INVALIDATE"]
        # MS_SYNC is 0 only on FreeBSD, where synchronous is what 0 asks for.
        assert (ms["MS_SYNC"] == 0) == (table == "freebsd")
        if ms["MS_SYNC"]:
            assert ms["MS_SYNC"] & (ms["MS_ASYNC"] | ms["MS_INVALIDATE"]) == 0

    def test_madvise_values_are_distinct(self, table):
        advice = group(table, "MADV_")
        values = sorted(advice.values())
        assert len(set(values)) == len(values), advice
        assert [advice[k] for k in ("MADV_NORMAL", "MADV_RANDOM", "MADV_SEQUENTIAL", "MADV_WILLNEED")] \
            == [0, 1, 2, 3]

    def test_only_linux_has_mremap(self, table):
        assert ("MREMAP_MAYMOVE" in tables.TABLES[table]) == table.startswith("linux-")


# Values copied from the headers: arch/*/include/uapi/asm/mman.h of Linux,
# bsd/sys/mman.h of XNU (macOS), sys/sys/mman.h of FreeBSD.
FROM_THE_HEADERS = [
    ("linux-generic", "MAP_ANONYMOUS", 0x20),
    ("linux-generic", "MAP_POPULATE", 0x8000),
    ("linux-generic", "MAP_SYNC", 0x80000),
    ("linux-generic", "MS_SYNC", 4),
    ("linux-x86", "MAP_32BIT", 0x40),
    ("linux-alpha", "MAP_ANONYMOUS", 0x10),
    ("linux-alpha", "MAP_FIXED", 0x100),
    ("linux-alpha", "MAP_HUGETLB", 0x100000),
    ("linux-alpha", "MS_SYNC", 2),
    ("linux-alpha", "MS_INVALIDATE", 4),
    ("linux-alpha", "MADV_DONTNEED", 6),
    ("linux-mips", "MAP_NORESERVE", 0x400),
    ("linux-mips", "MAP_ANONYMOUS", 0x800),
    ("linux-mips", "MAP_HUGETLB", 0x80000),
    ("linux-parisc", "MAP_FIXED", 0x04),
    ("linux-parisc", "MAP_ANONYMOUS", 0x10),
    ("linux-parisc", "MAP_GROWSDOWN", 0x8000),
    ("linux-parisc", "MS_SYNC", 1),
    ("linux-parisc", "MS_ASYNC", 2),
    ("linux-parisc", "MADV_MERGEABLE", 12),  # 65 before Linux 6.1
    ("linux-parisc", "MADV_KEEPONFORK", 19),  # 72 before Linux 6.1
    ("linux-powerpc", "MAP_NORESERVE", 0x40),
    ("linux-powerpc", "MAP_LOCKED", 0x80),
    ("linux-sparc", "MAP_NORESERVE", 0x40),
    ("linux-sparc", "MAP_LOCKED", 0x100),
    ("linux-sparc", "MAP_GROWSDOWN", 0x200),
    ("linux-xtensa", "MAP_ANONYMOUS", 0x800),
    ("linux-xtensa", "MAP_LOCKED", 0x8000),
    ("linux-generic", "_BLKGETSIZE64", 0x80081272),
    ("linux-x86", "_BLKGETSIZE64", 0x80081272),
    ("linux-powerpc", "_BLKGETSIZE64", 0x40081272),
    ("linux-parisc", "_BLKGETSIZE64", 0x40081272),
    ("linux-xtensa", "_BLKGETSIZE64", 0x40081272),
    ("darwin", "MAP_ANON", 0x1000),
    ("darwin", "MAP_JIT", 0x800),
    ("darwin", "MAP_RESILIENT_MEDIA", 0x4000),
    ("darwin", "MAP_TPRO", 0x80000),
    ("darwin", "MS_SYNC", 0x10),
    ("darwin", "MADV_FREE", 5),
    ("darwin", "MADV_FREE_REUSE", 8),
    ("darwin", "_SC_PAGESIZE", 29),
    ("freebsd", "MAP_ANON", 0x1000),
    ("freebsd", "MAP_STACK", 0x400),
    ("freebsd", "MAP_32BIT", 0x80000),
    ("freebsd", "MAP_ALIGNED_SUPER", 0x1000000),
    ("freebsd", "MS_SYNC", 0),
    ("freebsd", "MADV_PROTECT", 10),
    ("freebsd", "_SC_PAGESIZE", 47),
]


@pytest.mark.parametrize(("table", "name", "value"), FROM_THE_HEADERS)
def test_value_from_the_header(table, name, value):
    assert tables.TABLES[table][name] == value


def test_mips_and_xtensa_lack_map_sync_and_alpha_parisc_too():
    for table in ("linux-alpha", "linux-mips", "linux-parisc", "linux-xtensa"):
        assert "MAP_SYNC" not in tables.TABLES[table]
    assert tables.TABLES["linux-powerpc"]["MAP_SYNC"] == 0x80000


@pytest.mark.parametrize(
    ("system", "machine", "table"),
    [
        ("linux", "x86_64", "linux-x86"),
        ("linux", "i686", "linux-x86"),
        ("linux", "aarch64", "linux-generic"),
        ("linux", "riscv64", "linux-generic"),
        ("linux", "s390x", "linux-generic"),
        ("linux", "loongarch64", "linux-generic"),
        ("linux", "alpha", "linux-alpha"),
        ("linux", "mips64", "linux-mips"),
        ("linux", "mips", "linux-mips"),
        ("linux", "parisc64", "linux-parisc"),
        ("linux", "ppc64le", "linux-powerpc"),
        ("linux", "ppc", "linux-powerpc"),
        ("linux", "sparc64", "linux-sparc"),
        ("linux", "xtensa", "linux-xtensa"),
        ("linux", "X86_64", "linux-x86"),
        ("darwin", "arm64", "darwin"),
        ("darwin", "x86_64", "darwin"),
        ("freebsd14", "amd64", "freebsd"),
        ("freebsd13", "arm64", "freebsd"),
    ],
)
def test_the_table_is_chosen_by_system_and_machine(system, machine, table):
    assert tables.select(system, machine) == table


def test_linux_without_a_machine_asks_uname(monkeypatch):
    class Sparc:
        machine = "sparc64"

    # (raising=False: Windows' os module has no uname, and select() asks it only for Linux.)
    monkeypatch.setattr(tables.os, "uname", lambda: Sparc, raising=False)
    assert tables.select("linux") == "linux-sparc"


@pytest.mark.parametrize("system", ["win32", "cygwin", "openbsd7", "sunos5", "aix"])
def test_other_systems_have_no_table(system):
    with pytest.raises(ImportError, match=repr(system)):
        tables.select(system, "x86_64")
