"""The error of the data layer, and how a stage reports failures: one line naming what and where, not a traceback
(``--debug`` or ``NATOCAST_DEBUG=1`` for the traceback)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator

from pipeline.redact import redact

DEBUG_ENV = "NATOCAST_DEBUG"
EXIT_DATA_ERROR = 2
EXIT_INTERNAL_ERROR = 1
EXIT_SIGTERM = 128 + signal.SIGTERM


class DataError(ValueError):
    """Bad or missing input: the message names the file (or id) and what is wrong with it."""


class Terminated(BaseException):
    """SIGTERM arrived: unwind (so temporary files are removed and nothing half-written is published)."""


SIGNALS_SEEN: list[int] = []  # the signals our handlers turned into exceptions, in order (see signal_behind)


def _on_sigterm(signum, frame) -> None:
    SIGNALS_SEEN.append(signal.SIGTERM)
    raise Terminated()


def _on_sigint(signum, frame) -> None:
    SIGNALS_SEEN.append(signal.SIGINT)
    raise KeyboardInterrupt


def signal_behind(exc: BaseException) -> BaseException:
    """The signal a library swallowed: DuckDB answers a Ctrl-C or SIGTERM that arrives during a query (our handler's
    KeyboardInterrupt or Terminated) with ``RuntimeError('Query interrupted')``, which would read as a bug (status 1
    instead of 130 or 143). Only after one of our handlers ran; any other error is itself."""
    interrupted = type(exc).__name__ == "InterruptException" or (
        isinstance(exc, RuntimeError) and "interrupted" in str(exc).lower()
    )
    if not (interrupted and SIGNALS_SEEN):
        return exc
    return Terminated() if SIGNALS_SEEN[-1] == signal.SIGTERM else KeyboardInterrupt()


def debug_requested(argv: list[str] | None = None) -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0") or "--debug" in (argv or [])


def one_line(text: object) -> str:
    """A message on one line, credentials masked."""
    return " ".join(redact(text).split())


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``Terminated`` (it unwinds like Ctrl-C), and both are noted for
    ``signal_behind`` (a Ctrl-C only where Python's own handler would raise it); the previous handlers after."""
    SIGNALS_SEEN.clear()  # a run's own signals only
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    previous_int = signal.getsignal(signal.SIGINT)
    if previous_int is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if previous_int is signal.default_int_handler:
            signal.signal(signal.SIGINT, previous_int)


def show_traceback(debug: bool) -> None:
    """The traceback of the exception being handled, credentials masked, when debugging."""
    if debug:
        print(redact(traceback.format_exc()), file=sys.stderr)


def failure_status(who: str, exc: BaseException, debug: bool, kept: str, debug_how: str) -> int:
    """Say in one line on stderr why ``who`` stopped, and return the exit status: SIGTERM 143 and Ctrl-C 130
    (``kept``: what that leaves behind), a DataError 2, anything else an internal error 1 (the traceback with
    ``debug``; ``debug_how``: how to ask for it). Called while ``exc`` is being handled."""
    exc = signal_behind(exc)
    if isinstance(exc, Terminated | KeyboardInterrupt):
        why = "terminated by SIGTERM" if isinstance(exc, Terminated) else "interrupted"
        print(f"{who}: {why}; {kept}", file=sys.stderr)
        return EXIT_SIGTERM if isinstance(exc, Terminated) else 130
    show_traceback(debug)
    if isinstance(exc, DataError):
        print(f"{who}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_DATA_ERROR
    hint = "" if debug else f" (run with {debug_how} for the traceback)"
    print(f"{who}: internal error: {type(exc).__name__}: {one_line(exc)}{hint}", file=sys.stderr)
    return EXIT_INTERNAL_ERROR


def run_stage(stage: str, body: Callable[[], None], debug: bool = False) -> int:
    """Run a stage's body; return its exit status. A DataError prints ``{stage}: error: {message}`` (status 2), a
    bug ``{stage}: internal error ...`` (status 1), SIGTERM ``{stage}: terminated ...`` (status 143)."""
    try:
        with sigterm_raises():
            body()
        return 0
    except (Terminated, KeyboardInterrupt, Exception) as exc:  # a bug or a fault no reader anticipated: one line
        kept = "nothing was published, previous outputs are kept"
        return failure_status(stage, exc, debug, kept, f"--debug or {DEBUG_ENV}=1")
