"""[state_machines]: the migration FSM of drivers/vfio/vfio_main.c reaches
the spec with positions, per release (PRE_COPY states since 6.2, none
before 5.18), and a broken table is one positioned error."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import release_spec
from test_overlay import compile_with
from vfiogen.errors import OverlayError

ROOT = Path(__file__).parents[2]
SHIPPED = (ROOT / "headers/vfio.toml").read_text()
TABLE = SHIPPED[SHIPPED.index("[state_machines.vfio_device_mig_state]") :]
MIG = "vfio_device_mig_state"


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_the_migration_fsm_reaches_the_spec_per_release() -> None:
    spec = release_spec("7.2")
    machine = spec.state_machines[MIG]
    assert machine.loc.file == "headers/vfio.toml"
    assert machine.loc.line == line_of(SHIPPED, "[state_machines.vfio_device_mig_state]")
    assert (machine.blocked, machine.errno) == ("VFIO_DEVICE_STATE_ERROR", "EINVAL")
    assert len(machine.states) == 7
    stop_copy = machine.states["VFIO_DEVICE_STATE_STOP_COPY"]
    assert stop_copy.next["VFIO_DEVICE_STATE_PRE_COPY"] == "VFIO_DEVICE_STATE_ERROR"
    assert machine.states["VFIO_DEVICE_STATE_PRE_COPY_P2P"].needs == [
        "VFIO_MIGRATION_STOP_COPY",
        "VFIO_MIGRATION_P2P",
        "VFIO_MIGRATION_PRE_COPY",
    ]
    old = release_spec("6.1")  # migration v2 without PRE_COPY
    assert "VFIO_DEVICE_STATE_PRE_COPY" not in old.state_machines[MIG].states
    assert all(len(s.next) == 5 for s in old.state_machines[MIG].states.values())
    assert not release_spec("5.16").state_machines  # before migration v2


def broken(old: str, new: str) -> str:
    assert old in TABLE
    return TABLE.replace(old, new, 1)


STOP_NEXT = "[state_machines.vfio_device_mig_state.states.VFIO_DEVICE_STATE_STOP.next]"
CASES = {
    "unknown-key": (broken("errno = ", 'colour = "red"\nerrno = '), "colour = ", "unknown key"),
    "blocked-not-a-state": (
        broken('blocked = "VFIO_DEVICE_STATE_ERROR"', 'blocked = "VFIO_MIGRATION_P2P"'),
        "blocked = ",
        "not an enumerator of enum vfio_device_mig_state",
    ),
    "errno-unknown": (broken('errno = "EINVAL"', 'errno = "EBANANA"'), "errno = ", "errno name"),
    "missing-step": (
        broken(
            STOP_NEXT + '\nVFIO_DEVICE_STATE_STOP = "VFIO_DEVICE_STATE_STOP"\n', STOP_NEXT + "\n"
        ),
        STOP_NEXT,
        "next has no step toward VFIO_DEVICE_STATE_STOP",
    ),
    "step-not-a-state": (
        broken(
            'VFIO_DEVICE_STATE_RESUMING = "VFIO_DEVICE_STATE_RESUMING"',
            'VFIO_DEVICE_STATE_RESUMING = "VFIO_DEVICE_STATE_NR"',
        ),
        'VFIO_DEVICE_STATE_RESUMING = "VFIO_DEVICE_STATE_NR"',
        "next step VFIO_DEVICE_STATE_NR is not a state",
    ),
    "walk-comes-back": (  # STOP -> RUNNING_P2P -> STOP: the kernel's walk would never end
        broken(
            STOP_NEXT + '\nVFIO_DEVICE_STATE_STOP = "VFIO_DEVICE_STATE_STOP"\n'
            'VFIO_DEVICE_STATE_RUNNING = "VFIO_DEVICE_STATE_RUNNING_P2P"\n'
            'VFIO_DEVICE_STATE_STOP_COPY = "VFIO_DEVICE_STATE_STOP_COPY"\n'
            'VFIO_DEVICE_STATE_RESUMING = "VFIO_DEVICE_STATE_RESUMING"',
            STOP_NEXT + '\nVFIO_DEVICE_STATE_STOP = "VFIO_DEVICE_STATE_STOP"\n'
            'VFIO_DEVICE_STATE_RUNNING = "VFIO_DEVICE_STATE_RUNNING_P2P"\n'
            'VFIO_DEVICE_STATE_STOP_COPY = "VFIO_DEVICE_STATE_STOP_COPY"\n'
            'VFIO_DEVICE_STATE_RESUMING = "VFIO_DEVICE_STATE_RUNNING_P2P"',
        ),
        'VFIO_DEVICE_STATE_RESUMING = "VFIO_DEVICE_STATE_RUNNING_P2P"',
        "the walk from VFIO_DEVICE_STATE_RUNNING to VFIO_DEVICE_STATE_RESUMING with flags "
        "[VFIO_MIGRATION_STOP_COPY] comes back: VFIO_DEVICE_STATE_RUNNING -> "
        "VFIO_DEVICE_STATE_RUNNING_P2P -> VFIO_DEVICE_STATE_STOP -> VFIO_DEVICE_STATE_RUNNING_P2P",
    ),
    "needs-not-a-constant": (
        broken('needs = ["VFIO_MIGRATION_STOP_COPY"]', 'needs = ["VFIO_MIGRATION_TELEPORT"]'),
        'needs = ["VFIO_MIGRATION_TELEPORT"]',
        "VFIO_MIGRATION_TELEPORT is not a constant",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_broken_state_machine_is_one_positioned_error(case: str, tmp_path: Path) -> None:
    text, where, message = CASES[case]
    with pytest.raises(OverlayError) as err:
        compile_with(tmp_path, text)
    assert err.value.loc.line == line_of(text, where), err.value
    assert message in err.value.message
