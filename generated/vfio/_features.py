# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""VFIO_DEVICE_FEATURE on a device fd (get, set, probe)."""

from __future__ import annotations

import ctypes
import struct

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


# Looked up once: vfio.abi's attributes are slower to load than module globals.
_HEAD, _MASK = ctypes.sizeof(abi.vfio_device_feature), abi.VFIO_DEVICE_FEATURE_MASK
abi.vfio_device_feature.codec()  # builds the header's struct.Struct: .pack is then its C method
_pack = abi.vfio_device_feature.pack
"""The header (argsz, flags) as bytes, by struct's C code rather than ctypes."""
_bare = bytearray(_pack(_HEAD, 0)).copy
_FLAGS_AT: int = getattr(abi.vfio_device_feature, "flags").offset  # the ctypes field
_put_flags = struct.Struct("=I").pack_into
"""A request without payload: a copy of the header with its flags put in
(cheaper than packing both fields and copying the bytes into a bytearray)."""


class FeatureDevice(Device):
    """The device features part of vfio.api.Device."""

    def feature(self, feature: int, flags: int, payload: bytes = b"") -> bytes:
        """VFIO_DEVICE_FEATURE: `flags` is GET, SET and/or PROBE; returns the
        payload as the kernel left it."""
        if feature.__class__ is not int or feature >> 32:  # negative or over 32 bits: nonzero
            uint(feature, "feature")  # says what is wrong
        if (fd := self._fd) < 0:
            fd = self.fd  # raises: this device is closed
        if not payload:
            _put_flags(buf := _bare(), _FLAGS_AT, flags | feature & _MASK)
            rq.vfio_device_feature(fd, buf)
            return b""
        buf = bytearray(_pack(_HEAD + len(payload), flags | feature & _MASK))
        buf += payload
        rq.vfio_device_feature(fd, buf)
        return bytes(buf[_HEAD:])

    _probed: dict[tuple[int, int], bool] | None = None

    def probe_feature(self, feature: int, flags: int = 0) -> bool:
        """Whether the device supports `feature` with `flags` (GET and/or
        SET). Asked once per device: what a driver supports does not change
        while the device is open."""
        if self._probed is None:
            self._probed = {}
        known = self._probed.get((feature, flags))
        if known is None:
            known = self._probed[(feature, flags)] = self._probe(feature, flags)
        return known

    def _probe(self, feature: int, flags: int) -> bool:
        try:
            self.feature(feature, abi.VFIO_DEVICE_FEATURE_PROBE | flags)
        except VfioError as exc:
            if exc.errno in (25, 22, 95):  # ENOTTY, EINVAL, EOPNOTSUPP: not supported
                return False
            raise
        return True
