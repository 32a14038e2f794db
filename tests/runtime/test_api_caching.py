"""What the API asks the kernel once per open device (it cannot change while
the device is open): IRQ info and feature probes, beside region info
(test_api.py). Each answer comes from a fake kernel that counts its calls."""

from __future__ import annotations

import enum
import errno
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "generated"))

from vfio import abi, api  # noqa: E402
from vfio import requests as rq  # noqa: E402
from vfio.errors import VfioError  # noqa: E402


def test_irq_info_is_asked_once_per_index(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def irq(fd: int, info: abi.vfio_irq_info) -> int:
        calls.append(int(info.index))
        info.count, info.flags = 1, abi.VFIO_IRQ_INFO_EVENTFD
        return 0

    monkeypatch.setattr(rq, "vfio_device_get_irq_info", irq)
    with api.Device(os.open(os.devnull, os.O_RDWR)) as dev:
        first = dev.irq_info(abi.VFIO_PCI_MSI_IRQ_INDEX)
        assert dev.irq_info(abi.VFIO_PCI_MSI_IRQ_INDEX) is first and first.count == 1
        dev.irq_info(abi.VFIO_PCI_INTX_IRQ_INDEX)
        with pytest.raises(ValueError):
            dev.irq_info(-1)  # still checked before any call
    assert calls == [abi.VFIO_PCI_MSI_IRQ_INDEX, abi.VFIO_PCI_INTX_IRQ_INDEX]


def test_feature_probes_are_asked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def feature(fd: int, buf: bytearray) -> int:
        flags = int.from_bytes(buf[4:8], "little")
        calls.append(flags)
        assert int.from_bytes(buf[0:4], "little") == len(buf)
        if flags & abi.VFIO_DEVICE_FEATURE_MASK == abi.VFIO_DEVICE_FEATURE_MIGRATION:
            raise VfioError(errno.ENOTTY, "VFIO_DEVICE_FEATURE", "device")
        return 0

    monkeypatch.setattr(rq, "vfio_device_feature", feature)
    probe, set_ = abi.VFIO_DEVICE_FEATURE_PROBE, abi.VFIO_DEVICE_FEATURE_SET
    low_power, migration = (
        abi.VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY,
        abi.VFIO_DEVICE_FEATURE_MIGRATION,
    )
    with api.Device(os.open(os.devnull, os.O_RDWR)) as dev:
        assert dev.probe_feature(low_power, set_) and dev.probe_feature(low_power, set_)
        assert not dev.probe_feature(migration) and not dev.probe_feature(migration)
        dev.feature(low_power, set_)  # the general verb always asks
        dev.feature(low_power, set_)
        with pytest.raises(ValueError):
            dev.feature(-1, probe)
    assert calls == [probe | set_ | low_power, probe | migration, set_ | low_power] + [
        set_ | low_power
    ]


def test_feature_requests_and_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    """feature() sends copies of remembered headers: each call's bytes must
    still be its own request (read back as the C struct), a header the kernel
    wrote into must not come back, and bad arguments never reach the kernel."""
    from vfio import _features

    sent: list[tuple[int, int, bytes]] = []

    def kernel(fd: int, buf: bytearray) -> int:
        head = abi.vfio_device_feature.from_buffer_copy(buf)
        sent.append((head.argsz, head.flags, bytes(buf[8:])))
        buf[4:8] = b"\xff\xff\xff\xff"  # a kernel scribbling on the header
        if len(buf) > 8:
            buf[8:] = bytes(len(buf) - 8)
        return 0

    monkeypatch.setattr(rq, "vfio_device_feature", kernel)
    monkeypatch.setattr(_features, "_HEADS", {})
    probe, get, set_ = (
        abi.VFIO_DEVICE_FEATURE_PROBE,
        abi.VFIO_DEVICE_FEATURE_GET,
        abi.VFIO_DEVICE_FEATURE_SET,
    )
    mask = abi.VFIO_DEVICE_FEATURE_MASK
    with api.Device(os.open(os.devnull, os.O_RDWR)) as dev:
        for feature, flags in [
            (3, probe | set_),
            (3, probe | set_),
            (2, get),
            (mask, 0),
            (0, set_),
        ]:
            assert dev.feature(feature, flags) == b""
        assert dev.feature(7, set_, b"\x01\x02") == b"\x00\x00"
        dev.feature(enum.IntEnum("Feature", {"LOW_POWER": 3}).LOW_POWER, set_)  # an int subclass
        assert sent == [
            (8, probe | set_ | 3, b""),
            (8, probe | set_ | 3, b""),
            (8, get | 2, b""),
            (8, mask, b""),
            (8, set_, b""),
            (10, set_ | 7, b"\x01\x02"),
            (8, set_ | 3, b""),
        ]
        del sent[:]
        refused = [
            ((mask + 1, probe), ValueError, "feature 0x10000 is not a feature index"),
            ((-1, probe), ValueError, "feature -1 is out of range"),
            ((1 << 32, probe), ValueError, "feature .* out of range"),
            ((3.0, probe), TypeError, "feature must be an int"),
            ((3, -8), ValueError, "flags -8 is out of range"),
            ((3, 1 << 32), ValueError, "flags .* out of range"),
            ((3, 1.0), TypeError, "flags must be an int"),
            ((3, 1 << 40, b"x"), ValueError, "flags .* out of range"),
        ]
        for args, error, message in refused:
            with pytest.raises(error, match=message):
                dev.feature(*args)
        assert sent == []
        dev.feature(0, 1)  # remembered: an int's header
        with pytest.raises(TypeError, match="flags must be an int"):
            dev.feature(0, True)  # a bool is refused, remembered key or not
        del sent[:]
        monkeypatch.setattr(_features, "_HEADS_MAX", 2)
        _features._HEADS.clear()
        for feature in range(5):
            dev.feature(feature, probe)
        assert len(_features._HEADS) == 2  # bounded
        assert [flags for _, flags, _ in sent] == [probe | f for f in range(5)]
