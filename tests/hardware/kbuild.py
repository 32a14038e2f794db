"""Build the rig's own kernels: the whole VFIO + iommufd ABI, everything built in.

No Debian kernel enables CONFIG_IOMMUFD or CONFIG_VFIO_DEVICE_CDEV (nor
IOMMUFD_TEST or the mdev samples), so those paths can only be tested on a
kernel built here. A Debian source package (for the 7.2-full flavor: sid's
linux-source-7.2, downloaded with the private apt configuration of
vfiogen.debian) is configured with `make ARCH=x86_64 tinyconfig` plus the
flavor's fragment (kbuild-7.2-full.fragment; every line must survive
olddefconfig) and built with `make bzImage`: 12-25 minutes on 2 cores.
There are no modules; the initramfs carries none.

The result is cached in <cache>/kernels/<flavor> in the layout rig.py reads
(kernel.json, boot/vmlinuz-*, lib/modules/<release>/modules.builtin), keyed
by a hash of the fragment, the source package version and RECIPE. A build
of the current fragment is used as is (offline, like a downloaded kernel);
a changed fragment rebuilds, and so does a new source version once
`refresh` (rig.py fetch --refresh) has read the suite's lists again. The
unpacked source and the object dir stay in <cache>/kbuild/<flavor>, so a
fragment change rebuilds incrementally.

This module does not import the rig (rig.py also runs as a script);
rig_kernels.fetch_kernel calls `ensure_kernel` and turns KbuildError /
MissingTool into the rig's own errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from vfiogen.inputs import debian
from vfiogen.errors import SourceError

HERE = Path(__file__).resolve().parent
ARCH = "x86_64"  # plain tinyconfig would switch 64BIT off (an i386 kernel)
BASE_CONFIG = "tinyconfig"
# Bump when the build steps change in a way the fragment's hash does not show.
RECIPE = 2  # 2: the self-test header is kept next to the kernel
# Host tools of the build (install-deps.sh installs them), and why each.
BUILD_TOOLS = {
    "make": "build-essential",
    "gcc": "build-essential",
    "ld": "binutils (build-essential)",
    "bison": "bison",
    "flex": "flex",
    "bc": "bc",
    "xz": "xz-utils",
    "tar": "tar",
    "dpkg-deb": "dpkg",
}
LIBELF_HEADER = Path("/usr/include/gelf.h")  # objtool needs libelf-dev
TEST_HEADER_IN_TREE = Path("drivers/iommu/iommufd/iommufd_test.h")
FRAGMENT_LINE = re.compile(r"^(CONFIG_\w+)=(.*)$|^# (CONFIG_\w+) is not set$")


class KbuildError(Exception):
    """The kernel could not be configured or built (the message says where to look)."""


class MissingTool(KbuildError):
    """A build tool is not installed (tests/hardware/install-deps.sh installs it)."""


class Superseded(KbuildError):
    """The source package version in the cached apt lists is no longer on the mirror."""


@dataclass(frozen=True, slots=True)
class Source:
    """A Debian kernel source package: linux-source-X.Y in a suite."""

    suite: str
    package: str
    fragment: Path  # the options on top of tinyconfig (one file per flavor)


def ensure_kernel(
    name: str,
    source: Source,
    dest: Path,
    work: Path,
    apt_root: Path,
    *,
    refresh: bool = False,
    jobs: int | None = None,
) -> dict:
    """The kernel.json of flavor `name` in `dest`, built first unless `dest`
    holds a build of the current fragment and recipe. Like a downloaded
    kernel, a cached build is used as is (no apt call, works offline);
    `refresh` re-reads the suite's package lists first and rebuilds when the
    source package has a new version."""
    fragment_text = source.fragment.read_text()
    wanted = read_fragment(source.fragment)
    cached = _cached_info(dest)
    if cached and not refresh:
        if cached.get("key") == build_key(source, cached.get("version", ""), fragment_text):
            return cached
    try:
        version = debian.show(apt_root, source.suite, source.package, refresh=refresh)["Version"]
    except (SourceError, KeyError) as exc:
        raise KbuildError(f"{source.package} in Debian {source.suite}: {exc}") from None
    key = build_key(source, version, fragment_text)
    if cached and cached.get("key") == key:
        return cached
    check_tools()
    start = time.monotonic()
    try:
        src = unpack_source(source, version, work, apt_root)
    except Superseded:
        if refresh:
            raise
        _log(f"{source.package} {version} is gone from the mirror: reading its lists again")
        return ensure_kernel(name, source, dest, work, apt_root, refresh=True, jobs=jobs)
    obj = work / f"obj-{_safe(version)}"
    configure(src, obj, wanted, key, source.fragment)
    build_seconds = make_bzimage(src, obj, jobs)
    info = install(name, source, version, key, src, obj, dest)
    info["build_seconds"] = round(build_seconds, 1)
    info["total_seconds"] = round(time.monotonic() - start, 1)
    (dest / "kernel.json").write_text(json.dumps(info, indent=2) + "\n")
    _log(f"built {info['release']} in {info['total_seconds']:.0f} s ({dest})")
    return info


def _cached_info(dest: Path) -> dict | None:
    """The cached build's kernel.json, if it is complete."""
    try:
        info = json.loads((dest / "kernel.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not (dest / str(info.get("vmlinuz", "-"))).is_file():
        return None
    return info


def build_key(source: Source, version: str, fragment: str) -> str:
    """What the cached kernel depends on, hashed: recipe, base, source, fragment."""
    text = f"recipe {RECIPE}\n{ARCH} {BASE_CONFIG}\n{source.package} {version}\n{fragment}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_fragment(path: Path) -> dict[str, str]:
    """CONFIG_X -> its value ("y", "m", '"text"', "123", or "n" for "is not set");
    any other non-comment line is an error, so a typo cannot be ignored."""
    wanted: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        m = FRAGMENT_LINE.match(line)
        if m:
            wanted[m.group(1) or m.group(3)] = m.group(2) if m.group(1) else "n"
        elif line and not line.startswith("#"):
            raise KbuildError(f"{path}:{number}: not a Kconfig line: {line!r}")
    return wanted


def parse_config(text: str) -> dict[str, str]:
    """A .config as CONFIG_X -> value; "is not set" is "n"."""
    config: dict[str, str] = {}
    for line in text.splitlines():
        m = FRAGMENT_LINE.match(line.strip())
        if m:
            config[m.group(1) or m.group(3)] = m.group(2) if m.group(1) else "n"
    return config


def check_tools() -> None:
    """Raise MissingTool naming the Debian packages to install."""
    missing = sorted({pkg for tool, pkg in BUILD_TOOLS.items() if shutil.which(tool) is None})
    if not LIBELF_HEADER.exists():
        missing.append("libelf-dev")
    if missing:
        raise MissingTool(
            f"cannot build the iommufd kernel without {', '.join(missing)} "
            "(run tests/hardware/install-deps.sh)"
        )


def unpack_source(source: Source, version: str, work: Path, apt_root: Path) -> Path:
    """The unpacked source tree of `version` in `work` (downloaded and
    unpacked once; trees and object dirs of other versions are removed)."""
    src = work / f"src-{_safe(version)}"
    stamp = src / ".vfiogen-unpacked"
    if stamp.exists():
        return src
    work.mkdir(parents=True, exist_ok=True)
    for old in list(work.glob("src-*")) + list(work.glob("obj-*")):
        if old.name not in (src.name, f"obj-{_safe(version)}"):
            _log(f"removing {old} (another source version)")
            shutil.rmtree(old)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=work))
    try:
        _log(f"downloading {source.package} {version} from Debian {source.suite}")
        try:
            deb = debian.download(apt_root, source.suite, source.package, staging / "debs")
        except SourceError as exc:
            raise Superseded(f"{source.package} {version}: {exc}") from None
        try:
            debian.extract(deb, staging / "deb")
        except SourceError as exc:
            raise KbuildError(f"{deb.name}: {exc}") from None
        tarballs = sorted((staging / "deb" / "usr" / "src").glob("linux-source-*.tar.*"))
        if not tarballs:
            raise KbuildError(f"{deb.name} holds no usr/src/linux-source-*.tar.*")
        _log(f"unpacking {tarballs[0].name}")
        _run(["tar", "-xf", str(tarballs[0]), "-C", str(staging)], staging, "tar")
        trees = [p for p in staging.glob("linux-source-*") if p.is_dir()]
        if len(trees) != 1:
            raise KbuildError(f"{tarballs[0].name}: expected one linux-source-* directory")
        if src.exists():
            shutil.rmtree(src)
        trees[0].rename(src)
        stamp.write_text(f"{source.package} {version}\n")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return src


def configure(src: Path, obj: Path, wanted: dict[str, str], key: str, fragment: Path) -> None:
    """tinyconfig, the fragment on top, olddefconfig; then every fragment line
    must have survived (a dependency the fragment lacks silently drops an
    option: better to stop here than to boot a kernel without it)."""
    stamp = obj / ".vfiogen-config"
    if stamp.exists() and stamp.read_text().strip() == key:
        return
    obj.mkdir(parents=True, exist_ok=True)
    _log(f"configuring {obj} ({BASE_CONFIG} + {fragment.name})")
    _make(src, obj, [BASE_CONFIG])
    config = obj / ".config"
    fragment_names = set(wanted)
    kept = [
        line
        for line in config.read_text().splitlines()
        if not (m := FRAGMENT_LINE.match(line)) or (m.group(1) or m.group(3)) not in fragment_names
    ]
    added = [f"# {k} is not set" if v == "n" else f"{k}={v}" for k, v in wanted.items()]
    config.write_text("\n".join(kept + added) + "\n")
    _make(src, obj, ["olddefconfig"])
    final = parse_config(config.read_text())
    lost = [
        f"{k}={v} (now {final.get(k, 'absent')})"
        for k, v in wanted.items()
        if final.get(k, "n") != v
    ]
    if lost:
        raise KbuildError(
            f"{fragment}: olddefconfig dropped {len(lost)} option(s) (missing "
            f"dependencies?): {'; '.join(lost)}"
        )
    stamp.write_text(key + "\n")


def make_bzimage(src: Path, obj: Path, jobs: int | None) -> float:
    """`make bzImage`, incremental; its seconds. Output goes to obj/build.log."""
    jobs = jobs or len(os.sched_getaffinity(0))
    _log(f"make -j{jobs} bzImage in {obj} (12-25 min on 2 cores from scratch; log: build.log)")
    start = time.monotonic()
    _make(src, obj, [f"-j{jobs}", "bzImage"], log=obj / "build.log")
    return time.monotonic() - start


def install(
    name: str, source: Source, version: str, key: str, src: Path, obj: Path, dest: Path
) -> dict:
    """Copy the bzImage, .config and the list of built-in modules into `dest`
    (atomically replaced) in rig.py's kernel layout; returns the kernel.json.
    A kernel with CONFIG_IOMMUFD_TEST also gets src/iommufd_test.h, the
    (non-UAPI) header of IOMMU_TEST_CMD, which the rig compiles with vfiogen."""
    release = (obj / "include" / "config" / "kernel.release").read_text().strip()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest.parent))
    try:
        staging.chmod(0o755)  # mkdtemp's 0700, but it becomes the kernel's cache dir
        boot = staging / "boot"
        moddir = staging / "lib" / "modules" / release
        boot.mkdir()
        moddir.mkdir(parents=True)
        shutil.copyfile(obj / "arch" / "x86" / "boot" / "bzImage", boot / f"vmlinuz-{release}")
        shutil.copyfile(obj / ".config", boot / f"config-{release}")
        if parse_config((obj / ".config").read_text()).get("CONFIG_IOMMUFD_TEST") == "y":
            (staging / "src").mkdir()
            shutil.copyfile(src / TEST_HEADER_IN_TREE, staging / "src" / "iommufd_test.h")
        (moddir / "modules.builtin").write_text(
            "".join(f"kernel/{m}.ko\n" for m in builtin_modules(obj))
        )
        info = {
            "name": name,
            "suite": source.suite,
            "version": version,
            "packages": [source.package],
            "release": release,
            "vmlinuz": f"boot/vmlinuz-{release}",
            "moddir": f"lib/modules/{release}",
            "built": True,
            "key": key,
            "fragment": str(source.fragment),
        }
        (staging / "kernel.json").write_text(json.dumps(info, indent=2) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return info


def builtin_modules(obj: Path) -> list[str]:
    """Names of the modules built into the kernel, from the .modinfo section
    kbuild extracts (modules.builtin.modinfo: "vfio_pci.license=GPL\\0...");
    the rig's initramfs builder checks its wanted modules against them."""
    path = obj / "modules.builtin.modinfo"
    if not path.exists():
        raise KbuildError(f"{path} missing: cannot tell which modules are built in")
    names = {
        entry.split(".", 1)[0]
        for entry in path.read_bytes().decode(errors="replace").split("\0")
        if "." in entry.split("=", 1)[0]
    }
    return sorted(n.replace("-", "_") for n in names)


def _make(src: Path, obj: Path, targets: list[str], log: Path | None = None) -> None:
    cmd = ["make", "-s", "-C", str(src), f"O={obj}", f"ARCH={ARCH}", *targets]
    env = dict(os.environ, KBUILD_BUILD_USER="vfiogen", KBUILD_BUILD_HOST="rig")
    log = log or obj / "make.log"  # kept for a post-mortem
    try:
        with open(log, "w") as out:
            proc = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    except OSError as exc:
        raise MissingTool(f"cannot run make: {exc}") from None
    output = log.read_text(errors="replace")
    if proc.returncode:
        tail = "\n".join(output.strip().splitlines()[-30:])
        raise KbuildError(f"{' '.join(cmd)} failed, exit {proc.returncode} (log {log}):\n{tail}")


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except OSError as exc:
        raise MissingTool(f"cannot run {what}: {exc}") from None
    if proc.returncode:
        raise KbuildError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}")


def _safe(version: str) -> str:
    """A Debian version as a path component: 6.12.95-1~bpo12+1 -> 6.12.95-1_bpo12_1."""
    return re.sub(r"[^A-Za-z0-9.-]", "_", version)


def _log(message: str) -> None:
    print(f"rig: kbuild: {message}", file=sys.stderr, flush=True)
