"""What the API asks the kernel once per open device (it cannot change while
the device is open): IRQ info and feature probes, beside region info
(test_api.py). Each answer comes from a fake kernel that counts its calls."""

from __future__ import annotations

import ctypes
import enum
import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
            ((3, probe | 4), ValueError, "flags .* has bits of the feature index"),
            ((3, set_ | 4, b"x"), ValueError, "flags .* has bits of the feature index"),
        ]
        for args, error, message in refused:
            with pytest.raises(error, match=message):
                dev.feature(*args)
        assert sent == []
        dev.feature(1, 0)  # remembered: flags | feature == 1
        with pytest.raises(TypeError, match="flags must be an int"):
            dev.feature(0, True)  # a bool is refused, remembered key or not
        with pytest.raises(ValueError, match="flags 0x3 has bits of the feature index"):
            dev.feature(4, 3)  # would be sent as feature 7
        del sent[:]
        monkeypatch.setattr(_features, "_HEADS_MAX", 2)
        _features._HEADS.clear()
        for feature in range(5):
            dev.feature(feature, probe)
        assert len(_features._HEADS) == 2  # bounded
        assert [flags for _, flags, _ in sent] == [probe | f for f in range(5)]


def test_a_closed_object_answers_nothing_from_a_cache_either(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every kept answer (device info, region and IRQ info, feature probes,
    migration flags, the container's API version) is refused once its
    object is closed, as a request is, and without asking the kernel."""
    asked: list[str] = []

    def answering(name: str, fill: Any) -> Any:
        def kernel(fd: int, buf: Any) -> int:
            asked.append(name)
            fill(buf)
            return 0

        return kernel

    def device_info(buf: bytearray) -> None:
        abi.vfio_device_info.from_buffer(buf).num_irqs = 2

    def region_info(buf: bytearray) -> None:
        abi.vfio_region_info.from_buffer(buf).size = 0x1000

    def irq_info(info: abi.vfio_irq_info) -> None:
        info.count = 1

    def feature(buf: bytearray) -> None:
        if len(buf) > ctypes.sizeof(abi.vfio_device_feature):  # the migration GET
            abi.vfio_device_feature_migration.from_buffer(buf, 8).flags = 1

    monkeypatch.setattr(rq, "vfio_device_get_info", answering("info", device_info))
    monkeypatch.setattr(rq, "vfio_device_get_region_info", answering("region", region_info))
    monkeypatch.setattr(rq, "vfio_device_get_irq_info", answering("irq", irq_info))
    monkeypatch.setattr(rq, "vfio_device_feature", answering("feature", feature))
    monkeypatch.setattr(rq, "vfio_get_api_version", lambda fd: asked.append("version") or 0)
    dev = api.Device(os.open(os.devnull, os.O_RDWR))
    container = api.Container(os.devnull)
    kept: list[Callable[[], object]] = [
        lambda: dev.info,
        lambda: dev.region_info(0),
        lambda: dev.irq_info(1),
        lambda: dev.probe_feature(abi.VFIO_DEVICE_FEATURE_MIGRATION),
        lambda: dev.migration_flags(),
        lambda: container.api_version,
    ]
    first = [read() for read in kept]
    assert [read() for read in kept] == first  # kept: asked once each
    assert asked == ["info", "region", "irq", "feature", "feature", "version"]
    dev.close()
    container.close()
    for read in kept:
        with pytest.raises(ValueError, match="is closed"):
            read()
    assert len(asked) == 6  # nothing asked of the kernel once closed


def test_a_kept_answer_is_found_only_by_its_own_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """True and 1.0 equal 1 as dict keys: they must be refused, not answered
    from index 1's kept answer; an IntEnum finds it (an int)."""

    def irq(fd: int, info: abi.vfio_irq_info) -> int:
        info.count = 1
        return 0

    monkeypatch.setattr(rq, "vfio_device_get_irq_info", irq)
    with api.Device(os.open(os.devnull, os.O_RDWR)) as dev:
        kept = dev.irq_info(1)
        for bad, error in [(True, TypeError), (1.0, TypeError)]:
            with pytest.raises(error, match="irq index must be an int"):
                dev.irq_info(bad)
        assert dev.irq_info(enum.IntEnum("Index", {"MSI": 1}).MSI) is kept
        with pytest.raises(TypeError, match="region index must be an int"):
            dev.region_info(True)
        with pytest.raises(TypeError, match="feature must be an int"):
            dev.probe_feature(True)


def test_an_answer_is_not_kept_when_its_object_closed_meanwhile() -> None:
    """Another thread may close the object while the kernel answers: the
    answer is returned to its caller but not kept for the next one."""
    dev = api.Device(os.open(os.devnull, os.O_RDWR))

    def ask() -> int:
        dev.close()  # what the other thread does meanwhile
        return 5

    assert dev.answer("k", ask) == 5
    with pytest.raises(ValueError, match="is closed"):
        dev.answer("k", lambda: dev.fd)
