# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""Display planes of mediated GPUs: VFIO_DEVICE_QUERY_GFX_PLANE and
VFIO_DEVICE_GET_GFX_DMABUF (the dma-buf is an object that owns its fd)."""

from __future__ import annotations

import ctypes
from typing import NamedTuple

from vfio import abi
from vfio import requests as rq
from vfio._base import Owned, uint
from vfio._device import Device

__all__ = ["DmaBufFd", "GfxPlane"]
__device_part__ = "GfxDevice"
"""The Device subclass this module adds; vfio.api.Device combines the parts."""

__requires__ = ("VFIO_DEVICE_QUERY_GFX_PLANE", "VFIO_DEVICE_GET_GFX_DMABUF")
"""What the headers must define for vfiogen to ship this module."""

DRM_PLANE_TYPE_PRIMARY = 1  # include/drm/drm_plane.h: what a query asks for by default


class GfxPlane(NamedTuple):
    """One plane as the device shows it now; dmabuf_id 0 (DMABUF planes) or
    region_index 0 (REGION planes) with drm_format 0 means nothing is shown."""

    flags: int
    drm_format: int
    drm_format_mod: int
    width: int
    height: int
    stride: int
    size: int
    dmabuf_id: int  # DMABUF planes; the region index for REGION planes


class DmaBufFd(Owned):
    """A dma-buf of a plane (VFIO_DEVICE_GET_GFX_DMABUF), closed with it."""

    kind = "dmabuf"


class GfxDevice(Device):
    """The display part of vfio.api.Device."""

    def _query_plane(self, flags: int, drm_plane_type: int) -> abi.vfio_device_gfx_plane_info:
        plane = abi.vfio_device_gfx_plane_info()
        plane.argsz = ctypes.sizeof(plane)
        plane.flags = flags
        plane.drm_plane_type = uint(drm_plane_type, "drm_plane_type")
        rq.vfio_device_query_gfx_plane(self.fd, plane)
        return plane

    def supports_gfx(self, plane_type: int = abi.VFIO_GFX_PLANE_TYPE_DMABUF) -> bool:
        """Whether the device offers planes of `plane_type` (DMABUF or REGION):
        the PROBE form of the query, which fails (EINVAL/ENOTTY) when not."""
        try:
            self._query_plane(abi.VFIO_GFX_PLANE_TYPE_PROBE | plane_type, DRM_PLANE_TYPE_PRIMARY)
        except OSError as exc:
            if exc.errno in (22, 25):  # EINVAL, ENOTTY
                return False
            raise
        return True

    def gfx_plane(
        self,
        plane_type: int = abi.VFIO_GFX_PLANE_TYPE_DMABUF,
        drm_plane_type: int = DRM_PLANE_TYPE_PRIMARY,
    ) -> GfxPlane:
        """The plane now shown; its `dmabuf_id` opens with gfx_dmabuf()."""
        p = self._query_plane(plane_type, drm_plane_type)
        return GfxPlane(
            int(p.flags),
            int(p.drm_format),
            int(p.drm_format_mod),
            int(p.width),
            int(p.height),
            int(p.stride),
            int(p.size),
            int(p.dmabuf_id),
        )

    def gfx_dmabuf(self, dmabuf_id: int) -> DmaBufFd:
        """The dma-buf of a DMABUF plane, owned by the returned object."""
        if uint(dmabuf_id, "dmabuf_id") == 0:
            raise ValueError("dmabuf_id 0 names no buffer (no plane is shown)")
        return DmaBufFd(rq.vfio_device_get_gfx_dmabuf(self.fd, dmabuf_id))
