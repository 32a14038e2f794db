"""Mediated devices of the kernel's sample parents (mtty, mbochs, mdpy):
created and removed through sysfs, opened through their VFIO cdev and an
iommufd (an mdev reaches guest memory through iommufd's access path)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from vfio import api

MDEV_BUS = Path("/sys/class/mdev_bus")
MDEV_DEVICES = Path("/sys/bus/mdev/devices")


def type_dir(mdev_type: str) -> Path | None:
    """/sys/class/mdev_bus/<parent>/mdev_supported_types/<mdev_type>."""
    found = sorted(MDEV_BUS.glob(f"*/mdev_supported_types/{mdev_type}"))
    return found[0] if found else None


def require(mdev_type: str) -> Path:
    """The type's sysfs dir; skip without it, fail on the -full flavor."""
    found = type_dir(mdev_type)
    if found is None:
        message = f"no mdev type {mdev_type} (CONFIG_SAMPLE_VFIO_MDEV_*)"
        if os.environ.get("VFIOGEN_GUEST_KERNEL", "").endswith("-full"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


@contextmanager
def created(mdev_type: str) -> Iterator[Path]:
    """A new instance of `mdev_type`, removed afterwards; its sysfs dir."""
    name = str(uuid.uuid4())
    (require(mdev_type) / "create").write_text(name)
    path = MDEV_DEVICES / name
    try:
        yield path
    finally:
        (path / "remove").write_text("1")


def cdev(mdev: Path) -> Path:
    names = sorted(p.name for p in (mdev / "vfio-dev").glob("vfio*"))
    assert len(names) == 1, f"{mdev}: VFIO cdevs {names}"
    return Path("/dev/vfio/devices") / names[0]


@contextmanager
def opened(mdev: Path) -> Iterator[api.Device]:
    """The mdev's cdev bound to a new iommufd and attached to an IOAS."""
    with api.Iommufd() as iommufd, iommufd.ioas() as ioas:
        with api.Device.open_cdev(cdev(mdev)) as dev:
            dev.bind_iommufd(iommufd)
            dev.attach_ioas(ioas)
            yield dev
            dev.detach_ioas()
