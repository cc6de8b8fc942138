"""One driver per sweep: an exclusive lock on its directory."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone
from typing import Any

from raylaws.errors import SweepError
from raylaws.layout import SweepLayout


class SweepLock:
    """An exclusive, non-blocking lock on a sweep directory; the OS frees it if we die."""

    def __init__(self, layout: SweepLayout) -> None:
        self.path = layout.lock
        self._handle: Any = None

    def __enter__(self) -> "SweepLock":
        import fcntl

        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise SweepError(f"sweep {str(self.path.parent)!r} is already being run ({holder}); wait for it to "
                             "finish or stop it first") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC")
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: Any) -> None:
        import fcntl

        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
