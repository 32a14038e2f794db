"""The rig's own logic, checked on the host without booting anything: the
initramfs pieces, the kernel log filter, and the skip/fail rule when QEMU is
missing (a skipped hardware tier must fail CI)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import rig
import rig_qemu
import rig_skips
from rig_host import qemu_with

HERE = Path(__file__).parent


def test_cpio_lists_back(tmp_path: Path) -> None:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox not installed (tests/hardware/install-deps.sh)")
    archive = rig._cpio(
        [
            ("bin", 0o040755, b""),
            ("dev/console", 0o020600, b""),
            ("bin/hello", 0o100755, b"#!/bin/sh\necho hi\n"),  # 18 bytes: padding
        ]
    )
    listing = subprocess.run(
        [busybox, "cpio", "-t", "-v"], input=archive, capture_output=True, check=True
    ).stdout.decode()
    lines = listing.splitlines()
    assert [line.split()[-1] for line in lines] == ["bin", "dev/console", "bin/hello"]
    assert lines[1].startswith("crw") and lines[2].startswith("-rwx")


def test_modinfo_depends() -> None:
    module = b"\x7fELF...\0license=GPL\0depends=vfio,vfio-pci-core,irqbypass\0name=vfio_pci\0"
    info = rig._modinfo(module)
    assert info["depends"] == "vfio,vfio-pci-core,irqbypass"
    assert info["name"] == "vfio_pci"
    assert rig._modinfo(b"\0depends=\0name=x\0")["depends"] == ""


def test_static_elf() -> None:
    assert not rig._is_static_elf(Path("/bin/sh"))  # dash: dynamically linked
    assert not rig._is_static_elf(HERE / "guest-init.sh")  # not ELF at all


def test_kernel_problems(tmp_path: Path) -> None:
    (tmp_path / "dmesg.txt").write_text(
        "[    0.98] PCI: Using host bridge windows from ACPI; if necessary, use"
        ' "pci=nocrs" and report a bug\n'
        "[    2.78] VFIO - User Level meta-driver version: 0.3\n"
        "[    9.10] WARNING: CPU: 0 PID: 93 at drivers/vfio/vfio_main.c:1 foo+0x1/0x2\n"
        "[    9.20] BUG: kernel NULL pointer dereference, address: 0000000000000008\n"
        "[    9.30] Oops: 0002 [#1] PREEMPT SMP NOPTI\n"
        "[    9.40] WARNING: possible circular locking dependency detected\n"
    )
    kernel = rig.Kernel("7.2", "sid", "7.2.13-1", "7.2.13+deb14-amd64", Path(), Path())
    result = rig.GuestResult(kernel, tmp_path, 0, 1.0, "tcg")
    assert [line.split("] ")[1][:8] for line in result.kernel_problems()] == [
        "WARNING:",
        "BUG: ker",
        "Oops: 00",
        "WARNING:",
    ]


def test_reproduced_bug_lines_are_excused_once(tmp_path: Path) -> None:
    """A known bug reproduced on purpose (guest/test_fuzz_kernel.py) logs its
    report; the log check leaves out exactly the lines its record lists, one
    occurrence each, and nothing a record without `reproduced` lists."""
    (tmp_path / "dmesg.txt").write_text(
        "[   40.10] UBSAN: shift-out-of-bounds in drivers/vfio/vfio_iommu_type1.c:1302:20\n"
        "[   40.11] Call Trace:\n"
        "[   41.00] Call Trace:\n"
        "[   42.00] WARNING: CPU: 0 PID: 93 at drivers/vfio/vfio_main.c:1 foo+0x1/0x2\n"
    )
    ubsan = "UBSAN: shift-out-of-bounds in drivers/vfio/vfio_iommu_type1.c:1302:20"
    (tmp_path / "fuzz-bug-a.json").write_text(
        json.dumps({"name": "a", "reproduced": True, "log": [ubsan, "Call Trace:"]})
    )
    (tmp_path / "fuzz-bug-b.json").write_text(
        json.dumps({"name": "b", "reproduced": False, "log": ["WARNING: CPU: 0 PID: 93 at"]})
    )
    kernel = rig.Kernel("7.2", "sid", "7.2.13-1", "7.2.13+deb14-amd64", Path(), Path())
    result = rig.GuestResult(kernel, tmp_path, 0, 1.0, "tcg")
    assert result.kernel_problems() == [
        "[   41.00] Call Trace:",
        "[   42.00] WARNING: CPU: 0 PID: 93 at drivers/vfio/vfio_main.c:1 foo+0x1/0x2",
    ]


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest"
 errors="0" failures="0" skipped="2" tests="3">
<testcase classname="tests.hardware.guest.test_smoke" name="test_open" time="0.1"/>
<testcase classname="tests.hardware.guest.test_mdev" name="test_mbochs_plane_and_dmabuf" time="0">
<skipped type="pytest.skip" message="no mdev type mbochs-small (CONFIG_SAMPLE_VFIO_MDEV_*)">x</skipped>
</testcase>
<testcase classname="tests.hardware.guest.test_fuzz_kernel"
 name="test_known_kernel_bug_reproduces[unmap-dma-pgsize-0]" time="0">
<skipped type="pytest.skip" message="this kernel has no __ubsan_handle_shift_out_of_bounds: x">x</skipped>
</testcase></testsuite></testsuites>"""


def test_skips_are_checked_against_the_flavor_table(tmp_path: Path) -> None:
    """A skip is a pass only when the flavor's table names it with its reason."""
    (tmp_path / "junit.xml").write_text(JUNIT)
    kernel = rig.Kernel("7.2-full", "sid", "7.2.13-1", "7.2.13-vfiogen-full", Path(), Path())
    skips = rig.GuestResult(kernel, tmp_path, 0, 1.0, "tcg").skips()
    assert skips == {
        "test_mdev.py::test_mbochs_plane_and_dmabuf": (
            "no mdev type mbochs-small (CONFIG_SAMPLE_VFIO_MDEV_*)"
        ),
        "test_fuzz_kernel.py::test_known_kernel_bug_reproduces[unmap-dma-pgsize-0]": (
            "this kernel has no __ubsan_handle_shift_out_of_bounds: x"
        ),
    }
    missed = "expected skip did not happen (drop it from rig_skips.py): " + rig_skips.BUG
    assert rig_skips.unexpected_skips("7.2-full", skips) == [
        "unexpected skip: test_mdev.py::test_mbochs_plane_and_dmabuf: "
        "no mdev type mbochs-small (CONFIG_SAMPLE_VFIO_MDEV_*)",
        missed + "[dirty-pages-pgsize-0]",
        missed + "[register-memory-size-0]",
        missed + "[tce-create-page-shift]",
    ]
    # 7.2 (Debian) has UBSAN: the bug must reproduce there; mbochs is expected
    on_debian = rig_skips.unexpected_skips("7.2", skips)
    assert on_debian[0] == (
        "unexpected skip: test_fuzz_kernel.py::test_known_kernel_bug_reproduces"
        "[unmap-dma-pgsize-0]: this kernel has no __ubsan_handle_shift_out_of_bounds: x"
    )
    assert not any("test_mbochs_plane_and_dmabuf" in p for p in on_debian)
    assert len(on_debian) == 1 + len(rig_skips.EXPECTED_SKIPS["7.2"]) - 1
    wrong = {"test_mdev.py::test_mbochs_plane_and_dmabuf": "mbochs crashed"}
    assert rig_skips.unexpected_skips("7.2", wrong)[0] == (
        "test_mdev.py::test_mbochs_plane_and_dmabuf skipped for another reason: "
        "'mbochs crashed', expected 'no mdev type mbochs-small (CONFIG_SAMPLE_VFIO_MDEV_*)'"
    )
    assert rig_skips.unexpected_skips("9.9", {}) == [
        "flavor 9.9 has no table of expected skips in rig_skips.py"
    ]


@pytest.mark.parametrize("ci", ["", "true"])
def test_missing_qemu_skips_but_fails_in_ci(tmp_path: Path, ci: str) -> None:
    """Run the hardware tier with a PATH that has no QEMU."""
    env = dict(os.environ, PATH=str(tmp_path), CI=ci)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider",
         "-m", "hardware", str(HERE / "test_rig.py")],
        env=env, capture_output=True, text=True, cwd=HERE.parents[1],
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert "qemu-system-x86_64 not found" in out, out
    if ci:
        assert proc.returncode == 1, out
        assert "hardware tier cannot run in CI" in out and "skipped" not in out, out
    else:
        assert proc.returncode == 0, out
        boots = len(rig.kernels_under_test())
        per_kernel = (HERE / "test_rig.py").read_text().count("\ndef test_")
        assert f"{per_kernel * boots} skipped" in out, out


FAKE_QEMU = """#!/bin/sh
# A stand-in for qemu-system-x86_64: knows the devices, then misbehaves.
[ "$1" = -device ] && [ "$2" = help ] && {{ echo 'name "edu"'; echo 'name "intel-iommu"'; exit 0; }}
echo "fake qemu: {how}" >&2
{action}
"""


@pytest.mark.parametrize(
    "how, action, message",
    [
        ("abort", "kill -ABRT $$", "QEMU died: killed by SIGABRT (exit status 134)"),
        ("exit 1", "exit 1", "QEMU died: exit status 1"),
        ("hang", "exec sleep 30", "guest timed out after 1 s (QEMU killed)"),
        ("no job", "exit 0", "the guest powered off without finishing its job"),
    ],
)
def test_guest_failures_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, action: str, message: str
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    qemu = bindir / rig.QEMU
    qemu.write_text(FAKE_QEMU.format(how=how, action=action))
    qemu.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setattr(rig_qemu, "find_busybox", lambda: Path("/bin/busybox"))
    monkeypatch.setattr(rig_qemu, "build_initramfs", lambda kernel, out: out.write_bytes(b""))
    qemu_with.cache_clear()
    kernel = rig.Kernel("7.2", "sid", "7.2.13-1", "7.2.13+deb14-amd64", tmp_path, tmp_path)
    try:
        with pytest.raises(rig.GuestFailure) as info:
            rig.run_pytest(kernel, ["-q"], tmp_path / "work", timeout=1, accel="tcg")
    finally:
        qemu_with.cache_clear()
    assert message in str(info.value)
    assert f"fake qemu: {how}" in str(info.value)  # QEMU's own output is shown


def test_unknown_kernel() -> None:
    with pytest.raises(rig.RigError, match="unknown kernel '5.4'; known: 6.1, 6.12, 7.2, 7.2-full"):
        rig.fetch_kernel("5.4")


def test_debian_depends() -> None:
    """The Depends parsing the kernel fetch relies on (vfiogen.debian)."""
    fields = {
        "Depends": "dracut | initramfs-tools (>= 0.120), linux-binary-7.2 (= 7.2-1), kmod:any"
    }
    assert rig.debian.depends(fields) == ["dracut", "linux-binary-7.2", "kmod"]
    assert rig.debian.depends({}) == []


def test_proof_merges_flavors_in_the_issue_shape(tmp_path: Path) -> None:
    """build/hardware/proof.json: schema 1, modes per flavor, per request
    "<flavor>/<mode>" lists; requests never seen are there with empty ok."""
    records = {
        "7.2": {
            "modes": ["type1v2"],
            "requests": {"VFIO_SET_IOMMU": {"ok": ["type1v2"], "errnos": {"EINVAL": ["fuzz"]}}},
        },
        "7.2-full": {
            "modes": ["cdev", "type1v2"],
            "requests": {
                "VFIO_SET_IOMMU": {"ok": ["type1v2"], "errnos": {}},
                "IOMMU_HWPT_ALLOC": {"ok": ["cdev"], "errnos": {"ENOENT": ["cdev"]}},
            },
        },
    }
    path = tmp_path / "build" / "proof.json"
    rig.write_proof(path, records, ["IOMMU_HWPT_ALLOC", "VFIO_EEH_PE_OP", "VFIO_SET_IOMMU"])
    proof = json.loads(path.read_text())
    assert proof["schema"] == 1
    assert proof["modes"] == {"7.2": ["type1v2"], "7.2-full": ["cdev", "type1v2"]}
    assert proof["requests"]["VFIO_SET_IOMMU"] == {
        "ok": ["7.2-full/type1v2", "7.2/type1v2"],
        "errnos": {"EINVAL": ["7.2/fuzz"]},
    }
    assert proof["requests"]["IOMMU_HWPT_ALLOC"]["errnos"] == {"ENOENT": ["7.2-full/cdev"]}
    assert proof["requests"]["VFIO_EEH_PE_OP"] == {"ok": [], "errnos": {}}
    assert len(rig.spec_requests()) == 55  # the committed spec's vfio.h + iommufd.h
    assert "fuzz" not in proof  # no fuzzer report: the issue's three keys only


def test_proof_carries_the_fuzzers_reach_under_its_own_key(tmp_path: Path) -> None:
    """guest_proof picks up the fuzzer's report (fuzz-kernel.json) in the
    work dir; merge_proof puts calls and successes per request under "fuzz"."""
    (tmp_path / "proof-guest.json").write_text(json.dumps({"modes": ["type1v2"], "requests": {}}))
    report = {"per_request": {"VFIO_SET_IOMMU": {"calls": 9, "ok": 2, "errnos": {"EBUSY": 7}}}}
    (tmp_path / "fuzz-kernel.json").write_text(json.dumps(report))
    record = rig.guest_proof(tmp_path)
    assert record is not None and record["fuzz"] == {"VFIO_SET_IOMMU": {"calls": 9, "ok": 2}}
    proof = rig.write_proof(tmp_path / "proof.json", {"7.2": record}, ["VFIO_SET_IOMMU"])
    assert proof["fuzz"] == {"7.2": {"VFIO_SET_IOMMU": {"calls": 9, "ok": 2}}}
    assert list(proof)[:3] == ["schema", "modes", "requests"]
