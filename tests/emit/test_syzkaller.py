"""syzkaller's own description compiler accepts generated/fuzz/ (issue 13).

The oracle is syzkaller's parser and compiler (the pinned kit in
../shared/reference/syzkaller, built by tests/install-syzcheck.sh into the
cache): each description file with its .const file, in both modes, on the
arches syzbot fuzzes most. Accepted means: no error anywhere, no warning
about our file, every one of our calls compiled, none that the fuzzer would
never enable (`-reach`), and the file in syz-fmt's canonical form (`-fmt`).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from support import IN_CI, release_spec
from vfiogen.emit.fuzz import syz

ROOT = Path(__file__).resolve().parents[2]
FUZZ = ROOT / "generated" / "fuzz"
ARCHES = ("amd64", "386", "arm64", "ppc64le")
# mode -> (our file, syzkaller files it stands for)
MODES = {
    "replace": ("vfio.txt", "dev_vfio.txt,dev_iommu.txt"),
    "alongside": ("vfio_alongside.txt", ""),
}


@pytest.fixture(scope="session")
def syzcheck() -> Path:
    """The checker binary, built (or found in the cache) by the install script."""
    proc = subprocess.run(
        ["bash", str(ROOT / "tests" / "install-syzcheck.sh")], capture_output=True, text=True
    )
    if proc.returncode:
        message = f"cannot build syzcheck:\n{proc.stderr[-2000:]}"
        if IN_CI or "no syzkaller kit" not in proc.stderr:
            pytest.fail(message)
        pytest.skip(message)
    return Path(proc.stdout.strip().splitlines()[-1])


def check(syzcheck: Path, mode: str, arch: str, *extra: str) -> subprocess.CompletedProcess[str]:
    txt, drop = MODES[mode]
    sys_dir = syzcheck.parent.parent / "syzkaller" / "sys" / "linux"
    cmd = [str(syzcheck), "-arch", arch, "-sys", str(sys_dir), "-extra", str(FUZZ / txt)]
    cmd += ["-const", str(FUZZ / f"{txt}.const"), *extra]
    if drop:
        cmd += ["-drop", drop]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("mode", MODES)
def test_syzkaller_accepts(syzcheck: Path, mode: str, arch: str) -> None:
    proc = check(syzcheck, mode, arch, "-reach", "-fmt")
    out = proc.stdout + proc.stderr
    ours = [line for line in out.splitlines() if MODES[mode][0] + ":" in line]
    assert ours == [], "\n".join(ours[:20])
    assert proc.returncode == 0, out[-3000:]
    summary = out.strip().splitlines()[-1]
    assert summary.startswith(f"OK: linux/{arch},"), summary
    m = re.search(r"\((\d+) of the (\d+) calls of the extra files\)", summary)
    assert m and m.group(1) == m.group(2) and int(m.group(2)) > 70, summary
    assert " 0 warning(s)" in summary, summary


def test_syzcheck_is_an_oracle(syzcheck: Path, tmp_path: Path) -> None:
    """It rejects what the kit's README says syzkaller rejects: an output
    flags field, and a resource only an inout field of its own call creates."""
    text = (FUZZ / "vfio.txt").read_text()
    broken = re.sub(
        r"(\tflags\t+)int32\t\(out\)", r"\1flags[vfio_extensions, int32]\t(out)", text, 1
    )
    assert broken != text
    (tmp_path / "vfio.txt").write_text(broken)
    (tmp_path / "vfio.txt.const").write_text((FUZZ / "vfio.txt.const").read_text())
    sys_dir = syzcheck.parent.parent / "syzkaller" / "sys" / "linux"
    proc = subprocess.run(
        [str(syzcheck), "-sys", str(sys_dir), "-drop", "dev_vfio.txt,dev_iommu.txt"]
        + ["-extra", str(tmp_path / "vfio.txt"), "-const", str(tmp_path / "vfio.txt.const")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "flags type must not be used as output" in proc.stdout + proc.stderr


def test_readme_counts_of_syzkallers_own_descriptions(syzcheck: Path) -> None:
    """The side-by-side table of generated/fuzz/README.md: the requests of our
    headers that syzkaller's own files issue, per fd kind, are what
    SYZKALLER_OWN says, at the kit's commit."""
    spec = release_spec("7.2")
    sys_dir = syzcheck.parent.parent / "syzkaller" / "sys" / "linux"
    text = (sys_dir / "dev_vfio.txt").read_text() + (sys_dir / "dev_iommu.txt").read_text()
    found: dict[str, set[str]] = {}
    for resource, cmd in re.findall(r"^ioctl\$\S+?\(fd (\w+), cmd const\[(\w+)\]", text, re.M):
        found.setdefault(resource, set())
        if cmd in spec.requests:
            found[resource].add(cmd)
    for kind, (resource, count) in syz.SYZKALLER_OWN.items():
        ours = {c for c in found[resource] if spec.requests[c].fd == kind}
        assert len(ours) == count, (kind, sorted(ours))
    assert set(found) == {name for name, _ in syz.SYZKALLER_OWN.values()}
    assert syz.SYZKALLER_COMMIT in (syzcheck.parent.parent / "syzkaller" / "SUBSET").read_text()
