"""Stopping a download-mode ingest at once: on Ctrl-C, SIGTERM or (in worker threads) another download's error.

A signal reaches only the main thread; a worker thread blocked in a socket read (up to ``data.timeout_s``, again for
each of ``data.retries``) or in a backoff wait never sees it. A ``Stop`` is what such a download waits on and reads
through: ``set()`` wakes its backoff waits and shuts down its connected sockets, so a blocked read returns at once,
and the download raises ``Stopped``, removing its partial file as any failed download does; whatever a read fails
with once the stop is set is taken as the stop's doing (``Stop.reading``). ``in_threads`` runs the work on daemon
threads, sets the stop when the main thread is interrupted (from its first thread's start on) or one item fails,
and raises once the threads have unwound, saying any other item's failure that is not ``Stopped``. A worker process
(the ingest's second one) leaves Ctrl-C to its parent and unwinds when the parent terminates it
(``worker_signals``)."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

from pipeline.errors import EXIT_SIGTERM, one_line

Item = TypeVar("Item")
Result = TypeVar("Result")
Chunk = TypeVar("Chunk")
_END = object()
UNWIND_S = 2.0  # how long a stop waits for its threads; one still connecting holds no file and dies with the process


class Stopped(Exception):
    """A download ended by its ``Stop``: not a fault of the file, so nothing is recorded about it."""


class Stop:
    """Set once, from any thread: every download given this stop ends at its next wait, read or attempt."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()

    def set(self) -> None:
        with self._lock:
            self._event.set()
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def is_set(self) -> bool:
        return self._event.is_set()

    def track(self, sock: socket.socket) -> None:
        """A download's connected socket, shut down by ``set()`` (at once if the stop is already set)."""
        with self._lock:
            if not self._event.is_set():
                self._sockets.add(sock)
                return
        _shut(sock)

    def check(self) -> None:
        if self._event.is_set():
            raise Stopped("download stopped")

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``; raise Stopped as soon as the stop is set."""
        if self._event.wait(seconds):
            raise Stopped("download stopped")

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """A block that reads through a socket ``set()`` shuts down: an exception raised in it once the stop is set
        is the stop's doing, raised as Stopped (the original its cause): a read whose socket is shut down under it
        can fail in ways no read promises (ssl's AttributeError or ValueError when its SSL object is dropped, as
        SSLSocket.shutdown does and ``_shut`` avoids). Before the stop, every exception passes as it is; so does
        any raised outside the block."""
        try:
            yield
        except Stopped:
            raise
        except Exception as exc:
            if self._event.is_set():
                raise Stopped("download stopped") from exc
            raise

    def read_each(self, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        """``chunks``, each read as in ``reading()`` (what the caller does with a chunk is not)."""
        chunks = iter(chunks)
        while True:
            with self.reading():
                chunk = next(chunks, _END)
            if chunk is _END:
                return
            yield chunk


def _shut(sock: socket.socket) -> None:
    """End the socket's traffic both ways: a read blocked in another thread returns at once (a close would not
    wake it). Its owner still closes it. An SSL socket is shut down as the TCP socket it is: its own ``shutdown``
    also drops its SSL object, which the other thread's next read then finds gone (AttributeError or ValueError
    instead of the end of the stream)."""
    with contextlib.suppress(OSError):  # already closed by its owner
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def in_threads(
    work: Callable[[Item, Stop], Result], items: list[Item], threads: int, desc: str, unit: str
) -> list[Result]:
    """``work(item, stop)`` for every item on ``threads`` daemon threads; the results in the items' order. The first
    exception (an item's error, or Ctrl-C or SIGTERM in the main thread, even while the threads are being started)
    sets the stop and is raised once every thread started has unwound, or after ``UNWIND_S`` (a thread still
    connecting holds no file: a daemon, it does not hold up the exit as a ThreadPoolExecutor's thread would)."""
    stop, pending, finished = Stop(), queue.SimpleQueue(), queue.SimpleQueue()
    for entry in enumerate(items):
        pending.put(entry)
    results: list = [None] * len(items)

    def worker() -> None:
        while not stop.is_set():
            try:
                index, item = pending.get_nowait()
            except queue.Empty:
                return
            try:
                results[index] = work(item, stop)
            except BaseException as exc:  # handed to the main thread, which raises it
                finished.put((item, exc))
                return
            finished.put((item, None))

    count = max(1, min(threads, len(items)))
    workers = [threading.Thread(target=worker, name=f"{desc}-{n}", daemon=True) for n in range(count)]
    try:  # from the first start on: a Ctrl-C between two starts must stop the threads already started
        for thread in workers:
            thread.start()
        with tqdm(total=len(items), desc=desc, unit=unit, disable=None) as bar:
            for _ in items:
                if (error := finished.get()[1]) is not None:
                    raise error
                bar.update()
    except BaseException:
        _unwind(stop, workers)
        _say_other_failures(finished, desc, unit)
        raise
    return results


def _unwind(stop: Stop, workers: list[threading.Thread]) -> None:
    """Set the stop and give the threads that started up to ``UNWIND_S`` to end. One not started, or whose start
    Ctrl-C interrupted before it ran, is not alive: it finds the stop set when it runs, and ends at once."""
    stop.set()
    deadline = time.monotonic() + UNWIND_S
    for thread in workers:
        if thread.is_alive():
            thread.join(max(0.0, deadline - time.monotonic()))


def _say_other_failures(finished: queue.SimpleQueue, desc: str, unit: str) -> None:
    """One line on stderr for each item that failed besides the error being raised, other than by the stop: a
    fault of its own is not dropped because another one (or Ctrl-C) ended the run first."""
    while True:
        try:
            item, error = finished.get_nowait()
        except queue.Empty:
            return
        if error is not None and not isinstance(error, Stopped):
            print(f"{desc}: {unit} {item} failed as well: {type(error).__name__}: {one_line(error)}", file=sys.stderr)


def _exit_on_sigterm(signum, frame) -> None:
    """Unwind with status 143; once the interpreter is already exiting (joining threads, running atexit callbacks
    such as filelock's), end at once instead: a SystemExit raised there is only printed, "Exception ignored ...
    SystemExit: 143", a traceback on the parent's stderr, and the process ends anyway."""
    if getattr(threading, "_SHUTTING_DOWN", False):
        sys.stderr.flush()
        os._exit(EXIT_SIGTERM)
    raise SystemExit(EXIT_SIGTERM)


def worker_signals() -> None:
    """The handlers of a worker process its parent stops: Ctrl-C is the parent's to act on (it then terminates the
    worker), and SIGTERM unwinds the worker quietly (SystemExit, no traceback), so that a download in flight
    removes its partial file, which the default action, an immediate end, would leave."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """While the block runs (in the main thread), Ctrl-C is ignored: a process started in it ignores Ctrl-C from
    its first instruction (Python keeps an inherited SIG_IGN), before ``worker_signals`` can run. A terminal sends
    Ctrl-C to every process of the group; the parent alone should act on it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
