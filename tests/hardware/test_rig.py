"""The hardware tier, host side: for each kernel under test, one boot (the
`guest_run` fixture, conftest.py) runs the guest tests, tests/hardware/guest/;
they must pass, and the guest kernel must log no warning, BUG, oops or lockdep
report."""

from __future__ import annotations

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
