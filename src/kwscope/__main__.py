"""``python -m kwscope``: the same command line as ``kwscope``.

A Ctrl-C from here on ends as one line: before anything else (the command line's imports take a
good part of a second), SIGINT gets a handler that says "kwscope: interrupted" and exits 130;
the command line puts Python's own back when a command starts, so that a run's cleanup runs.
A SIGINT that came ignored stays ignored, as Python and POSIX shells leave it for a background job.
"""

import _signal  # the C module: no import of its own (``signal`` imports enum, re, ...)
import os


def _interrupted_while_starting(signum, frame):  # pragma: no cover - runs in a child process
    try:  # what a finished command printed is not lost (a Ctrl-C as Python exits)
        import sys

        sys.stdout.flush()
    except BaseException:  # noqa: BLE001 - interrupted inside a write: nothing more to save
        pass
    os.write(2, b"kwscope: interrupted\n")
    os._exit(130)


# Not where SIGINT came ignored (a job started in the background by a script): Python itself
# leaves it ignored then, and so does the ``kwscope`` launcher.
if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
    _signal.signal(_signal.SIGINT, _interrupted_while_starting)

from .cli import main  # noqa: E402 - after the handler, on purpose

main()
