# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""Device migration: VFIO_DEVICE_FEATURE_MIGRATION and MIG_DEVICE_STATE."""

from __future__ import annotations

import ctypes

from vfio import abi
from vfio._features import FeatureDevice

__all__: list[str] = []
__device_part__ = "MigrationDevice"
"""The Device subclass this module adds; vfio.api.Device combines the parts."""

__requires__ = ("VFIO_DEVICE_FEATURE", "VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE")
"""What the headers must define for vfiogen to ship this module."""


class MigrationDevice(FeatureDevice):
    """The migration part of vfio.api.Device."""

    def migration_flags(self) -> abi.VfioDeviceFeatureMigrationFlags:
        """What migration the device supports (STOP_COPY, P2P, PRE_COPY);
        VfioError (ENOTTY) when it supports none."""
        size = ctypes.sizeof(abi.vfio_device_feature_migration)
        data = self.feature(
            abi.VFIO_DEVICE_FEATURE_MIGRATION, abi.VFIO_DEVICE_FEATURE_GET, bytes(size)
        )
        flags = abi.vfio_device_feature_migration.from_buffer_copy(data).flags
        return abi.VfioDeviceFeatureMigrationFlags(flags)

    @property
    def mig_state(self) -> abi.VfioDeviceMigState:
        size = ctypes.sizeof(abi.vfio_device_feature_mig_state)
        data = self.feature(
            abi.VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, abi.VFIO_DEVICE_FEATURE_GET, bytes(size)
        )
        state = abi.vfio_device_feature_mig_state.from_buffer_copy(data).device_state
        return abi.VfioDeviceMigState(state)

    def set_mig_state(self, state: int) -> int | None:
        """Move the migration state machine one arc (the kernel walks the
        arcs between); returns the data fd the new state hands out (to read
        the device state in STOP_COPY/PRE_COPY, to write it in RESUMING), which
        the caller then owns, or None."""
        st = abi.vfio_device_feature_mig_state()
        st.device_state = int(abi.VfioDeviceMigState(state))  # ValueError for an unknown state
        st.data_fd = -1
        data = self.feature(
            abi.VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, abi.VFIO_DEVICE_FEATURE_SET, bytes(st)
        )
        fd = int(abi.vfio_device_feature_mig_state.from_buffer_copy(data).data_fd)
        return fd if fd >= 0 else None
