"""The ppc64 flavor's machine (rig_ppc64.py), checked on the host without
booting: QEMU's command line, the guest's PYTHONPATH, which guest tests the
flavor runs, and (when cached) that its userland really is ppc64 code."""

from __future__ import annotations

import struct
import sysconfig
from pathlib import Path

import pytest
import rig
import rig_ppc64

EM_PPC64 = 21  # e_machine of 64-bit PowerPC (the ELF psABI)


def fake_kernel(tmp_path: Path) -> rig.Kernel:
    return rig.Kernel("7.2-ppc64", "sid", "7.2.13-1", "7.2.13+deb14-powerpc64le",
                      tmp_path / "vmlinuz", tmp_path)  # fmt: skip


def test_edu_is_alone_on_a_phb_created_after_the_9p_devices(tmp_path: Path) -> None:
    """QEMU puts a device without bus= on the newest PHB, and all devices of
    a PHB into one IOMMU group: the 9p devices must come before phb1."""
    flavor = rig.FLAVORS["7.2-ppc64"]
    root = tmp_path / "root"
    cmd = rig_ppc64.qemu_command(flavor, fake_kernel(tmp_path), tmp_path / "i", tmp_path, root)
    args = cmd[1:]
    assert args[args.index("-machine") + 1].startswith("pseries,")
    assert args[args.index("-accel") + 1] == "tcg"
    last_9p = max(i for i, a in enumerate(args) if a.startswith("local,path="))
    assert args.index("spapr-pci-host-bridge,index=1,id=phb1") > last_9p
    assert args.index("edu,bus=phb1.0") > args.index("spapr-pci-host-bridge,index=1,id=phb1")
    append = args[args.index("-append") + 1].split()
    assert "console=hvc0" in append and f"rig_ppcroot={root}" in append
    assert f"rig_bind={rig.EDU_ID}" in append


def test_guest_pythonpath_keeps_site_packages_and_drops_the_stdlib() -> None:
    paths = sysconfig.get_paths()
    host = ["", "/work/x/gen", paths["stdlib"], str(Path(paths["stdlib"]) / "lib-dynload"),
            str(Path(paths["stdlib"]).parent / "python311.zip"), paths["purelib"]]  # fmt: skip
    kept = rig_ppc64.guest_pythonpath(host).split(":")
    assert kept == ["/work/x/gen", paths["purelib"]]


def test_the_ppc64_flavor_runs_test_spapr_and_the_fuzzer() -> None:
    files = ("test_spapr.py", "test_fuzz_kernel.py")
    assert rig.guest_test_paths("7.2-ppc64") == [str(rig.GUEST_TESTS / f) for f in files]
    assert rig.guest_test_paths("7.2") == [str(rig.GUEST_TESTS)]
    assert all((rig.GUEST_TESTS / f).is_file() for f in files)
    assert rig.FLAVORS["7.2-ppc64"].arch == rig_ppc64.ARCH == "ppc64el"


def test_cached_userland_is_ppc64_code() -> None:
    """Debian's ppc64el python3.X and busybox-static, as unpacked: 64-bit
    little-endian ELF for EM_PPC64; busybox without a dynamic loader."""
    root = rig_ppc64.root_dir()
    if not (root / "root.json").exists():
        pytest.skip(f"no cached ppc64el root at {root} (rig.py fetch boots it once)")
    for binary in (Path(rig_ppc64.guest_python()), Path("/usr/bin/busybox")):
        head = (root / binary.relative_to("/")).read_bytes()[:20]
        assert head[:6] == b"\x7fELF\x02\x01", binary  # ELFCLASS64, ELFDATA2LSB
        assert struct.unpack_from("<H", head, 18)[0] == EM_PPC64, binary
    assert rig._is_static_elf(root / "usr/bin/busybox")
    assert (root / "usr/bin/sh").resolve().name == "busybox"
