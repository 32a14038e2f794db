# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""Device migration: VFIO_DEVICE_FEATURE_MIGRATION and MIG_DEVICE_STATE,
with the kernel's state machine (vfio.fsm, from the overlay) checked before
every state change."""

from __future__ import annotations

import ctypes
import errno
import os

from vfio import abi, fsm
from vfio._base import Owned, deprecated, uint
from vfio._features import FeatureDevice

__all__ = ["MigrationArcError", "MigrationData", "mig_path"]
__device_part__ = "MigrationDevice"
"""The Device subclass this module adds; vfio.api.Device combines the parts."""

__requires__ = ("VFIO_DEVICE_FEATURE", "VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE")
"""What the headers must define for vfiogen to ship this module."""

MACHINE = "vfio_device_mig_state"
_CHUNK = 1 << 20  # what read_all() asks of each read(), as QEMU's data buffer


def _name(state: int) -> str:
    try:
        return abi.VfioDeviceMigState(state).name
    except ValueError:
        return str(state)


class MigrationArcError(ValueError):
    """A migration state change refused before the kernel, which would
    refuse it too: `kernel_errno` is its answer (the overlay's fact)."""

    def __init__(self, current: int, target: int, reason: str, machine: fsm.StateMachine) -> None:
        self.current = current
        self.target = target
        self.reason = reason
        self.kernel_errno = machine.errno
        super().__init__(
            f"migration {_name(current)} -> {_name(target)} refused: {reason}"
            f" (the kernel answers {machine.errno}: {machine.source})"
        )


def _supported(machine: fsm.StateMachine, flags: int, state: int) -> bool:
    known = machine.states.get(state)
    return known is not None and known.needs & flags == known.needs


def mig_path(machine: fsm.StateMachine, flags: int, current: int, target: int) -> list[int]:
    """The states the kernel steps through from `current` to `target` for a
    device with migration `flags` (target last; [] when already there), as
    vfio_mig_get_next_state walks them; MigrationArcError for what it refuses."""
    uint(target, "target state")
    if current == machine.blocked:
        raise MigrationArcError(
            current, target, "the device is in ERROR: only a reset leaves it", machine
        )
    if not _supported(machine, flags, current):
        raise MigrationArcError(
            current, target, "the device reports a state its flags do not support", machine
        )
    if target == machine.blocked:
        raise MigrationArcError(
            current,
            target,
            "ERROR is never a target (a device enters it when an arc fails)",
            machine,
        )
    if target not in machine.states:
        raise MigrationArcError(
            current, target, f"{_name(target)} is not a migration state", machine
        )
    if not _supported(machine, flags, target):
        lacking = abi.VfioDeviceFeatureMigrationFlags(machine.states[target].needs & ~flags)
        raise MigrationArcError(
            current, target, f"the device's migration flags lack {lacking!r}", machine
        )
    path: list[int] = []
    state = current
    while state != target and len(path) <= len(machine.states):
        step = machine.states[state].next[target]
        while step != machine.blocked and not _supported(machine, flags, step):
            step = machine.states[step].next[target]  # the kernel skips unsupported states
        if step == machine.blocked:
            where = f" (at {_name(state)})" if state != current else ""
            raise MigrationArcError(
                current, target, f"the state machine forbids this arc{where}", machine
            )
        path.append(step)
        state = step
    return path


class MigrationData(Owned):
    """The data fd a migration state hands out (set_mig_state): the device's
    state stream, read from it in PRE_COPY and STOP_COPY, written to it in
    RESUMING. Owns the fd: close() (or `with`, or garbage collection) closes
    it; fileno() for select/poll and vfio.api.precopy_info()."""

    kind = "migration data fd"

    def read(self, size: int = 1 << 20) -> bytes:
        """One read() of at most `size` bytes: b"" at the end of the stream."""
        return os.read(self.fd, uint(size, "size", 31))

    def read_all(self) -> bytes:
        """What the device has now: read until EOF, or until ENOMSG, the
        kernel's "no more data for now" in PRE_COPY (QEMU's vfio_save_block
        and the kernel's selftests stop there too); read again after
        STOP_COPY for the rest."""
        out = bytearray()
        while True:
            try:
                chunk = os.read(self.fd, _CHUNK)
            except OSError as exc:
                if exc.errno == errno.ENOMSG:
                    return bytes(out)
                raise
            if not chunk:
                return bytes(out)
            out += chunk

    def detach(self) -> int:
        """The fd, no longer owned: the caller closes it (os.close)."""
        fd, self._fd = self.fd, -1
        return fd

    def write(self, data: bytes) -> int:
        """One write(): how many bytes the device took."""
        return os.write(self.fd, data)

    def write_all(self, data: bytes) -> None:
        """The whole stream written (a RESUMING device may take it in parts)."""
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]


class MigrationDevice(FeatureDevice):
    """The migration part of vfio.api.Device."""

    def migration_flags(self) -> abi.VfioDeviceFeatureMigrationFlags:
        """What migration the device supports (STOP_COPY, P2P, PRE_COPY);
        VfioError (ENOTTY) when it supports none. Asked once: a device's
        migration support does not change while it is open."""
        return abi.VfioDeviceFeatureMigrationFlags(self.answer("migration", self._migration_flags))

    def _migration_flags(self) -> int:
        size = ctypes.sizeof(abi.vfio_device_feature_migration)
        data = self.feature(
            abi.VFIO_DEVICE_FEATURE_MIGRATION, abi.VFIO_DEVICE_FEATURE_GET, bytes(size)
        )
        return int(abi.vfio_device_feature_migration.from_buffer_copy(data).flags)

    def get_mig_state(self) -> abi.VfioDeviceMigState:
        """The device's migration state, as the kernel says now."""
        size = ctypes.sizeof(abi.vfio_device_feature_mig_state)
        data = self.feature(
            abi.VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, abi.VFIO_DEVICE_FEATURE_GET, bytes(size)
        )
        state = abi.vfio_device_feature_mig_state.from_buffer_copy(data).device_state
        return abi.VfioDeviceMigState(state)

    @property
    def mig_state(self) -> abi.VfioDeviceMigState:
        """Deprecated: get_mig_state() (each call asks the kernel)."""
        deprecated("Device.mig_state", "Device.get_mig_state()")
        return self.get_mig_state()

    def mig_states(self) -> list[abi.VfioDeviceMigState]:
        """The states this device's migration flags support (the targets
        set_mig_state accepts)."""
        machine = fsm.STATE_MACHINES[MACHINE]
        flags = int(self.migration_flags())
        return [abi.VfioDeviceMigState(s) for s in machine.states if _supported(machine, flags, s)]

    def mig_path(self, target: int) -> list[abi.VfioDeviceMigState]:
        """The states the kernel would step through from the current state to
        `target`; MigrationArcError (a ValueError) when it would refuse."""
        machine = fsm.STATE_MACHINES[MACHINE]
        flags = int(self.migration_flags())
        path = mig_path(machine, flags, int(self.get_mig_state()), target)
        return [abi.VfioDeviceMigState(s) for s in path]

    def set_mig_state(self, state: int) -> MigrationData | None:
        """Move the migration state machine to `state` (the kernel walks the
        arcs between); returns the data fd the new state hands out (to read
        the device state in STOP_COPY/PRE_COPY, to write it in RESUMING) as a
        MigrationData that owns it, or None. What the kernel would refuse (a state
        the device's flags do not support, ERROR, a value that is no state,
        an arc the state machine forbids) raises MigrationArcError first."""
        if MACHINE in fsm.STATE_MACHINES:
            self.mig_path(state)
        st = abi.vfio_device_feature_mig_state()
        st.device_state = uint(state, "state")
        st.data_fd = -1
        data = self.feature(
            abi.VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, abi.VFIO_DEVICE_FEATURE_SET, bytes(st)
        )
        fd = int(abi.vfio_device_feature_mig_state.from_buffer_copy(data).data_fd)
        return MigrationData(fd) if fd >= 0 else None
