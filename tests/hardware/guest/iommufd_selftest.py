"""iommufd's self-test interface (IOMMU_TEST_CMD, CONFIG_IOMMUFD_TEST) through
the bindings vfiogen generated from drivers/iommu/iommufd/iommufd_test.h.

That header is not UAPI: the rig compiles it on the host with
`vfiogen build --header iommufd_test.h --overlay tests/hardware/iommufd_test.toml`
into $VFIOGEN_RIG_WORK/iommufd_test/vfio (rig_bindings.test_header_bindings).
That tree is a `vfio` package of its own, so it is imported here under its
own module objects and the project's vfio package is put back afterwards:
the structs, constants and the request function are the generated ones, none
is written by hand. The helpers mirror the kernel selftests' iommufd_utils.h."""

from __future__ import annotations

import ctypes
import importlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from vfio import abi as uapi  # the project's bindings (conftest put them on sys.path)

SELFTEST_IOMMU = Path("/sys/class/iommu/iommufd_selftest_iommu.0")


class TestBindings(NamedTuple):
    abi: ModuleType
    requests: ModuleType
    errors: ModuleType


def bindings_dir() -> Path:
    return Path(os.environ.get("VFIOGEN_RIG_WORK", "/nonexistent")) / "iommufd_test"


def load(root: Path) -> TestBindings:
    """abi, requests and errors of the vfio package generated into `root`."""
    ours = {k: m for k, m in sys.modules.items() if k == "vfio" or k.startswith("vfio.")}
    for k in ours:
        del sys.modules[k]
    sys.path.insert(0, str(root))
    try:
        loaded = TestBindings(
            importlib.import_module("vfio.abi"),
            importlib.import_module("vfio.requests"),
            importlib.import_module("vfio.errors"),
        )
    finally:
        sys.path.remove(str(root))
        for k in [k for k in sys.modules if k == "vfio" or k.startswith("vfio.")]:
            del sys.modules[k]
        sys.modules.update(ours)
    return loaded


def object_id(obj: Any) -> int:
    """An iommufd object's id: an int, or a vfio.api object owning one
    (Ioas, Hwpt, Viommu...)."""
    return obj if isinstance(obj, int) else int(obj.id)


class MockDomain(NamedTuple):
    """IOMMU_TEST_OP_MOCK_DOMAIN's answer: a mock device attached to a mock
    domain (HWPT) for an IOAS; idev_id is its device id in the iommufd."""

    stdev_id: int
    hwpt_id: int
    idev_id: int


class Selftest:
    """IOMMU_TEST_CMD on one iommufd."""

    def __init__(self, bindings: TestBindings, iommufd: Any) -> None:
        self.t = bindings
        self.fd = iommufd.fd if hasattr(iommufd, "fd") else int(iommufd)

    def cmd(self, op: int, object_id: int = 0, **member: Any) -> Any:
        """One IOMMU_TEST_CMD; `member` is {union member name: {field: value}}."""
        c = self.t.abi.iommu_test_cmd()
        c.size = ctypes.sizeof(c)
        c.op = op
        c.id = object_id
        for name, fields in member.items():
            target = getattr(c, name)
            for field, value in fields.items():
                setattr(target, field, value)
        self.t.requests.iommu_test_cmd(self.fd, c)
        return c

    def mock_domain(self, ioas: Any) -> MockDomain:
        c = self.cmd(self.t.abi.IOMMU_TEST_OP_MOCK_DOMAIN, object_id(ioas))
        m = c.mock_domain
        return MockDomain(int(m.out_stdev_id), int(m.out_hwpt_id), int(m.out_idev_id))

    def replace(self, stdev_id: int, pt: Any) -> None:
        """Attach the mock device to another page table (an Ioas or a Hwpt, or its id)."""
        self.cmd(
            self.t.abi.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
            stdev_id,
            mock_domain_replace={"pt_id": object_id(pt)},
        )

    def set_dirty(self, hwpt: Any, iova: int, length: int, page_size: int, bitmap: Any) -> int:
        """Mark the pages whose bits are set in `bitmap` dirty in the mock
        domain; returns how many it marked."""
        c = self.cmd(
            self.t.abi.IOMMU_TEST_OP_DIRTY,
            object_id(hwpt),
            dirty={
                "iova": iova,
                "length": length,
                "page_size": page_size,
                "uptr": ctypes.addressof(bitmap),
            },
        )
        return int(c.dirty.out_nr_dirty)

    def check_iotlb(self, hwpt: Any, iotlb_id: int, expected: int) -> None:
        """EINVAL unless the nested mock domain's IOTLB entry holds `expected`."""
        self.cmd(
            self.t.abi.IOMMU_TEST_OP_MD_CHECK_IOTLB,
            object_id(hwpt),
            check_iotlb={"id": iotlb_id, "iotlb": expected},
        )

    def trigger_iopf(self, dev_id: int, pasid: int, grpid: int, addr: int) -> None:
        a = self.t.abi
        self.cmd(
            a.IOMMU_TEST_OP_TRIGGER_IOPF,
            trigger_iopf={
                "dev_id": dev_id,
                "pasid": pasid,
                "grpid": grpid,
                "perm": uapi.IOMMU_PGFAULT_PERM_READ | uapi.IOMMU_PGFAULT_PERM_WRITE,
                "addr": addr,
            },
        )

    def trigger_vevent(self, dev_id: int) -> None:
        self.cmd(self.t.abi.IOMMU_TEST_OP_TRIGGER_VEVENT, trigger_vevent={"dev_id": dev_id})
