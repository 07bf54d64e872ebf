"""A sampler thread: started before a measurement, stopped after it, its samples kept."""

from __future__ import annotations

import threading
from typing import Self


class SamplerThread:
    """A daemon thread running _loop() until stop(); also a context manager. _loop()
    waits on self._stop between samples so that stop() takes effect at once."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _loop(self) -> None:
        raise NotImplementedError
