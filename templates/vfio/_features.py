# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""VFIO_DEVICE_FEATURE on a device fd (get, set, probe)."""

from __future__ import annotations

import ctypes

from vfio import _ioctl, abi
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
_NOT_FEATURE = ~_MASK  # a feature index with any of these bits set is refused
_codec = abi.vfio_device_feature.codec()
assert _codec is not None  # argsz and flags: integers
_pack = _codec.pack
"""The header (argsz, flags) as bytes, by struct's C code rather than ctypes."""
_HEADS: dict[int, bytearray] = {}
"""A request without payload by its flags field, packed once (measured in
the guest, packing was a third of what feature() cost over the typed
request). Sent as it is with mutate=False: fcntl.ioctl then gives the
kernel its own copy (of at most 1024 bytes) and never writes back. Holds
checked flags only, at most _HEADS_MAX."""
_HEADS_MAX = 1024
_FEATURE = _ioctl.inline("VFIO_DEVICE_FEATURE", abi.VFIO_DEVICE_FEATURE, "device")
"""feature() issues its request through vfio._ioctl.inline_ioctl: it builds and checks it."""


def _head(flags: object, feature: int) -> bytearray:
    """The payload-less request for these flags (checked) and this feature
    index (checked by the caller), remembered."""
    request = _flags(flags) | feature
    head = bytearray(_pack(_HEAD, request))
    if len(_HEADS) < _HEADS_MAX:
        _HEADS[request] = head
    return head


def _flags(flags: object) -> int:
    """feature()'s flags as a plain int, or why not: GET, SET, PROBE, never
    bits of the feature index (they would name another feature)."""
    checked = int(uint(flags, "flags"))
    if checked & _MASK:
        raise ValueError(
            f"flags {checked:#x} has bits of the feature index "
            f"(VFIO_DEVICE_FEATURE_MASK {_MASK:#x}): pass the feature as `feature`"
        )
    return checked


def _feature_index(feature: object) -> int:
    """feature() on the slow path: the index as a plain int, or why not."""
    index = uint(feature, "feature")
    if index & _NOT_FEATURE:
        raise ValueError(
            f"feature {index:#x} is not a feature index (VFIO_DEVICE_FEATURE_MASK is {_MASK:#x})"
        )
    return int(index)


class FeatureDevice(Device):
    """The device features part of vfio.api.Device."""

    def feature(self, feature: int, flags: int, payload: bytes = b"") -> bytes:
        """VFIO_DEVICE_FEATURE: `flags` is GET, SET and/or PROBE; returns the
        payload as the kernel left it."""
        if feature.__class__ is not int or feature & _NOT_FEATURE:  # negative or too big: nonzero
            feature = _feature_index(feature)
        if (fd := self._fd) < 0:
            fd = self.fd  # raises: this device is closed
        if not payload:  # a remembered header, not to be written into: mutate=False
            head = (
                _HEADS.get(flags | feature)
                if flags.__class__ is int and not flags & _MASK
                else None
            )
            buf = head if head is not None else _head(flags, feature)
            mutate = False
        else:
            buf = bytearray(_pack(_HEAD + len(payload), _flags(flags) | feature))
            buf += payload
            mutate = True
        try:
            _ioctl.inline_ioctl(fd, _FEATURE, buf, mutate)
        except OSError as exc:
            raise _ioctl.inline_failed(exc, _FEATURE) from exc
        return bytes(buf[_HEAD:]) if mutate else b""

    def probe_feature(self, feature: int, flags: int = 0) -> bool:
        """Whether the device supports `feature` with `flags` (GET and/or
        SET). Asked once per device: what a driver supports does not change
        while the device is open."""
        if feature.__class__ is not int or flags.__class__ is not int:  # as region_info
            feature, flags = _feature_index(feature), _flags(flags)
        known = self._answers.get(("probe", feature, flags))  # kept: no call, as region_info
        if known is None:
            known = self.answer(("probe", feature, flags), self._probe, feature, flags)
        return known

    def _probe(self, feature: int, flags: int) -> bool:
        try:
            self.feature(feature, abi.VFIO_DEVICE_FEATURE_PROBE | flags)
        except VfioError as exc:
            if exc.errno in (25, 22, 95):  # ENOTTY, EINVAL, EOPNOTSUPP: not supported
                return False
            raise
        return True
