"""Work the scheduler hands to a thread of its own, so that a slow Exotel never holds up a tick:
jobs done one at a time, in the order given, their results taken at the next tick."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Generic, TypeVar

log = logging.getLogger("shiftswitch.scheduler")

J = TypeVar("J")
R = TypeVar("R")


class Stopped(Exception):
    """The scheduler is stopping: the job in progress is dropped."""


class Errands(Generic[J, R]):
    """Jobs (``J``) done by :meth:`do` in a thread of its own, each giving a result (``R``)."""

    name = "shiftswitch-errands"

    def __init__(self) -> None:
        self._jobs: queue.Queue[J] = queue.Queue()
        self._results: queue.Queue[R] = queue.Queue()
        self._stop = threading.Event()

    def do(self, job: J) -> R:
        raise NotImplementedError

    def failed(self, job: J, exc: Exception) -> R | None:
        """The result of a job whose :meth:`do` raised ``exc`` (a bug), if any."""
        return None

    def submit(self, job: J) -> None:
        self._jobs.put(job)

    def results(self) -> list[R]:
        """The results since the last call."""
        out: list[R] = []
        while True:
            try:
                out.append(self._results.get_nowait())
            except queue.Empty:
                return out

    def run_pending(self) -> None:
        """Do every job submitted so far, in this thread."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            self._one(job)

    def _one(self, job: J) -> None:
        """Do ``job``; its result, or what :meth:`failed` makes of an error, is taken at the
        next tick. Raises :class:`Stopped` when the scheduler is stopping."""
        try:
            self._results.put(self.do(job))
        except Stopped:
            raise
        except Exception as exc:  # a bug must not stop the errands for good
            log.exception("%s failed: %s", self.name, exc)
            if (result := self.failed(job, exc)) is not None:
                self._results.put(result)

    def start(self, stop: threading.Event) -> threading.Thread:
        """Do the jobs in a thread of their own until ``stop`` is set."""
        self._stop = stop

        def loop() -> None:
            while not stop.is_set():
                try:
                    job = self._jobs.get(timeout=0.5)
                except queue.Empty:
                    continue
                try:
                    self._one(job)
                except Stopped:
                    return

        thread = threading.Thread(target=loop, name=self.name, daemon=True)
        thread.start()
        return thread
