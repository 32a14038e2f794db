"""The runtime tests fake the kernel by replacing request functions of
vfio.requests (`monkeypatch.setattr(rq, "vfio_iommu_map_dma", kernel)`).
The API's hot verbs skip those functions and issue their requests through
vfio._ioctl.inline_ioctl (fcntl.ioctl with a request they checked
themselves); here that goes through the request function of the same name,
as the unfaked function would pass it on, so one fake answers both paths."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator
from pathlib import Path


import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "generated"))

from vfio import _ioctl  # noqa: E402
from vfio import requests as rq  # noqa: E402
from vfio.errors import VfioError  # noqa: E402


def through_requests(fd: int, number: int, arg: bytearray, mutate: bool) -> int | bytes:
    """inline_ioctl as rq.<request>(fd, arg), and as fcntl.ioctl answers:
    with mutate=False the kernel gets a copy, and the call returns it as
    the kernel left it; a VfioError from a fake kernel becomes an OSError."""
    name, _ = _ioctl.INLINE[number]
    buf = arg if mutate else bytearray(arg)
    try:
        result: int = getattr(rq, name.lower())(fd, buf)
    except VfioError as exc:
        raise OSError(exc.errno, os.strerror(exc.errno or errno.EIO)) from None
    return result if mutate else bytes(buf)


@pytest.fixture(autouse=True)
def inline_through_requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(_ioctl, "inline_ioctl", through_requests)
    yield
