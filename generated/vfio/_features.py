# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""VFIO_DEVICE_FEATURE on a device fd (get, set, probe)."""

from __future__ import annotations

import ctypes

from vfio import abi
from vfio import requests as rq
from vfio._base import uint
from vfio._device import Device
from vfio.errors import VfioError

__all__: list[str] = []
__device_part__ = "FeatureDevice"
"""The Device subclass this module adds; vfio.api.Device combines the parts."""

__requires__ = ("VFIO_DEVICE_FEATURE",)
"""What the headers must define for vfiogen to ship this module."""


class FeatureDevice(Device):
    """The device features part of vfio.api.Device."""

    def feature(self, feature: int, flags: int, payload: bytes = b"") -> bytes:
        """VFIO_DEVICE_FEATURE: `flags` is GET, SET and/or PROBE; returns the
        payload as the kernel left it."""
        head = ctypes.sizeof(abi.vfio_device_feature)
        flags |= uint(feature, "feature") & abi.VFIO_DEVICE_FEATURE_MASK
        buf = bytearray(abi.vfio_device_feature.pack(head + len(payload), flags))  # C, not ctypes
        buf += payload
        rq.vfio_device_feature(self.fd, buf)
        return bytes(buf[head:])

    def probe_feature(self, feature: int, flags: int = 0) -> bool:
        try:
            self.feature(feature, abi.VFIO_DEVICE_FEATURE_PROBE | flags)
        except VfioError as exc:
            if exc.errno in (25, 22, 95):  # ENOTTY, EINVAL, EOPNOTSUPP: not supported
                return False
            raise
        return True
