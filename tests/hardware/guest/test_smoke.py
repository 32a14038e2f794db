"""Plumbing of the rig, checked inside the guest with nothing but os/fcntl:
the guest runs the host's Python on the project, the kernel has VFIO, and
edu sits in its own IOMMU group, bound to vfio-pci. The real hardware tests
go through the generated `vfio` package; these say the ground under them
holds."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import struct
import subprocess
import sys
from pathlib import Path

# linux/vfio.h, written out by hand on purpose: the rig must not depend on
# what it is there to test.
VFIO_GET_API_VERSION = 0x3B64  # _IO(';', 100)
VFIO_CHECK_EXTENSION = 0x3B65  # _IO(';', 101)
VFIO_GROUP_GET_STATUS = 0x3B67  # _IO(';', 103)
VFIO_API_VERSION = 0
VFIO_TYPE1v2_IOMMU = 3
VFIO_GROUP_FLAGS_VIABLE = 1 << 0


def is_char_device(path: Path) -> bool:
    return path.exists() and stat.S_ISCHR(path.stat().st_mode)


def test_kernel_is_the_one_booted(rig_host, guest_kernel):
    assert guest_kernel == rig_host["kernel"]
    assert os.uname().release == rig_host["release"]


def test_host_interpreter_and_paths(rig_host):
    """Same interpreter, same sys.path, same (editable) vfiogen as on the host."""
    assert sys.executable == rig_host["executable"]
    probe = "import json, sys, vfiogen; print(json.dumps([sys.path, vfiogen.__file__]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    sys_path, vfiogen_file = json.loads(out.stdout)
    assert sys_path == rig_host["sys_path"]
    assert vfiogen_file == rig_host["vfiogen"]


def test_container_node_exists():
    assert is_char_device(Path("/dev/vfio/vfio"))


def test_edu_bound_to_vfio_pci(edu):
    assert edu.driver == "vfio-pci"
    assert (edu.sysfs / "driver_override").read_text().strip() == "vfio-pci"


def test_edu_group_node_exists(edu):
    assert edu.group >= 0, f"{edu.bdf} has no IOMMU group (is the vIOMMU on?)"
    assert is_char_device(edu.group_path)
    members = sorted(p.name for p in (edu.sysfs / "iommu_group" / "devices").iterdir())
    assert members == [edu.bdf], "edu should be alone in its group"


def test_api_version_and_type1v2():
    fd = os.open("/dev/vfio/vfio", os.O_RDWR | os.O_CLOEXEC)
    try:
        assert fcntl.ioctl(fd, VFIO_GET_API_VERSION) == VFIO_API_VERSION
        assert fcntl.ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) == 1
    finally:
        os.close(fd)


def test_group_is_viable(edu):
    fd = os.open(edu.group_path, os.O_RDWR | os.O_CLOEXEC)
    try:
        status = bytearray(struct.pack("=II", 8, 0))  # struct vfio_group_status
        assert fcntl.ioctl(fd, VFIO_GROUP_GET_STATUS, status) == 0
        _, flags = struct.unpack("=II", status)
        assert flags & VFIO_GROUP_FLAGS_VIABLE
    finally:
        os.close(fd)
