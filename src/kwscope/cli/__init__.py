"""The ``kwscope`` command line: a thin shell over the Python API.

Each command lives in a module of its own under ``kwscope.cli`` and is registered here.
Errors that kwscope raises on purpose become one line on stderr and exit status 2; nothing prints
a traceback unless ``KWSCOPE_DEBUG=1`` is set.
"""

from __future__ import annotations

import _signal  # the C module, at once: ``signal`` itself imports enum, re, ...
import os
import sys


def _interrupted_while_starting(signum, frame):  # pragma: no cover - runs in a child process
    try:  # what a finished command printed is not lost (a Ctrl-C as Python exits)
        sys.stdout.flush()
    except BaseException:  # noqa: BLE001 - interrupted inside a write: nothing more to save
        pass
    os.write(2, b"kwscope: interrupted\n")
    os._exit(130)


def _started_as_the_command() -> bool:
    """True in the ``kwscope`` launcher (not for a program or a test that imports this module)."""
    return os.path.basename(getattr(sys.modules.get("__main__"), "__file__", None) or "") in ("kwscope", "kwscope.exe")


def _deaf_while_exiting() -> None:
    """The last exit callback: from here Python tears itself down, and a SIGINT (its handler
    gone) would end the process by the signal instead of the status the command chose."""
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)


# A Ctrl-C while the command line starts (its imports take a good part of a second) ends as one
# line: until a command runs, SIGINT says so and exits 130 (``python -m kwscope`` installs the
# same handler in ``__main__``); while it runs, Python's own is back, so that a run's cleanup
# runs (and ends as the same line, below); once it has run, the first again, while Python exits.
_ours_at_start = getattr(_signal.getsignal(_signal.SIGINT), "__name__", "") == "_interrupted_while_starting"
_as_the_command = _started_as_the_command() or _ours_at_start  # (python -m kwscope: installed by __main__)
if _as_the_command:
    if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
        _signal.signal(_signal.SIGINT, _interrupted_while_starting)
    import atexit  # a C module too

    atexit.register(_deaf_while_exiting)  # registered first: called last

try:  # a Ctrl-C while the command starts ends as one line too, not an import traceback
    import contextlib
    import functools
    import importlib

    import click

    from ..errors import KwscopeError, no_room
    from ..report.terminal import printable
except KeyboardInterrupt:
    sys.stderr.write("kwscope: interrupted\n")
    raise SystemExit(130) from None

def check_output_file(path, *, create: bool = False) -> None:
    """Refuse, before any work, an output file whose folder is missing (made instead with
    ``create``), not a folder or not writable (one line, exit 2; these ended as "internal error"
    after the whole run)."""
    from pathlib import Path

    parent = Path(path).expanduser().absolute().parent
    if create and not parent.exists():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise KwscopeError(f"{printable(str(path))}: cannot make the output folder "
                               f"{printable(str(parent))} ({exc.strerror or exc})") from None
    if not parent.exists():
        raise KwscopeError(f"{printable(str(path))}: the output folder {printable(str(parent))} does not exist")
    if not parent.is_dir():
        raise KwscopeError(f"{printable(str(path))}: {printable(str(parent))} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise KwscopeError(f"{printable(str(path))}: the output folder {printable(str(parent))} is not writable")


def check_free_space(path, need_bytes: int, what: str) -> None:
    """Refuse, before any work, an output whose folder has less free space than ``need_bytes``
    (an estimate of what ``what`` takes), with both numbers (one line, exit 2)."""
    from pathlib import Path

    parent = Path(path).expanduser().absolute().parent
    try:
        st = os.statvfs(parent)
    except (OSError, AttributeError):  # no statvfs here: the write itself will tell
        return
    free = st.f_bavail * st.f_frsize
    if free < need_bytes:
        raise KwscopeError(f"{printable(str(path))}: no space left on device for {what}: {_mib(free)} free in "
                           f"{printable(str(parent))}, about {_mib(need_bytes)} needed")


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


@contextlib.contextmanager
def writing(path):
    """Around the write of an output file: a disk found full, a quota or the file size limit
    reached become one line naming the file (exit 2), not "internal error" after all the work.
    The writer itself leaves no partial file (it writes a temporary name, then renames)."""
    try:
        yield
    except OSError as exc:
        if no_room(exc) is None:
            raise
        raise KwscopeError(f"{printable(str(path))}: cannot write it: {no_room(exc)}") from None


# command name -> module under kwscope.cli defining a click command named `command`
_COMMANDS = {
    "demo": "demo",
    "index": "index",
    "stats": "stats",
    "features": "features",
    "anomalies": "anomalies",
    "plot": "plot",
    "report": "report",
    "split": "split",
    "learn": "learn",
}


class _LazyGroup(click.Group):
    """Imports a command's module only when that command runs (keeps --help and start-up fast)."""

    def list_commands(self, ctx):
        return [name for name in _COMMANDS if self._load(name) is not None]

    def get_command(self, ctx, name):
        return self._load(name)

    @staticmethod
    def _load(name):
        if name not in _COMMANDS:
            return None
        try:
            module = importlib.import_module(f".{_COMMANDS[name]}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{_COMMANDS[name]}":
                return None  # command not built yet in this checkout
            raise
        return module.command

    def invoke(self, ctx):
        handler = _signal.getsignal(_signal.SIGINT)
        ours = getattr(handler, "__name__", "") == "_interrupted_while_starting"
        if ours:
            _signal.signal(_signal.SIGINT, _signal.default_int_handler)  # a run's Ctrl-C: its cleanup runs
        try:
            return self._invoke(ctx)
        finally:
            if ours:  # the run is over: a Ctrl-C while Python exits is the one line too
                _signal.signal(_signal.SIGINT, handler)

    def _invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KwscopeError as exc:
            if os.environ.get("KWSCOPE_DEBUG"):
                raise
            # The reason names a file, and a file name can hold escape sequences or newlines.
            click.echo(f"kwscope: error: {printable(str(exc))}", err=True)
            sys.exit(2)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("kwscope: interrupted", err=True)
            _exit_interrupted()
        except Exception as exc:  # a bug of ours: still one line, with a way to see more
            if os.environ.get("KWSCOPE_DEBUG"):
                raise
            click.echo(f"kwscope: internal error: {type(exc).__name__}: {printable(str(exc))} "
                       "(set KWSCOPE_DEBUG=1 for a traceback)", err=True)
            sys.exit(1)


def _exit_interrupted() -> None:
    """Exit 130 after a Ctrl-C the command caught (its cleanup done).

    In the ``kwscope`` command itself, once the exit callbacks ran, the process ends with 130 at
    once: a KeyboardInterrupt that passed through a compiled module's import (numpy.random's,
    pyarrow's, seen here) leaves Python's "unhandled Ctrl-C" mark set, and Python would then end
    the process by SIGINT (status -2) whatever status was asked. Elsewhere (a program, a test
    calling the command line in-process) a plain ``SystemExit(130)``.
    """
    if not _as_the_command:
        sys.exit(130)
    import atexit

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - a closed or broken stream: nothing more to save
            pass
    atexit._run_exitfuncs()  # what a normal exit runs: multiprocessing's cleanup, ours
    os._exit(130)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kwscope")
def main() -> None:
    """Explore, check and featurize short-utterance speech datasets."""


def data_argument(fn):
    """The DATA argument shared by every dataset command: a folder, a manifest file or a URL."""
    return click.argument("data", type=click.Path(path_type=str))(fn)


def layout_option(fn):
    """``--layout``, ``--layout-file``, ``--columns``, ``--task`` and ``--split-lists``, handed to
    the command as one ``layout`` (a name or pattern, or a :class:`~kwscope.io.spec.LayoutSpec`
    when a file, columns, a task or split lists say more)."""

    @functools.wraps(fn)
    def wrapper(*args, layout, layout_file, columns, task, split_lists, **kwargs):
        if layout_file or columns or task or split_lists:
            from ..io.spec import LayoutSpec, parse_columns, read_layout_file

            spec = read_layout_file(layout_file) if layout_file else LayoutSpec()
            layout = spec.with_overrides(layout=layout, columns=parse_columns(columns), task=task or "",
                                         split_lists=os.path.abspath(split_lists) if split_lists else "")
        return fn(*args, layout=layout, **kwargs)

    decorators = [
        click.option("--layout", default="auto", show_default=True, metavar="LAYOUT",
                     help="How paths name label, speaker and split: auto, speech-commands, fsdd, folders, or a "
                          "path pattern with {label} {speaker} {take} {split} {_} and *, e.g. "
                          "'{speaker}/{_}-{label}-{take}.wav'."),
        click.option("--layout-file", type=click.Path(dir_okay=False, path_type=str), default=None,
                     help="A kwscope.yaml (layout, labels renames, exclude folders/globs, columns); "
                          "DATA/kwscope.yaml is read without it."),
        click.option("--columns", default=None, metavar="ROLE=COL,...",
                     help="Manifest columns, e.g. path=audio_filepath,label=text,speaker=client_id."),
        click.option("--task", default=None, metavar="TASK",
                     help="Read DATA as a task: tf-challenge (the TensorFlow Speech Recognition Challenge's 12 "
                          "classes: ten words, _unknown_, _silence_ cut from _background_noise_)."),
        click.option("--split-lists", type=click.Path(file_okay=False, path_type=str), default=None, metavar="DIR",
                     help="A folder with validation_list.txt / testing_list.txt (e.g. from kwscope split) that "
                          "gives every recording's split."),
    ]
    for dec in reversed(decorators):
        wrapper = dec(wrapper)
    return wrapper


def strict_option(fn):
    return click.option("--strict", is_flag=True,
                        help="Exit 1 when problems were found (broken files, leakage, ...), for CI.")(fn)
