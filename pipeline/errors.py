"""The error of the data layer, and how a stage reports failures: one line naming what and where, not a traceback
(``--debug`` or ``NATOCAST_DEBUG=1`` for the traceback)."""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable

from pipeline.redact import redact

DEBUG_ENV = "NATOCAST_DEBUG"
EXIT_DATA_ERROR = 2
EXIT_INTERNAL_ERROR = 1
EXIT_SIGTERM = 128 + signal.SIGTERM


class DataError(ValueError):
    """Bad or missing input: the message names the file (or id) and what is wrong with it."""


class Terminated(BaseException):
    """SIGTERM arrived: unwind (so temporary files are removed and nothing half-written is published)."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


def debug_requested(argv: list[str] | None = None) -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0") or "--debug" in (argv or [])


def one_line(text: object) -> str:
    """A message on one line, credentials masked."""
    return " ".join(redact(text).split())


def run_stage(stage: str, body: Callable[[], None], debug: bool = False) -> int:
    """Run a stage's body; return its exit status. A DataError prints ``{stage}: error: {message}`` (status 2), a
    bug ``{stage}: internal error ...`` (status 1), SIGTERM ``{stage}: terminated ...`` (status 143)."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        body()
        return 0
    except Terminated:
        print(f"{stage}: terminated by SIGTERM; nothing was published, previous outputs are kept", file=sys.stderr)
        return EXIT_SIGTERM
    except KeyboardInterrupt:
        print(f"{stage}: interrupted; nothing was published, previous outputs are kept", file=sys.stderr)
        return 130
    except DataError as exc:
        if debug:
            print(redact(traceback.format_exc()), file=sys.stderr)
        print(f"{stage}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_DATA_ERROR
    except Exception as exc:  # a bug, or a fault no reader anticipated: still one line unless debugging
        if debug:
            print(redact(traceback.format_exc()), file=sys.stderr)
        hint = "" if debug else f" (run with --debug or {DEBUG_ENV}=1 for the traceback)"
        print(f"{stage}: internal error: {type(exc).__name__}: {one_line(exc)}{hint}", file=sys.stderr)
        return EXIT_INTERNAL_ERROR
    finally:
        signal.signal(signal.SIGTERM, previous)
