"""What a misuse of VFIO says on a real kernel: each common mistake made on
edu, and the VfioError checked for the kernel's errno, the overlay's reason
for it (headers/*.toml, through vfio.requests) and the API's hint. Also the
no-IOMMU opt-in on the edu outside the IOMMU (the -full flavor)."""

from __future__ import annotations

import ctypes
import errno
import io
import json
from contextlib import ExitStack, redirect_stdout
from pathlib import Path

import pytest
from vfio import __main__ as cli
from vfio import abi, api
from vfio import requests as rq
from vfio.errors import NoiommuRefusedError, VfioError


def reason(request: str, name: str) -> str:
    return rq.REQUESTS[request].errors[name]


def check(err: VfioError, request: str, hint: str) -> None:
    """The kernel said EINVAL to `request`; the message has the overlay's
    reason and the API's hint."""
    assert err.errno == errno.EINVAL and err.request == request
    assert err.reason == reason(request, "EINVAL")
    assert f"the kernel says EINVAL here when {err.reason}" in str(err)
    assert hint in err.hint and f"hint: {err.hint}" in str(err), str(err)


def test_legacy_misuse_is_explained(edu) -> None:  # noqa: ANN001 (fixture)
    with ExitStack() as stack:
        c = stack.enter_context(api.Container())
        other = stack.enter_context(api.Container())
        g = stack.enter_context(api.Group(edu.group))
        with pytest.raises(VfioError) as err:
            c.set_iommu()  # before any group joined
        check(err.value, "VFIO_SET_IOMMU", "no group is attached to this container yet")
        with pytest.raises(VfioError) as err:
            g.open_device(edu.bdf)  # the group has no container
        check(err.value, "VFIO_GROUP_GET_DEVICE_FD", "the group has no container")
        g.set_container(c)
        with pytest.raises(VfioError) as err:
            g.open_device(edu.bdf)  # no IOMMU model yet
        check(err.value, "VFIO_GROUP_GET_DEVICE_FD", "container.set_iommu()")
        with pytest.raises(VfioError) as err:
            c.map_dma(0x100000, 0x1000, 0x10000)  # no IOMMU model yet: no IOMMU to map in
        check(err.value, "VFIO_IOMMU_MAP_DMA", "this container has no IOMMU model yet")
        for again in (c, other):  # set_container twice, the same or another container
            with pytest.raises(VfioError) as err:
                g.set_container(again)
            check(err.value, "VFIO_GROUP_SET_CONTAINER", "this group already has a container")
        model = c.set_iommu()  # the best the kernel offers (type1v2; sPAPR on POWER)
        with pytest.raises(VfioError) as err:
            c.set_iommu(model)  # twice
        check(err.value, "VFIO_SET_IOMMU", "IOMMU model is already set")
        with pytest.raises(VfioError) as err:  # x86's MSI window: the IOMMU never offers it
            c.dma_buffer(0x1000, iova=0xFEE00000)
        check(err.value, "VFIO_IOMMU_MAP_DMA", "[0xfee00000, 0xfee01000) is outside the IOVA")
        with g.open_device(edu.bdf[5:]) as dev:  # "00:03.0", as open_pci takes it
            regions, irqs = dev.info.num_regions, dev.info.num_irqs
            with pytest.raises(VfioError) as err:
                dev.region_info(99)
            check(err.value, "VFIO_DEVICE_GET_REGION_INFO", f"the device has {regions} regions")
            with pytest.raises(VfioError) as err:
                dev.irq_info(irqs)
            check(err.value, "VFIO_DEVICE_GET_IRQ_INFO", f"the device has {irqs} irqs")
            with pytest.raises(VfioError) as err:
                dev.reset()  # edu has no reset method
            check(err.value, "VFIO_DEVICE_RESET", "no reset method")
        g.unset_container()
        with pytest.raises(VfioError) as err:
            g.unset_container()  # twice
        check(err.value, "VFIO_GROUP_UNSET_CONTAINER", "no container to leave")


def test_second_cdev_bind_is_explained(edu) -> None:  # noqa: ANN001 (fixture)
    """A cdev fd binds once: the API refuses a second bind itself; the
    kernel's EINVAL to the raw request carries the overlay's reason, which
    names that case."""
    cdevs = sorted((edu.sysfs / "vfio-dev").glob("vfio*"))
    if not Path("/dev/iommu").exists() or not cdevs:
        pytest.skip("no iommufd or no VFIO cdev on this flavor")
    with (
        api.Iommufd() as iommufd,
        api.Device.open_cdev(Path("/dev/vfio/devices") / cdevs[0].name) as dev,
    ):
        devid = dev.bind_iommufd(iommufd)
        with pytest.raises(ValueError, match=rf"already bound to an iommufd \(dev_id {devid}\)"):
            dev.bind_iommufd(iommufd)
        again = abi.vfio_device_bind_iommufd(argsz=ctypes.sizeof(abi.vfio_device_bind_iommufd))
        again.iommufd = iommufd.fd
        with pytest.raises(VfioError) as err:
            rq.vfio_device_bind_iommufd(dev.fd, again)
        assert err.value.errno == errno.EINVAL
        assert err.value.reason == reason("VFIO_DEVICE_BIND_IOMMUFD", "EINVAL")
        assert "an already bound fd" in str(err.value)


def test_noiommu_needs_the_opt_in(noiommu_edu) -> None:  # noqa: ANN001 (fixture)
    with pytest.raises(NoiommuRefusedError, match="noiommu=True"):
        api.Group(noiommu_edu.group)
    with pytest.raises(NoiommuRefusedError, match="all of memory"):
        api.open_pci(noiommu_edu.bdf)
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["info", noiommu_edu.bdf, "--json"]) == 1  # refused: says why
    assert "--noiommu" in json.loads(out.getvalue())["vfio"]["hint"]
    with api.open_pci(noiommu_edu.bdf, noiommu=True) as dev:
        assert dev.config_read(0, 2) == 0x1234
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["info", noiommu_edu.bdf, "--json", "--noiommu"]) == 0
    assert json.loads(out.getvalue())["vfio"]["num_regions"] >= 7
