"""The hardware rig: run pytest inside a QEMU guest that has real VFIO.

VFIO needs a kernel, an IOMMU and a PCI device. QEMU's q35 machine with an
emulated Intel IOMMU (interrupt remapping on: without it VFIO_SET_IOMMU fails
with EPERM) and the `edu` teaching device provide all three on any x86_64 host.

1. `fetch_kernel` downloads a Debian kernel's packages with a private apt
   configuration (vfiogen.debian) and unpacks them into the cache; nothing
   is installed on the host. The "7.2-full" flavor is built instead
   (kbuild.py: Debian's linux-source + tinyconfig + its fragment, all built
   in), since no Debian kernel has iommufd, the VFIO cdev or the mdev samples.
2. `build_initramfs` packs busybox, the modules that 9p and vfio-pci need
   (decompressed here: busybox insmod cannot read .xz/.zst; none for a kernel
   that has them built in) and guest-init.sh as /init.
3. `run_pytest` boots it. The host's / is shared read-only over 9p, so the
   guest runs the host's own interpreter on the project under test, and a work
   dir is shared read-write. /init binds edu to vfio-pci, chroots into the host
   root, runs the job script written here (`python -m pytest ...`) and leaves
   rc, pytest.log, junit.xml and the kernel log in the work dir.

TCG is the default: this machine class's /dev/kvm is kvm_pvm, under which
stock kernels hang at boot; `-accel kvm` is used only where KVM is real.

Command line, for debugging and timing:
    python tests/hardware/rig.py fetch 6.1 7.2 7.2-full
    python tests/hardware/rig.py run 7.2 [--work DIR] [-- PYTEST-ARGS...]
(PYTEST-ARGS default to the guest tests, tests/hardware/guest.)

The jobs live in one module each: rig_kernels (flavors, download, build
cache), rig_initramfs, rig_qemu (job, environment, QEMU, run_pytest),
rig_bindings (host-rendered bindings for the guest), rig_results (a boot's
results, the proof). This module re-exports them and is the command line.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rig_bindings import own_bindings, prepare, test_header_bindings
from rig_errors import GuestFailure, MissingPart, RigError
from rig_initramfs import _cpio, _is_static_elf, _modinfo, build_initramfs, find_busybox
from rig_kernels import (
    DEFAULT_KERNELS,
    EDU_ID,
    FLAVORS,
    NVME_ID,
    Flavor,
    Kernel,
    cache_root,
    debian,
    fetch_kernel,
    kernel_dir,
    kernels_under_test,
)
from rig_qemu import (
    GUEST_TESTS,
    QEMU,
    REPO,
    check_host,
    choose_accel,
    find_qemu,
    guest_test_paths,
    qemu_command,
    run_pytest,
    write_job,
)
from rig_results import KERNEL_PROBLEM, GuestResult, guest_proof, spec_requests, write_proof

__all__ = [
    "DEFAULT_KERNELS", "EDU_ID", "FLAVORS", "GUEST_TESTS", "KERNEL_PROBLEM", "NVME_ID", "QEMU",
    "REPO", "Flavor", "GuestFailure", "GuestResult", "Kernel", "MissingPart", "RigError",
    "_cpio", "_is_static_elf", "_modinfo", "build_initramfs", "cache_root", "check_host",
    "choose_accel", "debian", "fetch_kernel", "find_busybox", "find_qemu", "kernel_dir",
    "kernels_under_test", "guest_test_paths", "own_bindings", "prepare", "qemu_command", "run_pytest",
    "test_header_bindings", "write_job", "guest_proof", "spec_requests", "write_proof",
]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rig.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download (or build) kernels into the cache")
    fetch.add_argument("kernels", nargs="*", default=list(DEFAULT_KERNELS))
    fetch.add_argument(
        "--refresh",
        action="store_true",
        help="replace cached kernels with the suites' current ones",
    )
    run = sub.add_parser("run", help="boot a kernel and run pytest in the guest")
    run.add_argument("kernel", choices=sorted(FLAVORS))
    run.add_argument("--work", type=Path, help="work dir (default: a new temporary dir)")
    run.add_argument("--timeout", type=float)
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    try:
        if args.command == "fetch":
            for name in args.kernels:
                k = fetch_kernel(name, refresh=args.refresh)
                print(f"{k.name}: {k.version} ({k.release}) {k.vmlinuz}")
            return 0
        work = args.work or Path(tempfile.mkdtemp(prefix=f"vfiogen-rig-{args.kernel}-"))
        result = run_pytest(
            args.kernel, pytest_args or guest_test_paths(args.kernel), work, timeout=args.timeout,
            cwd=Path.cwd(), prepare=prepare,
        )  # fmt: skip
    except RigError as exc:
        print(f"rig: {exc}", file=sys.stderr)
        return 2
    print(result.pytest_output, end="")
    problems = result.kernel_problems()
    for line in problems:
        print(f"rig: kernel log: {line}")
    print(
        f"rig: kernel {result.kernel.name} ({result.kernel.release}), {result.accel}: "
        f"guest pytest exit {result.returncode}, {len(problems)} kernel log problem(s), "
        f"wall {result.wall:.1f} s, work dir {work}"
    )
    return 0 if result.returncode == 0 and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
