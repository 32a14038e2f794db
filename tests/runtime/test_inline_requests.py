"""The requests the API's hot verbs issue through vfio._ioctl.inline_ioctl
(fcntl.ioctl, without the request function): declared with the name, number
and fd kind the spec gives them, and refused with the VfioError the request
function raises, word for word. On /dev/null, whose every ioctl is ENOTTY."""

from __future__ import annotations

import errno
import fcntl
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "generated"))

from vfio import _ioctl, abi, api  # noqa: E402
from vfio import requests as rq  # noqa: E402
from vfio.errors import VfioError  # noqa: E402

# what each inline request's verb is, called on an object opened on /dev/null
VERBS: dict[str, Callable[[api.Container, api.Ioas, api.Device], object]] = {
    "VFIO_IOMMU_MAP_DMA": lambda c, ioas, dev: c.map_dma(0x100000, 0x1000, 0x7000000),
    "VFIO_IOMMU_UNMAP_DMA": lambda c, ioas, dev: c.unmap_dma(0x100000, 0x1000),
    "IOMMU_IOAS_MAP": lambda c, ioas, dev: ioas.map_dma(0x100000, 0x1000, 0x7000000),
    "IOMMU_IOAS_UNMAP": lambda c, ioas, dev: ioas.unmap_dma(0x100000, 0x1000),
    "VFIO_DEVICE_FEATURE": lambda c, ioas, dev: dev.feature(
        abi.VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY, abi.VFIO_DEVICE_FEATURE_PROBE
    ),
}


def test_each_inline_request_is_the_specs() -> None:
    assert {name for name, _ in _ioctl.INLINE.values()} == set(VERBS)
    for number, (name, fd_kind) in _ioctl.INLINE.items():
        request = rq.REQUESTS[name]
        assert (request.number, request.fd) == (number, fd_kind)
        assert request.arg == "struct"  # a bytearray the verb built, filled in place
        # VFIO numbers repeat across fd kinds (VFIO_IOMMU_MAP_DMA is
        # VFIO_DEVICE_PCI_HOT_RESET's), not within one here
        same = [r.name for r in rq.REQUESTS.values() if (r.number, r.fd) == (number, fd_kind)]
        assert same == [name], f"{name}'s number is shared on a {fd_kind} fd: {same}"


def test_a_number_names_one_request() -> None:
    number = abi.VFIO_IOMMU_MAP_DMA
    assert _ioctl.inline("VFIO_IOMMU_MAP_DMA", number, "container") == number
    with pytest.raises(ValueError, match="is VFIO_IOMMU_MAP_DMA already, not VFIO_OTHER"):
        _ioctl.inline("VFIO_OTHER", number, "container")


@pytest.mark.parametrize("name", sorted(VERBS))
def test_refused_like_the_request_function(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ioctl, "inline_ioctl", fcntl.ioctl)  # the real one, not conftest's
    with api.Container("/dev/null") as c, api.Iommufd("/dev/null") as fd:
        ioas = api.Ioas(fd, 1)
        with api.Device(os.open(os.devnull, os.O_RDWR)) as dev:
            with pytest.raises(VfioError) as inline:
                VERBS[name](c, ioas, dev)
            request = rq.REQUESTS[name]
            with pytest.raises(VfioError) as typed:
                buf = bytearray(256)
                buf[:4] = (256).to_bytes(4, "little")
                getattr(rq, name.lower())(dev.fd, buf)
    assert inline.value.errno == typed.value.errno == errno.ENOTTY
    assert (inline.value.request, inline.value.fd_kind) == (name, request.fd)
    assert str(inline.value) == str(typed.value)
    assert isinstance(inline.value.__cause__, OSError)
