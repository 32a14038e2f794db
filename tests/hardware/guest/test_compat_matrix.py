"""Compatibility matrix: the newest bindings (the committed generated/ that
the other guest tests import) and the bindings generated from this kernel's
own release header (rendered by the host into the rig's work dir) both pass
the legacy-path tests on this kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

LEGACY = Path(__file__).parent / "test_vfio_legacy.py"


def test_own_release_bindings_pass(guest_kernel: str) -> None:
    own = Path(os.environ["VFIOGEN_RIG_WORK"]) / "bindings"
    release = json.loads((own / "release.json").read_text())["release"]
    assert (
        own / "vfio/abi.py"
    ).is_file(), f"the host rendered no bindings for {guest_kernel} into {own}"
    env = {**os.environ, "VFIO_BINDINGS": str(own)}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(LEGACY)],
        env=env,
        capture_output=True,
        text=True,
        cwd=LEGACY.parent,
    )
    assert (
        out.returncode == 0
    ), f"bindings of release {release} failed on {guest_kernel}:\n{out.stdout[-3000:]}"
    probe = [sys.executable, "-c", "import vfio; print(vfio.KERNEL_RELEASE)"]
    answer = subprocess.run(
        probe, env={**env, "PYTHONPATH": str(own)}, capture_output=True, text=True
    )
    assert answer.stdout.strip() == release
