"""What both backends share: the tracer hook, and the path for calls the ``os`` module makes.

Every call a backend makes into the operating system goes through one
function of that backend (``_syscall`` on POSIX, ``_call_raw`` on
Windows), which tells the tracer about it when one is installed
(:func:`pymmap.trace`).  The tracer itself, and the wrapper for the few
calls that Python's ``os`` module already makes for us (``fstat``, ``dup``,
``ftruncate``, ``close``), are the same on both, and live here.
"""

from typing import Any, Callable, Optional, Tuple

__all__ = ["Tracer", "os_call", "set_tracer", "tracer"]

#: ``tracer(name, args, result, err)``: ``err`` is 0 on success, else the
#: errno (POSIX) or Windows error code.
Tracer = Callable[[str, Tuple[Any, ...], Any, int], None]

#: The active tracer, or None.  The backends read it after every call.
tracer: Optional[Tracer] = None


def set_tracer(new: Optional[Tracer]) -> None:
    """Install ``new(name, args, result, err)``, called after every system call; None turns tracing off."""
    global tracer
    tracer = new


def os_call(name: str, fn: Callable[..., Any], args: Tuple[Any, ...]) -> Any:
    """Call ``fn(*args)``, a function of the ``os`` module, and tell the tracer.

    ``os`` raises ``OSError`` itself; the tracer sees -1 and the errno then,
    as it would from the C call.
    """
    try:
        result = fn(*args)
    except OSError as exc:
        if tracer is not None:
            tracer(name, args, -1, exc.errno or 0)
        raise
    if tracer is not None:
        tracer(name, args, 0 if result is None else result, 0)
    return result
