"""The hardware tier, host side: for each kernel under test, one boot (the
`guest_run` fixture, conftest.py) runs the guest tests, tests/hardware/guest/;
they must pass, and the guest kernel must log no warning, BUG, oops or lockdep
report."""

from __future__ import annotations

import json

import pytest
import rig

pytestmark = pytest.mark.hardware


def test_guest_tests_pass(guest_run: rig.GuestResult) -> None:
    assert guest_run.returncode == 0, (
        f"guest pytest exited {guest_run.returncode} on kernel {guest_run.kernel.name} "
        f"({guest_run.kernel.release})\n{guest_run.describe()}"
    )


def test_guest_kernel_log_clean(guest_run: rig.GuestResult) -> None:
    problems = guest_run.kernel_problems()
    assert not problems, (
        f"kernel {guest_run.kernel.name} logged {len(problems)} problem line(s):\n"
        + "\n".join(problems)
        + f"\n{guest_run.describe()}"
    )


def test_every_request_proven_in_the_snapshot_is_proven_again(
    guest_run: rig.GuestResult,
) -> None:
    """headers/proof.json (what the docs cite) is a floor: each success it
    records on this flavor must happen again, in the same IOMMU mode, so a
    runtime change that bypasses a request or breaks it cannot pass."""
    snapshot = json.loads((rig.REPO / "headers/proof.json").read_text())
    record = rig.guest_proof(guest_run.work) or {"requests": {}}
    flavor = guest_run.kernel.name
    missing = [
        f"{name} in {where}"
        for name, seen in snapshot["requests"].items()
        for where in seen["ok"]
        if where.split("/", 1)[0] == flavor
        and where.split("/", 1)[1] not in record["requests"].get(name, {}).get("ok", [])
    ]
    assert missing == [], f"no longer proven on {flavor}: {', '.join(missing)}"
