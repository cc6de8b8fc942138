"""Storage URIs in the layout, the lease, and the store's read path (no Ray)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from raylaws.errors import SweepError
from raylaws.layout import SweepLayout
from raylaws.remote import Lease
from tests.storage_tests.conftest import sweep_uri


def test_a_local_storage_is_a_plain_path_as_before(tmp_path: Path) -> None:
    layout = SweepLayout.of(str(tmp_path), "tiny")
    assert layout == SweepLayout(tmp_path / "tiny") and not layout.is_remote
    assert layout.storage == tmp_path and layout.location == str(tmp_path / "tiny")


def test_an_s3_uri_keeps_its_query_and_names_the_sweep(s3: str) -> None:
    layout = SweepLayout.of(s3, "tiny")
    assert layout.is_remote and layout.name == "tiny"
    assert layout.uri == sweep_uri(s3, "tiny")
    assert str(layout.journal) == "raylaws-test/sweeps/tiny/optuna.journal"
    assert layout.storage == s3
    assert SweepLayout.at(layout.uri) == SweepLayout(layout.root, layout.filesystem, layout.uri)


def test_open_of_an_s3_uri_without_a_sweep_is_one_line(s3: str) -> None:
    import raylaws

    with pytest.raises(SweepError, match="is not a sweep"):
        raylaws.open(sweep_uri(s3, "nothing-here"))


def test_a_held_lease_refuses_a_second_driver(s3: str) -> None:
    layout = SweepLayout.of(s3, "leased")
    with Lease(layout):
        with pytest.raises(SweepError, match="already being run"):
            with Lease(layout):
                pass
    with Lease(layout):  # released at exit: free again
        pass


def test_a_lease_of_a_dead_driver_on_this_host_is_taken_at_once(s3: str) -> None:
    layout = SweepLayout.of(s3, "dead-driver")
    code = ("import os; from raylaws.layout import SweepLayout; from raylaws.remote import Lease; "
            f"lease = Lease(SweepLayout.at({layout.uri!r})); lease.__enter__(); os._exit(0)")
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())
    assert layout.is_file(layout.root / ".lease")
    with Lease(layout):
        pass


def test_an_expired_lease_is_taken_and_its_holder_stops_writing(s3: str) -> None:
    layout = SweepLayout.of(s3, "expired")
    first = Lease(layout, seconds=0.5, renew=0.01)
    first.host = "another-host"  # not this host: only its expiry frees it
    first._write()
    time.sleep(0.6)
    with Lease(layout, seconds=60, renew=60):
        beat = threading.Thread(target=first._heartbeat)  # the first holder's next renewal
        beat.start()
        time.sleep(0.2)
        first._stop.set()
        beat.join()
        with pytest.raises(SweepError, match="lost its lease"):
            first.check()
