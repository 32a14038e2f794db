"""Device.set_mig_state refuses before the kernel what the kernel's FSM
refuses (vfio.fsm, from the overlay's [state_machines]): a state the device's
migration flags do not support, ERROR, VFIO_DEVICE_STATE_NR or any other
value, and the arcs that lead to ERROR; allowed arcs reach the kernel once.
The expected step sequences are the ones drivers/vfio/vfio_main.c lists in
its comment above vfio_from_fsm_table (the hardware tier checks the
kernel's own answers: tests/hardware/guest/test_mdev.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "generated"))

from vfio import abi, api, fsm  # noqa: E402

S = abi.VfioDeviceMigState
ALL = abi.VFIO_MIGRATION_STOP_COPY | abi.VFIO_MIGRATION_P2P | abi.VFIO_MIGRATION_PRE_COPY
MACHINE = fsm.STATE_MACHINES["vfio_device_mig_state"]

# "if all optional features are supported, ... the following ones" (vfio_main.c)
KERNEL_COMMENT_WALKS = """
PRE_COPY -> PRE_COPY_P2P -> STOP_COPY
PRE_COPY -> RUNNING -> RUNNING_P2P
PRE_COPY -> RUNNING -> RUNNING_P2P -> STOP
PRE_COPY -> RUNNING -> RUNNING_P2P -> STOP -> RESUMING
PRE_COPY_P2P -> RUNNING_P2P -> RUNNING
PRE_COPY_P2P -> RUNNING_P2P -> STOP
PRE_COPY_P2P -> RUNNING_P2P -> STOP -> RESUMING
RESUMING -> STOP -> RUNNING_P2P
RESUMING -> STOP -> RUNNING_P2P -> PRE_COPY_P2P
RESUMING -> STOP -> RUNNING_P2P -> RUNNING
RESUMING -> STOP -> RUNNING_P2P -> RUNNING -> PRE_COPY
RESUMING -> STOP -> STOP_COPY
RUNNING -> RUNNING_P2P -> PRE_COPY_P2P
RUNNING -> RUNNING_P2P -> STOP
RUNNING -> RUNNING_P2P -> STOP -> RESUMING
RUNNING -> RUNNING_P2P -> STOP -> STOP_COPY
RUNNING_P2P -> RUNNING -> PRE_COPY
RUNNING_P2P -> STOP -> RESUMING
RUNNING_P2P -> STOP -> STOP_COPY
STOP -> RUNNING_P2P -> PRE_COPY_P2P
STOP -> RUNNING_P2P -> RUNNING
STOP -> RUNNING_P2P -> RUNNING -> PRE_COPY
STOP_COPY -> STOP -> RESUMING
STOP_COPY -> STOP -> RUNNING_P2P
STOP_COPY -> STOP -> RUNNING_P2P -> RUNNING
"""


@pytest.mark.parametrize("walk", KERNEL_COMMENT_WALKS.strip().splitlines())
def test_walks_are_the_kernels(walk: str) -> None:
    first, *rest = [S[name] for name in walk.split(" -> ")]
    assert api.mig_path(MACHINE, ALL, first, rest[-1]) == rest


@pytest.mark.parametrize("target", [S.PRE_COPY, S.PRE_COPY_P2P])
def test_stop_copy_to_pre_copy_is_blocked(target: S) -> None:
    with pytest.raises(api.MigrationArcError, match="forbids this arc") as err:
        api.mig_path(MACHINE, ALL, S.STOP_COPY, target)
    assert err.value.kernel_errno == "EINVAL"
    assert f"STOP_COPY -> {target.name} refused" in str(err.value)


def test_unsupported_states_are_skipped_or_refused() -> None:
    stop_copy = abi.VFIO_MIGRATION_STOP_COPY
    assert api.mig_path(MACHINE, stop_copy, S.RUNNING, S.STOP_COPY) == [S.STOP, S.STOP_COPY]
    assert api.mig_path(MACHINE, stop_copy, S.RESUMING, S.RUNNING) == [S.STOP, S.RUNNING]
    for target in (S.RUNNING_P2P, S.PRE_COPY, S.PRE_COPY_P2P):
        with pytest.raises(api.MigrationArcError, match="flags lack"):
            api.mig_path(MACHINE, stop_copy, S.RUNNING, target)
    with pytest.raises(api.MigrationArcError, match="its flags do not support"):
        api.mig_path(MACHINE, stop_copy, S.RUNNING_P2P, S.STOP)


class FakeMtty(api.Device):
    """A device whose VFIO_DEVICE_FEATURE answers as mtty's would, recording SETs."""

    def __init__(self, flags: int, state: int) -> None:
        super().__init__(os.open("/dev/null", os.O_RDWR), "fake")
        self.flags, self.state, self.sets = flags, state, []

    def feature(self, index: int, flags: int, data: bytes = b"") -> bytes:
        if index == abi.VFIO_DEVICE_FEATURE_MIGRATION:
            return bytes(abi.vfio_device_feature_migration(flags=self.flags))
        if flags & abi.VFIO_DEVICE_FEATURE_GET:
            return bytes(abi.vfio_device_feature_mig_state(device_state=self.state, data_fd=-1))
        wanted = abi.vfio_device_feature_mig_state.from_buffer_copy(data)
        self.sets.append(int(wanted.device_state))
        self.state = int(wanted.device_state)
        return bytes(abi.vfio_device_feature_mig_state(device_state=self.state, data_fd=-1))


@pytest.mark.parametrize(
    "flags, current, target, message",
    [
        (ALL, S.RUNNING, S.ERROR, "ERROR is never a target"),
        (ALL, S.RUNNING, S.NR, "NR is not a migration state"),
        (ALL, S.RUNNING, 99, "99 is not a migration state"),
        (ALL, S.STOP_COPY, S.PRE_COPY, "forbids this arc"),
        (ALL, S.STOP_COPY, S.PRE_COPY_P2P, "forbids this arc"),
        (ALL, S.ERROR, S.RUNNING, "only a reset leaves it"),
        (abi.VFIO_MIGRATION_STOP_COPY, S.RUNNING, S.PRE_COPY, "flags lack"),
        (abi.VFIO_MIGRATION_STOP_COPY, S.STOP, S.RUNNING_P2P, "flags lack"),
        (abi.VFIO_MIGRATION_STOP_COPY | abi.VFIO_MIGRATION_P2P, S.RUNNING, S.PRE_COPY_P2P, "lack"),
    ],
)
def test_set_mig_state_refuses_before_the_kernel(
    flags: int, current: int, target: int, message: str
) -> None:
    with FakeMtty(flags, current) as dev:
        with pytest.raises(ValueError, match=message) as err:
            dev.set_mig_state(target)
        assert isinstance(err.value, api.MigrationArcError)
        assert dev.sets == [] and dev.state == current


def test_allowed_arcs_reach_the_kernel_once() -> None:
    with FakeMtty(ALL, S.RUNNING) as dev:
        assert dev.mig_states() == [S.STOP, S.RUNNING, S.STOP_COPY, S.RESUMING] + [
            S.RUNNING_P2P,
            S.PRE_COPY,
            S.PRE_COPY_P2P,
        ]
        assert dev.mig_path(S.STOP_COPY) == [S.RUNNING_P2P, S.STOP, S.STOP_COPY]
        for target in (S.PRE_COPY, S.STOP_COPY, S.STOP, S.RESUMING, S.RUNNING):
            assert dev.set_mig_state(target) is None
        assert dev.sets == [S.PRE_COPY, S.STOP_COPY, S.STOP, S.RESUMING, S.RUNNING]
        assert dev.mig_path(S.RUNNING) == []  # already there
    with pytest.raises(TypeError):
        FakeMtty(ALL, S.RUNNING).set_mig_state("RUNNING")  # type: ignore[arg-type]


FLAGS = abi.VfioDeviceFeatureMigrationFlags


@pytest.mark.parametrize(
    "flags, target, lacking",
    [
        (abi.VFIO_MIGRATION_STOP_COPY, S.PRE_COPY, "PRE_COPY: 4"),
        (abi.VFIO_MIGRATION_STOP_COPY, S.RUNNING_P2P, "P2P: 2"),
        (abi.VFIO_MIGRATION_STOP_COPY, S.PRE_COPY_P2P, "P2P|PRE_COPY: 6"),
        (abi.VFIO_MIGRATION_STOP_COPY | abi.VFIO_MIGRATION_P2P, S.PRE_COPY_P2P, "PRE_COPY: 4"),
        (abi.VFIO_MIGRATION_STOP_COPY | abi.VFIO_MIGRATION_PRE_COPY, S.PRE_COPY_P2P, "P2P: 2"),
    ],
)
def test_refused_target_names_exactly_the_lacking_flags(
    flags: int, target: S, lacking: str
) -> None:
    """vfio_mig_get_next_state refuses new_fsm when state_flags_table[new_fsm]
    & migration_flags != state_flags_table[new_fsm]; the message names the
    flags of that entry the device lacks, and only those."""
    with pytest.raises(api.MigrationArcError) as err:
        api.mig_path(MACHINE, flags, S.RUNNING, target)
    assert err.value.reason == (
        f"the device's migration flags lack <VfioDeviceFeatureMigrationFlags.{lacking}>"
    )
    assert (err.value.current, err.value.target) == (S.RUNNING, target)


def test_flags_as_the_device_reports_them_are_checked_alike() -> None:
    """Device.migration_flags() returns a VfioDeviceFeatureMigrationFlags, and
    `needs & flags` is then one too: the check compares values (the kernel's
    state_flags_table test), never identities."""
    for flags in (ALL, FLAGS(ALL)):
        assert api.mig_path(MACHINE, flags, S.RUNNING, S.STOP_COPY) == [
            S.RUNNING_P2P,
            S.STOP,
            S.STOP_COPY,
        ]
    with pytest.raises(api.MigrationArcError) as err:
        api.mig_path(MACHINE, FLAGS.STOP_COPY, S.RUNNING, S.PRE_COPY)
    assert err.value.reason == (
        "the device's migration flags lack <VfioDeviceFeatureMigrationFlags.PRE_COPY: 4>"
    )


@pytest.mark.parametrize("current", [S.ERROR, int(S.ERROR)])
def test_error_is_left_only_by_a_reset(current: int) -> None:
    """state_flags_table[VFIO_DEVICE_STATE_ERROR] = ~0U: no device supports
    ERROR as a current state; the message says why (the enum member and its
    int value alike)."""
    with pytest.raises(api.MigrationArcError) as err:
        api.mig_path(MACHINE, ALL, current, S.RUNNING)
    assert err.value.reason == "the device is in ERROR: only a reset leaves it"


@pytest.mark.parametrize("current", [S.NR, 99, -1, 1 << 32])
def test_a_current_value_that_is_no_state_is_not_error(current: int) -> None:
    """cur_fsm >= ARRAY_SIZE(vfio_from_fsm_table) is refused (EINVAL) as a
    state the device cannot be in, not as ERROR."""
    with pytest.raises(api.MigrationArcError) as err:
        api.mig_path(MACHINE, ALL, current, S.RUNNING)
    assert err.value.reason == "the device reports a state its flags do not support"


# "The following transitions are blocked" (vfio_main.c, the comment above
# vfio_from_fsm_table); both need PRE_COPY, the first also without P2P.
KERNEL_BLOCKED = {(S.STOP_COPY, S.PRE_COPY), (S.STOP_COPY, S.PRE_COPY_P2P)}


@pytest.mark.parametrize("extra", [0, abi.VFIO_MIGRATION_P2P, abi.VFIO_MIGRATION_PRE_COPY, ALL])
def test_only_the_kernels_blocked_arcs_are_refused_at_their_first_step(extra: int) -> None:
    """For every flag set a migrating device can report (STOP_COPY is
    mandatory), every supported current/target pair walks to its target
    unless the kernel's comment lists it as blocked; a blocked one stops at
    its first step, so the message names no intermediate state."""
    flags = abi.VFIO_MIGRATION_STOP_COPY | extra
    supported = [s for s in S if s in MACHINE.states and MACHINE.states[s].needs & ~flags == 0]
    for current in supported:
        for target in supported:
            if (current, target) not in KERNEL_BLOCKED:
                path = api.mig_path(MACHINE, flags, current, target)
                assert path[-1:] == ([] if current == target else [target])
                continue
            with pytest.raises(api.MigrationArcError) as err:
                api.mig_path(MACHINE, flags, current, target)
            assert err.value.reason == "the state machine forbids this arc"
            assert str(err.value) == (
                f"migration STOP_COPY -> {target.name} refused: the state machine forbids"
                f" this arc (the kernel answers EINVAL: {MACHINE.source})"
            )
