# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""VFIO_MIG_GET_PRECOPY_INFO: how much device state a migration data fd in
PRE_COPY has ready, as QEMU asks before each pre-copy iteration."""

from __future__ import annotations

import ctypes
from typing import NamedTuple, Protocol

from vfio import abi
from vfio import requests as rq

__all__ = ["PrecopyInfo", "precopy_info"]

__requires__ = ("VFIO_MIG_GET_PRECOPY_INFO", "vfio_precopy_info")
"""What the headers must define for vfiogen to ship this module."""


class HasFileno(Protocol):
    def fileno(self) -> int: ...


class PrecopyInfo(NamedTuple):
    """`initial_bytes`: what is left of the initial state (migrate it before
    STOP_COPY to keep the downtime short); `dirty_bytes`: state changed since,
    an estimate that may go up as the device runs."""

    initial_bytes: int
    dirty_bytes: int


def precopy_info(data_fd: int | HasFileno) -> PrecopyInfo:
    """VFIO_MIG_GET_PRECOPY_INFO on the data fd set_mig_state(PRE_COPY)
    returned (the kernel refuses it outside PRE_COPY and PRE_COPY_P2P)."""
    fd = data_fd if isinstance(data_fd, int) else data_fd.fileno()
    if isinstance(fd, bool) or not isinstance(fd, int) or not 0 <= fd < 1 << 31:
        raise ValueError(f"data_fd {fd!r} is not a file descriptor")
    info = abi.vfio_precopy_info()
    info.argsz = ctypes.sizeof(info)
    rq.vfio_mig_get_precopy_info(fd, info)
    return PrecopyInfo(int(info.initial_bytes), int(info.dirty_bytes))
