"""Bindings rendered on the host for a guest, into its work dir (the tier's
`prepare` step): the vfio package of the kernel's own release, and the
bindings of iommufd's self-test header for a kernel built with
CONFIG_IOMMUFD_TEST."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rig_errors import RigError
from rig_kernels import FLAVORS, Kernel, kernel_dir
from rig_results import tail
from vfiogen.inputs import releases, sources

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# The overlay of drivers/iommu/iommufd/iommufd_test.h (not UAPI, so not shipped).
TEST_HEADER_OVERLAY = HERE / "iommufd_test.toml"
# Where kbuild.install keeps the header of a kernel built with IOMMUFD_TEST.
TEST_HEADER = Path("src") / "iommufd_test.h"


def prepare(kernel: Kernel, work: Path) -> None:
    """Everything the guest tests need from the host, for `kernel`."""
    own_bindings(kernel, work)
    test_header_bindings(kernel, work)


def own_bindings(kernel: Kernel, work: Path) -> None:
    """Render, on the host, the bindings of this kernel's own release (the
    newest pinned release not newer than its series) into the work dir, for
    the guest's compatibility-matrix test (guest/test_compat_matrix.py)."""
    flavor = FLAVORS.get(kernel.name)
    key = releases.version_key(flavor.series if flavor else kernel.name)  # 7.2-full: 7.2
    release = [p for p in releases.load_pins() if releases.version_key(p) <= key][-1]
    # In a process of its own: the tier prepares its flavors in threads, and
    # CPython 3.11's AST constructor is not thread-safe (the docs read the
    # runtime's sources with ast; see vfiogen.emit.pyparse).
    _vfiogen("build", release, "-q", "--out", str(work / "bindings"))
    (work / "bindings" / "release.json").write_text(json.dumps({"release": release}))


def test_header_bindings(kernel: Kernel, work: Path) -> None:
    """`vfiogen build --header iommufd_test.h` into work/iommufd_test, when the
    kernel was built with its self-test header (the guest's mock-domain tests
    load those bindings; without them they fail on a flavor that has
    /sys/class/iommu/iommufd_selftest_iommu.0). The include dirs are those of
    the pinned release of the kernel's series (linux/iommufd.h, asm/ioctl.h)."""
    header = kernel_dir(kernel.name) / TEST_HEADER
    out = work / "iommufd_test"
    if not header.is_file():
        return
    flavor = FLAVORS.get(kernel.name)
    release = flavor.series if flavor else kernel.name
    includes = sources.from_release(release, quiet=True).include_dirs("x86_64")
    cmd = ["build", "--header", str(header)]
    cmd += [arg for d in includes for arg in ("-I", str(d))]
    cmd += ["--abis", "x86_64", "--overlay", str(TEST_HEADER_OVERLAY), "-q", "--out", str(out)]
    _vfiogen(*cmd)


def _vfiogen(*args: str) -> None:
    """Run this checkout's vfiogen (gen/ first on the path); RigError with the
    end of its stderr when it fails."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "gen")] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    cmd = [sys.executable, "-m", "vfiogen", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    if proc.returncode:
        raise RigError(f"vfiogen {' '.join(args)}: {tail(proc.stderr, 5)}")
