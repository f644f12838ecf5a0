"""Peak resident memory of one process, sampled in a thread while a block runs."""

from __future__ import annotations

import os
import threading

import psutil


class PeakRss:
    """`with PeakRss(pid) as m: ...` then `m.growth` is the peak RSS above the starting value."""

    def __init__(self, pid: int | None = None, interval: float = 0.005) -> None:
        self.process = psutil.Process(pid or os.getpid())
        self.interval = interval
        self.baseline = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _rss(self) -> int:
        # the process alone: a test's children (moto, Azurite) are not the code under test
        return self.process.memory_info().rss

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth(self) -> int:
        return self.peak - self.baseline
