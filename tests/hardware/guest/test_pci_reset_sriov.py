"""QEMU's nvme behind a pcie-root-port (x-speed=5), on vfio-pci: function
reset (FLR), the bus reset in both forms (group fds; cdev with DEV_ID and a
zero-length array), and SR-IOV: VFs created with the PF open, the VF token
refused and accepted through VFIO_GROUP_GET_DEVICE_FD's `vf_token=` and
VFIO_DEVICE_BIND_IOMMUFD's `token_uuid_ptr`. Skipped without the nvme, failed
on the -full flavor, whose machine has it."""

from __future__ import annotations

import errno
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import proof
import pytest
from pci import PciDevice, find_pci
from vfio import abi, api
from vfio.errors import VfioError

PROOF_MODE = "cdev"  # guest/proof.py; the group forms say "type1v2"
NVME_VENDOR, NVME_DEVICE = 0x1B36, 0x0010


@pytest.fixture(scope="module")
def pf() -> PciDevice:
    found = [d for d in find_pci(NVME_VENDOR, NVME_DEVICE) if (d.sysfs / "sriov_totalvfs").exists()]
    if not found:
        message = "no SR-IOV nvme on this machine"
        if os.environ.get("VFIOGEN_GUEST_KERNEL", "").endswith("-full"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    assert found[0].driver == "vfio-pci", found[0]
    return found[0]


def cdev_of(dev: PciDevice) -> Path:
    names = sorted(p.name for p in (dev.sysfs / "vfio-dev").glob("vfio*"))
    assert len(names) == 1, names
    return Path("/dev/vfio/devices") / names[0]


@contextmanager
def bound(dev: PciDevice, token: uuid.UUID | None = None) -> Iterator[api.Device]:
    """The device's cdev bound to a new iommufd (with a VF token when given)."""
    with api.Iommufd() as iommufd, api.Device.open_cdev(cdev_of(dev)) as d:
        if token is None:
            d.bind_iommufd(iommufd)
        else:
            d.bind_iommufd_with_token(iommufd, token)
        yield d


def bdf_of(fn: abi.vfio_pci_dependent_device) -> str:
    return f"{fn.segment:04x}:{fn.bus:02x}:{fn.devfn >> 3:02x}.{fn.devfn & 7}"


def test_flr_and_cdev_hot_reset(pf: PciDevice) -> None:
    """Through the cdev: VFIO_DEVICE_RESET is an FLR; the hot reset info
    names devices by dev_id (the kernel sets DEV_ID when the device was
    opened through its cdev, and keeps DEV_ID_OWNED unless an affected
    device is not the user's: here the PF alone, bound to this iommufd, so
    its devid is a real id), and the reset takes an empty group fd array."""
    assert "flr" in (pf.sysfs / "reset_method").read_text().split()
    with bound(pf) as dev:
        assert dev.info.flags & abi.VFIO_DEVICE_FLAGS_RESET
        dev.reset()
        info = dev.hot_reset_info()
        assert info.flags == (
            abi.VFIO_PCI_HOT_RESET_FLAG_DEV_ID | abi.VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED
        )
        assert info.dev_id and info.dev_id_owned
        [fn] = info.devices
        assert fn.devid not in (abi.VFIO_PCI_DEVID_OWNED, abi.VFIO_PCI_DEVID_NOT_OWNED & 0xFFFFFFFF)
        assert bdf_of(fn) == pf.bdf
        dev.hot_reset()  # the DEV_ID form: no group fds
        assert dev.config_read(0, 2) == NVME_VENDOR  # alive after the bus reset


def test_group_hot_reset(pf: PciDevice) -> None:
    """Through the group: no flag (the kernel sets DEV_ID only for a device
    opened through its cdev), the info names the PF's group and BDF; the
    reset takes the fds of every affected group."""
    with proof.mode("type1v2"):
        with api.Container() as c, api.Group(pf.group) as g:
            g.set_container(c)
            c.set_iommu(abi.VFIO_TYPE1v2_IOMMU)
            with g.open_device(pf.bdf) as dev:
                info = dev.hot_reset_info()
                assert info.flags == 0 and not info.dev_id and not info.dev_id_owned
                assert [d.group_id for d in info.devices] == [pf.group]
                assert bdf_of(info.devices[0]) == pf.bdf
                with pytest.raises(VfioError) as err:  # without the group's fd
                    dev.hot_reset()
                assert err.value.errno == errno.EINVAL
                dev.hot_reset([g])
                dev.reset()
            g.unset_container()


def wait_for(path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_vf_token_refused_then_accepted(pf: PciDevice) -> None:
    """The PF's user sets a VF token, then creates 2 VFs (vfio-pci captures
    them); a VF opens only with that token: through the group
    (`<bdf> vf_token=<uuid>`) and through the cdev (token_uuid_ptr)."""
    token, wrong = uuid.uuid4(), uuid.uuid4()
    numvfs = pf.sysfs / "sriov_numvfs"
    with bound(pf) as pf_dev:  # open first: opening resets the PF, which kills VFs
        assert pf_dev.probe_feature(
            abi.VFIO_DEVICE_FEATURE_PCI_VF_TOKEN, abi.VFIO_DEVICE_FEATURE_SET
        )
        pf_dev.set_vf_token(token)
        numvfs.write_text("2")
        try:
            vf_path = (pf.sysfs / "virtfn0").resolve()
            wait_for(vf_path / "vfio-dev")
            [vf] = [d for d in find_pci(NVME_VENDOR, NVME_DEVICE) if d.bdf == vf_path.name]
            assert vf.driver == "vfio-pci" and vf.group != pf.group
            with proof.mode("type1v2"), api.Container() as c, api.Group(vf.group) as g:
                g.set_container(c)
                c.set_iommu(abi.VFIO_TYPE1v2_IOMMU)
                for name in (vf.bdf, api.vf_device_name(vf.bdf, wrong)):
                    with pytest.raises(VfioError) as err:
                        g.open_device(name)
                    assert err.value.errno == errno.EACCES, name
                with g.open_device(api.vf_device_name(vf.bdf, token)) as d:
                    assert d.config_read(0, 2) == NVME_VENDOR  # vfio-pci fills in a VF's IDs
                g.unset_container()
            for bad in (None, wrong):
                with pytest.raises(VfioError) as err:
                    with bound(vf, bad):
                        pass
                assert err.value.errno == errno.EACCES and err.value.request == (
                    "VFIO_DEVICE_BIND_IOMMUFD"
                )
            with bound(vf, token) as d:
                assert d.info.flags & abi.VFIO_DEVICE_FLAGS_PCI
        finally:
            numvfs.write_text("0")
