"""The command line: ``python -m pymmap <command>``.

Commands:

* ``tour``: a narrated walk through memory mapping, showing each Python
  line, its result and the system calls it made (see :mod:`pymmap.tour`).
* ``pages``: which pages of files are in the page cache right now, like
  ``fincore``/``vmtouch`` (see :mod:`pymmap.pages`).

Each command is a subparser here and a ``_cmd_<name>`` function that imports
its module only when it runs, so ``python -m pymmap --help`` stays fast.
"""

import argparse
import sys
from typing import List, Optional

__all__ = ["main"]


def _cmd_tour(args: argparse.Namespace) -> int:
    """Internal: ``python -m pymmap tour``."""
    from . import tour

    return tour.run(show_trace=args.trace, step=args.step)


def _cmd_pages(args: argparse.Namespace) -> int:
    """Internal: ``python -m pymmap pages``."""
    from . import pages

    return pages.run(args.files, touch=args.touch, as_json=args.json, dirty=args.dirty, states=args.states)


def _parser() -> argparse.ArgumentParser:
    """Internal: the argument parser, one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="python -m pymmap",
        description="pymmap: Python's mmap module in pure Python, with teaching tools.",
    )
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
        "'#' a group of pages all cached, '+' some, '.' none.",
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
    """Run the command named in ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    args = _parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
