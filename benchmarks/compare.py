"""Small operations before and after a change: the stdlib, pymmap at REV, and this checkout, in one process.

    python benchmarks/compare.py REV            # e.g. HEAD~3, or a commit
    python benchmarks/compare.py REV --quick    # fewer repeats
    python benchmarks/compare.py ../other-checkout   # pymmap as another checkout has it
    python benchmarks/compare.py REV --only 'm[i:' --only find   # the rows whose names hold these

Two runs of ``run.py`` (one per commit) are measured on two different
states of the machine; on a shared machine, small rows then move by 20%
or more between runs.  Here the package as it was at ``REV`` is unpacked
(``git archive``) under another name, ``pymmap_at_rev`` (its modules import
each other relatively, so the name does not matter to them), and imported
beside this checkout's ``pymmap``.  The three maps, over one file, are timed
in alternation, many times, and the best of each is kept.  The rows are
``run.py``'s small operations: the ones a change to a method's own cost
moves.  Ratios are against the stdlib, as in ``run.py``.
"""

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import mmap as std_mmap  # noqa: E402

from run import _fmt, lends_to_struct, small_pairs  # noqa: E402

import pymmap  # noqa: E402


def unpack_at(rev, directory):
    """Unpack ``pymmap/`` as it was at ``rev`` into ``directory/pymmap_at_rev``; return the module.

    ``rev`` may also be the path of another checkout (a ``git worktree``,
    say), whose ``pymmap/`` is copied: for a machine or chroot without git.
    """
    if os.path.isdir(os.path.join(rev, "pymmap")):
        shutil.copytree(os.path.join(rev, "pymmap"), os.path.join(directory, "pymmap_at_rev"))
        sys.path.insert(0, directory)
        return importlib.import_module("pymmap_at_rev")
    archive = os.path.join(directory, "rev.tar")
    subprocess.run(["git", "-C", ROOT, "archive", "-o", archive, rev, "pymmap"], check=True)
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # (3.12+ and the security releases before it)
            tar.extractall(directory, filter="data")
        else:
            tar.extractall(directory)
    os.rename(os.path.join(directory, "pymmap"), os.path.join(directory, "pymmap_at_rev"))
    sys.path.insert(0, directory)
    return importlib.import_module("pymmap_at_rev")


def best_of(timers, number, rounds):
    """Run each timer ``number`` times, in turn, ``rounds`` times; the best time per call of each."""
    best = [float("inf")] * len(timers)
    for _ in range(rounds):
        for k, timer in enumerate(timers):
            best[k] = min(best[k], timer.timeit(number) / number)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the commit (or the path of a checkout) to compare this checkout with")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="time only the rows whose names contain TEXT (repeatable)")
    args = parser.parse_args(argv)
    number, rounds = (20000, 5) if args.quick else (50000, 21)
    with tempfile.TemporaryDirectory() as directory:
        before = unpack_at(args.rev, directory)
        path = os.path.join(directory, "data.bin")
        with open(path, "wb") as f:
            f.write((b"x" * 79 + b"\n") * 1000)
        with open(path, "r+b") as f:
            maps = [std_mmap.mmap(f.fileno(), 0), before.mmap(f.fileno(), 0), pymmap.mmap(f.fileno(), 0)]
            to_struct = lends_to_struct(maps[2]) and lends_to_struct(maps[1])
            before = small_pairs(maps[0], maps[1], to_struct)
            after = small_pairs(maps[0], maps[2], to_struct)
            rows = [[(name, std), (name, old), (name, new)]
                    for (name, std, old), (_, _, new) in zip(before, after)
                    if not args.only or any(text in name for text in args.only)]
            print(f"small operations -- {sys.implementation.name} {sys.version.split()[0]}: "
                  f"the stdlib, pymmap at {args.rev} (before) and this checkout (after), "
                  f"best of {rounds} x {number}")
            print(f"  {'operation':40s} {'stdlib':>8s} {'before':>8s} {'ratio':>6s} {'after':>8s} {'ratio':>6s}")
            for row in rows:
                name = row[0][0]
                std, old, new = best_of([timeit.Timer(fn) for _, fn in row], number, rounds)
                print(f"  {name:40s} {_fmt(std):>8s} {_fmt(old):>8s} {old / std:6.2f} {_fmt(new):>8s} {new / std:6.2f}")
            for m in maps:
                m.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
