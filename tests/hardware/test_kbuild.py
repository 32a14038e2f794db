"""The full-ABI kernel's build logic (kbuild.py) and the rig's handling of a
kernel without modules, checked on the host without building or booting."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import kbuild
import pytest
import rig

SOURCE = rig.FLAVORS["7.2-full"].source
assert SOURCE is not None


def test_the_fragment_has_what_the_rig_and_the_tests_need() -> None:
    wanted = kbuild.read_fragment(SOURCE.fragment)
    for option in (
        "CONFIG_IOMMUFD",
        "CONFIG_VFIO_DEVICE_CDEV",
        "CONFIG_VFIO_CONTAINER",  # the legacy tests run on this kernel too
        "CONFIG_VFIO_PCI",
        "CONFIG_INTEL_IOMMU",
        "CONFIG_IRQ_REMAP",
        "CONFIG_9P_FS",
        "CONFIG_NET_9P_VIRTIO",
        "CONFIG_EVENTFD",
        "CONFIG_ACPI",  # poweroff
        "CONFIG_VFIO_NOIOMMU",
        "CONFIG_IOMMUFD_TEST",  # IOMMU_TEST_CMD: mock domains, HWPT, dirty bits, faults
        "CONFIG_SAMPLE_VFIO_MDEV_MTTY",  # migration v2 with PRE_COPY
        "CONFIG_SAMPLE_VFIO_MDEV_MBOCHS",  # GFX plane + dma-buf
        "CONFIG_PCI_IOV",  # SR-IOV VFs of the nvme PF, the VF token
        "CONFIG_BLK_DEV_NVME",
        "CONFIG_HUGETLBFS",  # MAP_HUGETLB DMA buffers
    ):
        assert wanted.get(option) == "y", option
    assert wanted["CONFIG_IOMMUFD_VFIO_CONTAINER"] == "n"
    assert "m" not in wanted.values(), "everything is built in: the initramfs has no modules"


def test_read_fragment_rejects_typos(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_text('# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="x y"\n\n')
    assert kbuild.read_fragment(good) == {"CONFIG_A": "y", "CONFIG_B": "n", "CONFIG_C": '"x y"'}
    bad = tmp_path / "bad"
    bad.write_text("CONFIG_A=y\nCONIFG_B=y\n")
    with pytest.raises(kbuild.KbuildError, match=r"bad:2: not a Kconfig line"):
        kbuild.read_fragment(bad)


def test_parse_config() -> None:
    text = "#\n# Automatically generated\nCONFIG_X=y\n# CONFIG_Y is not set\nCONFIG_Z=0x10\n"
    assert kbuild.parse_config(text) == {"CONFIG_X": "y", "CONFIG_Y": "n", "CONFIG_Z": "0x10"}


def test_build_key_follows_fragment_and_source_version() -> None:
    key = kbuild.build_key(SOURCE, "6.12.95-1~bpo12+1", "CONFIG_A=y\n")
    assert key == kbuild.build_key(SOURCE, "6.12.95-1~bpo12+1", "CONFIG_A=y\n")
    assert key != kbuild.build_key(SOURCE, "6.12.96-1~bpo12+1", "CONFIG_A=y\n")
    assert key != kbuild.build_key(SOURCE, "6.12.95-1~bpo12+1", "CONFIG_A=y\nCONFIG_B=y\n")


def test_builtin_modules(tmp_path: Path) -> None:
    (tmp_path / "modules.builtin.modinfo").write_bytes(
        b"vfio_pci.license=GPL\0vfio_pci.alias=vfio_pci:*\0"
        b"9pnet-virtio.license=GPL\0iommufd.description=IOMMU fd\0"
    )
    assert kbuild.builtin_modules(tmp_path) == ["9pnet_virtio", "iommufd", "vfio_pci"]
    with pytest.raises(kbuild.KbuildError, match="cannot tell which modules are built in"):
        kbuild.builtin_modules(tmp_path / "nothing")


def test_cached_build_is_reused_without_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build of the current fragment is used without asking apt; another
    fragment (or recipe) rebuilds; `refresh` asks apt for the source version
    and rebuilds only when it changed."""
    version = "6.12.95-1~bpo12+1"
    asked: list[bool] = []

    def show(*args: object, refresh: bool = False) -> dict[str, str]:
        asked.append(refresh)
        return {"Version": version}

    def no_build(*args: object) -> None:
        raise AssertionError("rebuilt")

    monkeypatch.setattr(kbuild.debian, "show", show)
    monkeypatch.setattr(kbuild, "unpack_source", no_build)
    monkeypatch.setattr(kbuild, "check_tools", lambda: None)
    dest = tmp_path / "kernel"
    (dest / "boot").mkdir(parents=True)
    (dest / "boot" / "vmlinuz-x").write_bytes(b"")
    key = kbuild.build_key(SOURCE, version, SOURCE.fragment.read_text())
    info = {"key": key, "version": version, "vmlinuz": "boot/vmlinuz-x"}
    (dest / "kernel.json").write_text(json.dumps(info))

    assert kbuild.ensure_kernel("k", SOURCE, dest, tmp_path, tmp_path) == info
    assert asked == []  # offline
    assert kbuild.ensure_kernel("k", SOURCE, dest, tmp_path, tmp_path, refresh=True) == info
    assert asked == [True]  # same version: no rebuild
    version = "7.2.14-1"
    with pytest.raises(AssertionError, match="rebuilt"):
        kbuild.ensure_kernel("k", SOURCE, dest, tmp_path, tmp_path, refresh=True)
    (dest / "kernel.json").write_text(json.dumps({**info, "key": "another fragment"}))
    with pytest.raises(AssertionError, match="rebuilt"):
        kbuild.ensure_kernel("k", SOURCE, dest, tmp_path, tmp_path)


def test_missing_build_tool_is_a_missing_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kbuild.shutil, "which", lambda tool: None if tool == "bison" else tool)
    with pytest.raises(kbuild.MissingTool, match="without bison"):
        kbuild.check_tools()


def test_initramfs_of_a_kernel_without_modules(tmp_path: Path) -> None:
    """Everything built in: no .ko in the initramfs, an empty load order."""
    busybox = Path("/bin/busybox")
    if not rig._is_static_elf(busybox):
        pytest.skip("static busybox not installed (tests/hardware/install-deps.sh)")
    moddir = tmp_path / "lib/modules/6.12.95-vfiogen"
    moddir.mkdir(parents=True)
    builtin = ["9p", "9pnet", "9pnet_virtio", "iommufd", "vfio", "vfio_iommu_type1", "vfio_pci"]
    builtin += ["vfio_pci_core", "virtio_pci"]
    (moddir / "modules.builtin").write_text("".join(f"kernel/{m}.ko\n" for m in builtin))
    kernel = rig.Kernel("7.2-full", "sid", "v", "r", tmp_path, moddir)
    out = tmp_path / "initrd.cpio.gz"
    assert rig.build_initramfs(kernel, out) == []
    listing = subprocess.run(
        [str(busybox), "cpio", "-t"], input=gzip.decompress(out.read_bytes()), capture_output=True
    ).stdout.decode()
    assert "mods/order" in listing and ".ko" not in listing
    (moddir / "modules.builtin").write_text("kernel/9p.ko\n")  # vfio_pci neither there nor built in
    with pytest.raises(rig.RigError, match="has no module"):
        rig.build_initramfs(kernel, out)


def test_full_flavor_is_tested_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VFIOGEN_RIG_KERNELS", raising=False)
    assert "7.2-full" in rig.kernels_under_test()
    flavor = rig.FLAVORS["7.2-full"]
    assert flavor.source == SOURCE and flavor.series == "7.2"
