"""The hardware tier, host side: for each kernel under test, one boot (the
`guest_run` fixture, conftest.py) runs the guest tests, tests/hardware/guest/;
they must pass, skip only where their flavor's table says so (rig_skips.py),
and the guest kernel must log no warning, BUG, oops or lockdep report."""

from __future__ import annotations

import json

import pytest
import rig
import rig_skips

pytestmark = pytest.mark.hardware


def test_guest_tests_pass(guest_run: rig.GuestResult) -> None:
    assert guest_run.returncode == 0, (
        f"guest pytest exited {guest_run.returncode} on kernel {guest_run.kernel.name} "
        f"({guest_run.kernel.release})\n{guest_run.describe()}"
    )


def test_guest_tests_skip_only_where_expected(guest_run: rig.GuestResult) -> None:
    """A skip is not a pass: each one must be in the flavor's table with its
    reason, and each expected one must happen."""
    skips = guest_run.skips()
    counted = guest_run.counts().get("skipped", 0)
    assert len(skips) == counted, f"junit.xml counts {counted} skips, lists {len(skips)}"
    problems = rig_skips.unexpected_skips(guest_run.kernel.name, skips)
    assert problems == [], "\n".join(problems)


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
