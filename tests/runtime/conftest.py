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
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "generated"))

from vfio import _ioctl  # noqa: E402
from vfio import requests as rq  # noqa: E402
from vfio.errors import VfioError  # noqa: E402


def through_requests(fd: int, number: int, arg: Any, mutate: bool) -> int:
    """inline_ioctl as rq.<request>(fd, arg): a VfioError from a fake
    kernel becomes the OSError fcntl.ioctl raises."""
    assert mutate is True, "the verbs pass their bytearray to be filled in"
    name, _ = _ioctl.INLINE[number]
    try:
        result: int = getattr(rq, name.lower())(fd, arg)
    except VfioError as exc:
        raise OSError(exc.errno, os.strerror(exc.errno or errno.EIO)) from None
    return result


@pytest.fixture(autouse=True)
def inline_through_requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(_ioctl, "inline_ioctl", through_requests)
    yield
