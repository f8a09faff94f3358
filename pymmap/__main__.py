"""The command line: ``python -m pymmap <command>``.

Commands:

* ``tour``: a narrated walk through memory mapping, showing each Python
  line, its result and the system calls it made (see :mod:`pymmap.tour`).
* ``pages``: which pages of files are in the page cache right now, like
  ``fincore``/``vmtouch`` (see :mod:`pymmap.pages`).

Each command is a subparser here and a ``_cmd_<name>`` function that imports
its module only when it runs, so ``python -m pymmap --help`` stays fast.
The same command is installed as ``pymmap``.  Exit status: 0 success, 1 a
file could not be examined (or the tour went wrong), 2 a usage error, 130
interrupted (Ctrl-C); output cut short by a closed pipe (``| head``) ends
quietly, as other command-line tools do.
"""

import argparse
import os
import sys
from typing import List, Optional

_EXIT_CODES = """exit status: 0 success, 1 a file could not be examined (or the tour went wrong),
2 a usage error, 130 interrupted"""

__all__ = ["main"]


def _cmd_tour(args: argparse.Namespace) -> int:
    """Internal: ``python -m pymmap tour``."""
    from . import tour

    return tour.run(show_trace=args.trace, step=args.step)


def _cmd_pages(args: argparse.Namespace) -> int:
    """Internal: ``python -m pymmap pages``."""
    from . import pages

    return pages.run(args.files, touch=args.touch, as_json=args.json, dirty=args.dirty, states=args.states)


def _version() -> str:
    """Internal: ``pymmap X.Y.Z`` and the interpreter it runs on."""
    from . import __version__

    implementation = sys.implementation.name
    return f"pymmap {__version__} ({implementation} {sys.version.split()[0]})"


def _parser() -> argparse.ArgumentParser:
    """Internal: the argument parser, one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="python -m pymmap",
        description="pymmap: Python's mmap module in pure Python, with teaching tools.",
        epilog="examples:\n  python -m pymmap tour --step\n  python -m pymmap pages big.bin --touch\n\n"
        + _EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", title="commands")
    commands.required = True

    tour = commands.add_parser(
        "tour",
        help="a narrated walk through memory mapping, with the system calls it makes",
        description="Walk through the classic mmap examples, one step at a time, "
        "showing each line's result and the system calls it made.",
    )
    tour.add_argument("--no-trace", dest="trace", action="store_false",
                      help="do not show the system calls")
    tour.add_argument("--step", action="store_true",
                      help="pause for Enter between steps")
    tour.set_defaults(handler=_cmd_tour)

    pages = commands.add_parser(
        "pages",
        help="which pages of files are in the page cache right now (mincore)",
        description="Map each file read-only and ask the kernel (mincore) which of its "
        "pages are in the page cache.  Prints a summary line and a picture per file: "
        "'#' a group of pages all cached, '+' some, '.' none, '?' the kernel will not say "
        "(a file you neither own nor may write: then the count comes from cachestat, or is unknown).",
        epilog="examples:\n"
        "  python -m pymmap pages big.bin               # how much of big.bin is cached\n"
        "  python -m pymmap pages big.bin --touch       # read it all in, and show the change\n"
        "  python -m pymmap pages log.txt --dirty       # pages written but not yet on disk\n"
        "  python -m pymmap pages *.db --json           # for programs\n\n" + _EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pages.add_argument("files", nargs="+", metavar="FILE", help="a regular file to examine")
    pages.add_argument("--touch", action="store_true",
                       help="read every page first (bringing it into the cache) and show the change")
    pages.add_argument("--dirty", action="store_true",
                       help="also count the pages changed but not yet written to disk, and those being "
                       "written (cachestat, Linux 6.5+; 'unknown' elsewhere)")
    pages.add_argument("--states", action="store_true",
                       help="also show each page's state as m.pages() sees it: resident, mapped, private, "
                       "dirty, swapped")
    pages.add_argument("--json", action="store_true", help="print machine-readable JSON instead")
    pages.set_defaults(handler=_cmd_pages)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command named in ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    Ctrl-C ends it with status 130 and no traceback; so does a reader that
    closes the pipe (``pymmap pages big.bin | head -1``), with status 1, as
    the Python documentation advises (standard output is pointed at
    ``/dev/null``, so that the interpreter's final flush cannot fail again).
    """
    args = _parser().parse_args(argv)
    try:
        status = int(args.handler(args))
        sys.stdout.flush()
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
