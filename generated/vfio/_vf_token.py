# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""The SR-IOV VF token: the user of a PF on vfio-pci sets a shared secret
(VFIO_DEVICE_FEATURE_PCI_VF_TOKEN); its VFs open only with it, through the
group (`"<bdf> vf_token=<uuid>"`) or the cdev (VFIO_DEVICE_BIND_FLAG_TOKEN)."""

from __future__ import annotations

import ctypes
import uuid

from vfio import abi
from vfio import requests as rq
from vfio._features import FeatureDevice
from vfio._iommufd import CdevDevice, Iommufd

__all__ = ["vf_device_name"]
__device_part__ = "VfTokenDevice"
"""The Device subclass this module adds; vfio.api.Device combines the parts."""

__requires__ = ("VFIO_DEVICE_FEATURE_PCI_VF_TOKEN", "VFIO_DEVICE_BIND_FLAG_TOKEN")
"""What the headers must define for vfiogen to ship this module."""


def vf_device_name(bdf: str, token: uuid.UUID) -> str:
    """The name Group.open_device takes for a VF of a PF with a token."""
    return f"{bdf} vf_token={token}"


class VfTokenDevice(CdevDevice, FeatureDevice):
    """The VF token part of vfio.api.Device (a cdev binds with the token)."""

    def set_vf_token(self, token: uuid.UUID) -> None:
        """On the PF: the token its VFs' users must present."""
        self.feature(abi.VFIO_DEVICE_FEATURE_PCI_VF_TOKEN, abi.VFIO_DEVICE_FEATURE_SET, token.bytes)

    def bind_iommufd_with_token(self, iommufd: Iommufd, token: uuid.UUID) -> int:
        """VFIO_DEVICE_BIND_IOMMUFD for a VF whose PF has a token; the device
        id (kept as `dev_id`, as bind_iommufd does)."""
        self.refuse_second_bind()
        raw = ctypes.create_string_buffer(token.bytes, 16)
        b = abi.vfio_device_bind_iommufd()
        b.argsz = ctypes.sizeof(b)
        b.flags = abi.VFIO_DEVICE_BIND_FLAG_TOKEN
        b.iommufd = iommufd.fd
        b.token_uuid_ptr = ctypes.addressof(raw)
        rq.vfio_device_bind_iommufd(self.fd, b)
        return self.bound(iommufd, int(b.out_devid))
