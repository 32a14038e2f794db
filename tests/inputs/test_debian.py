"""The private apt configuration under parallel fetches (the rig boots flavors
in parallel, and two of them fetch from Debian sid)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from vfiogen.inputs import debian


def _fake_apt(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, float]]:
    """Record each `apt-get update` as its (start, end) time."""
    calls: list[tuple[float, float]] = []
    monkeypatch.setattr(debian, "debian_mirror", lambda: "http://mirror.invalid/debian")

    def run(cmd: list[str], env: dict[str, str] | None, cwd: Path) -> str:
        assert cmd == ["apt-get", "-qq", "update"]
        start = time.monotonic()
        time.sleep(0.2)
        calls.append((start, time.monotonic()))
        return ""

    monkeypatch.setattr(debian, "_run", run)
    return calls


def test_parallel_fetches_of_one_suite_update_its_lists_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake_apt(monkeypatch)
    threads = [
        threading.Thread(target=debian.private_apt, args=(tmp_path, "sid")) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1  # the others waited for it, then found the lists updated


def test_refresh_updates_again_but_never_two_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake_apt(monkeypatch)
    threads = [
        threading.Thread(target=debian.private_apt, args=(tmp_path, "sid", True)) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 3
    spans = sorted(calls)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))


def test_an_interrupted_update_is_not_taken_for_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lists left by an update that failed (a lock file, a partial list) do
    not count: the next fetch updates again."""
    calls = _fake_apt(monkeypatch)
    lists = tmp_path / "apt-sid" / "lists"
    lists.mkdir(parents=True)
    (lists / "lock").touch()
    debian.private_apt(tmp_path, "sid")
    assert len(calls) == 1
