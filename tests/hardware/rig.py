"""The hardware rig: run pytest inside a QEMU guest that has real VFIO.

VFIO needs a kernel, an IOMMU and a PCI device. QEMU's q35 machine with an
emulated Intel IOMMU (interrupt remapping on: without it VFIO_SET_IOMMU fails
with EPERM) and the `edu` teaching device provide all three on any x86_64 host.

1. `fetch_kernel` downloads a Debian kernel's packages with a private apt
   configuration (vfiogen.debian) and unpacks them into the cache; nothing
   is installed on the host. The "-iommufd" flavor is built instead
   (kbuild.py: Debian's linux-source + tinyconfig + kbuild.fragment, all
   built in), since no Debian kernel has iommufd or the VFIO cdev.
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
    python tests/hardware/rig.py fetch 6.1 7.2 6.12-iommufd
    python tests/hardware/rig.py run 7.2 [--work DIR] [-- PYTEST-ARGS...]
(PYTEST-ARGS default to the guest tests, tests/hardware/guest.)
"""

from __future__ import annotations

import argparse
import fcntl
import gzip
import json
import lzma
import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import kbuild
from vfiogen.inputs import debian
from vfiogen.inputs import releases
from vfiogen.errors import SourceError

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
GUEST_TESTS = HERE / "guest"
GUEST_INIT = HERE / "guest-init.sh"

EDU_ID = "1234:11e8"
PT_INTERP = 3  # ELF program header naming the dynamic loader
QEMU = "qemu-system-x86_64"
# Seconds per boot before QEMU is killed: a hang detector, not a budget (a
# run takes 20-50 s under TCG here; this host's speed varies by 2x and more).
DEFAULT_TIMEOUT = 600.0
# Guest CPUs. One: with TCG on a 2-core host, a second vCPU thread competes
# with QEMU's 9p workers and made boots slower and far more variable.
DEFAULT_CPUS = 1
# Modules the guest needs, with their dependencies added from modinfo.
# Any of them may be built in (=y); a wanted one that is neither is an error.
WANTED_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "vfio_pci", "vfio_iommu_type1")
# Loaded when the kernel has them (no Debian kernel builds iommufd).
OPTIONAL_MODULES = ("iommufd",)
# Options of every guest pytest run. The cache provider would write into the
# read-only project; hypothesis's plugin costs ~8 s of TCG time per boot just
# to import (tests may still `import hypothesis` and pay for it themselves).
GUEST_PYTEST_OPTIONS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
# Kernel log lines that fail the tier: warnings, BUGs, oopses, lockdep splats.
KERNEL_PROBLEM = re.compile(
    r"WARNING|\bBUG\b|Oops|lockdep|possible (circular|recursive) locking"
    r"|Call Trace|Kernel panic|general protection fault|UBSAN|KASAN"
)


@dataclass(frozen=True, slots=True)
class Flavor:
    """A kernel the rig can boot: the version series and the Debian suite
    whose `linux-image-amd64` currently points at it; or, with `source`, a
    kernel built from that Debian source package (kbuild.py)."""

    name: str
    suite: str
    source: kbuild.Source | None = None

    @property
    def series(self) -> str:
        """The kernel version series: "6.12" for "6.12" and "6.12-iommufd"."""
        return self.name.partition("-")[0]


FLAVORS = {
    f.name: f
    for f in (
        Flavor("6.1", "bookworm"),
        Flavor("6.12", "bookworm-backports"),
        Flavor("7.2", "sid"),
        # iommufd + VFIO cdev: no Debian kernel has them (~4 min build, cached)
        Flavor(
            "6.12-iommufd",
            "bookworm-backports",
            kbuild.Source("bookworm-backports", "linux-source-6.12"),
        ),
    )
}
DEFAULT_KERNELS = ("6.1", "7.2", "6.12-iommufd")


class RigError(Exception):
    """The rig could not produce a result (bad kernel package, bad host path...)."""


class MissingPart(RigError):
    """A host tool the rig needs is absent; tests skip on it (fail under CI=true)."""


class GuestFailure(RigError):
    """QEMU died, the guest timed out, or /init did not finish the job."""


@dataclass(frozen=True, slots=True)
class Kernel:
    """An unpacked Debian kernel in the cache."""

    name: str  # the flavor: "6.1"
    suite: str
    version: str  # the package version: "6.1.176-1"
    release: str  # uname -r: "6.1.0-50-amd64"
    vmlinuz: Path
    moddir: Path  # .../lib/modules/<release>


@dataclass(slots=True)
class GuestResult:
    """What one boot left in its work dir."""

    kernel: Kernel
    work: Path
    returncode: int  # the guest pytest's exit status
    wall: float  # seconds from QEMU launch to power-off
    accel: str

    def read(self, name: str) -> str:
        path = self.work / name
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def pytest_output(self) -> str:
        return self.read("pytest.log")

    @property
    def dmesg(self) -> str:
        return self.read("dmesg.txt")

    @property
    def junit(self) -> Path:
        return self.work / "junit.xml"

    def counts(self) -> dict[str, int]:
        """Test counts from the guest's JUnit XML: tests, failures, errors, skipped."""
        keys = ("tests", "failures", "errors", "skipped")
        try:
            root = ET.parse(self.junit).getroot()
        except (OSError, ET.ParseError):
            return {}
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        return {k: sum(int(s.get(k, 0)) for s in suites) for k in keys}

    def kernel_problems(self) -> list[str]:
        """Kernel log lines that look like a warning, BUG, oops or lockdep report."""
        return [line for line in self.dmesg.splitlines() if KERNEL_PROBLEM.search(line)]

    def describe(self, lines: int = 60) -> str:
        """The pytest output and kernel log tails, for a failure message."""
        return (
            f"--- guest pytest output ({self.work / 'pytest.log'}) ---\n"
            f"{_tail(self.pytest_output, lines)}\n"
            f"--- guest kernel log tail ({self.work / 'dmesg.txt'}) ---\n"
            f"{_tail(self.dmesg, lines // 2)}"
        )


def cache_root() -> Path:
    """$VFIOGEN_CACHE/rig, else ~/.cache/vfiogen/rig."""
    return releases.cache_dir() / "rig"


def kernels_under_test() -> list[str]:
    """The kernels the hardware tier boots: $VFIOGEN_RIG_KERNELS (comma
    separated, e.g. "6.1,6.12,7.2"), default 6.1, 7.2 and 6.12-iommufd."""
    names = os.environ.get("VFIOGEN_RIG_KERNELS", ",".join(DEFAULT_KERNELS))
    return [n.strip() for n in names.split(",") if n.strip()]


# --- host tools -------------------------------------------------------------


def check_host() -> None:
    """Raise MissingPart unless QEMU (with edu) and a static busybox are here."""
    find_qemu()
    find_busybox()


@lru_cache(maxsize=None)
def find_qemu() -> str:
    qemu = shutil.which(QEMU)
    if qemu is None:
        raise MissingPart(f"{QEMU} not found (run tests/hardware/install-deps.sh)")
    try:
        devices = subprocess.run(
            [qemu, "-device", "help"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MissingPart(f"{qemu} does not run: {exc}") from None
    for device in ('"edu"', '"intel-iommu"'):
        if device not in devices:
            raise MissingPart(f"{qemu} has no {device} device")
    return qemu


@lru_cache(maxsize=None)
def find_busybox() -> Path:
    """A statically linked busybox: the initramfs has no libc for it."""
    found = [Path(p) for p in ("/bin/busybox", shutil.which("busybox") or "") if p]
    found = [p for p in found if p.is_file()]
    for path in found:
        if _is_static_elf(path):
            return path
    if found:
        raise MissingPart(f"{found[0]} is dynamically linked (install busybox-static)")
    raise MissingPart("busybox not found (run tests/hardware/install-deps.sh)")


def _is_static_elf(path: Path) -> bool:
    """True for an ELF64 without a PT_INTERP program header (no dynamic loader)."""
    with path.open("rb") as f:
        head = f.read(64)
        if len(head) < 64 or head[:5] != b"\x7fELF\x02":
            return False
        (phoff,) = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    types = [struct.unpack_from("<I", table, i * phentsize)[0] for i in range(phnum)]
    return PT_INTERP not in types


def choose_accel() -> str:
    """$VFIOGEN_RIG_ACCEL (tcg, kvm, auto; default auto). auto picks KVM only
    where it is real hardware virtualisation; kvm_pvm (a software nested KVM)
    hangs stock kernels at "Probing EDD", so it means TCG."""
    accel = os.environ.get("VFIOGEN_RIG_ACCEL", "auto")
    if accel in ("tcg", "kvm"):
        return accel
    if accel != "auto":
        raise RigError(f"VFIOGEN_RIG_ACCEL={accel!r}: expected tcg, kvm or auto")
    modules = Path("/sys/module")
    usable = (
        os.access("/dev/kvm", os.R_OK | os.W_OK)
        and not (modules / "kvm_pvm").exists()
        and ((modules / "kvm_intel").exists() or (modules / "kvm_amd").exists())
    )
    return "kvm" if usable else "tcg"


# --- kernels ----------------------------------------------------------------


def fetch_kernel(name: str, refresh: bool = False) -> Kernel:
    """The cached kernel `name` ("6.1", "7.2"), downloaded on first use.

    The packages are whatever the flavor's suite has today (its lists are
    refreshed first: suites drop superseded kernels), checked to still be the
    `name` series. `refresh` replaces a cached kernel with today's. A built
    flavor ("6.12-iommufd") is built on first use and whenever its fragment
    or source version changed (`refresh`: today's source version)."""
    flavor = FLAVORS.get(name)
    if flavor is None:
        raise RigError(f"unknown kernel {name!r}; known: {', '.join(FLAVORS)}")
    dest = cache_root() / "kernels" / name
    if flavor.source is None and not refresh and (dest / "kernel.json").exists():
        return _load_kernel(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one download (or build) per kernel at a time
        if flavor.source is not None:
            return _build_kernel(flavor, dest, refresh)
        if not refresh and (dest / "kernel.json").exists():
            return _load_kernel(dest)
        try:
            return _download_kernel(flavor, dest)
        except SourceError as exc:
            raise RigError(f"kernel {name} (Debian {flavor.suite}): {exc}") from None


def _build_kernel(flavor: Flavor, dest: Path, refresh: bool) -> Kernel:
    """The built flavor, from the cache when its key (fragment, source
    version, recipe) is unchanged; a missing build tool is a MissingPart."""
    assert flavor.source is not None
    try:
        kbuild.ensure_kernel(
            flavor.name,
            flavor.source,
            dest,
            cache_root() / "kbuild",
            cache_root(),
            refresh=refresh,
        )
    except kbuild.MissingTool as exc:
        raise MissingPart(f"kernel {flavor.name}: {exc}") from None
    except kbuild.KbuildError as exc:
        raise RigError(f"kernel {flavor.name}: {exc}") from None
    return _load_kernel(dest)


def _download_kernel(flavor: Flavor, dest: Path) -> Kernel:
    """Resolve linux-image-amd64 in the suite, download the image package and,
    where the suite splits it (sid: linux-binary-/linux-modules-/linux-base-),
    its parts; unpack them all into `dest`."""
    apt_root = cache_root()
    meta = debian.show(apt_root, flavor.suite, "linux-image-amd64", refresh=True)
    images = [d for d in debian.depends(meta) if re.match(r"linux-image-\d", d)]
    if not images:
        raise RigError(f"{flavor.suite}: linux-image-amd64 depends on no linux-image-<version>")
    image = images[0]
    fields = debian.show(apt_root, flavor.suite, image)
    version = fields.get("Version", "")
    if not version.startswith(flavor.name + "."):
        raise RigError(
            f"Debian {flavor.suite}'s kernel is now {version}, not {flavor.name}: "
            f"update FLAVORS in {Path(__file__).name}"
        )
    abi = image.removeprefix("linux-image-")
    parts = [image] + [
        d
        for d in debian.depends(fields)
        if d in (f"linux-binary-{abi}", f"linux-modules-{abi}", f"linux-base-{abi}")
    ]
    staging = Path(tempfile.mkdtemp(prefix=f".{flavor.name}-", dir=dest.parent))
    try:
        debs = staging / "debs"
        tree = staging / "tree"
        for package in parts:
            print(f"rig: downloading {package} from Debian {flavor.suite}", file=sys.stderr)
            debian.extract(debian.download(apt_root, flavor.suite, package, debs), tree)
        vmlinuz = sorted(tree.glob("boot/vmlinuz-*")) + sorted(
            tree.glob("usr/lib/modules/*/vmlinuz")
        )
        moddirs = [
            d.parent
            for d in sorted(tree.glob("lib/modules/*/kernel"))
            + sorted(tree.glob("usr/lib/modules/*/kernel"))
        ]
        if not vmlinuz or not moddirs:
            raise RigError(f"{', '.join(parts)}: no vmlinuz or lib/modules/*/kernel inside")
        info = {
            "name": flavor.name,
            "suite": flavor.suite,
            "version": version,
            "packages": parts,
            "release": moddirs[0].name,
            "vmlinuz": str(vmlinuz[0].relative_to(tree)),
            "moddir": str(moddirs[0].relative_to(tree)),
        }
        (tree / "kernel.json").write_text(json.dumps(info, indent=2) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        tree.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _load_kernel(dest)


def _load_kernel(dest: Path) -> Kernel:
    info = json.loads((dest / "kernel.json").read_text())
    kernel = Kernel(
        name=info["name"],
        suite=info["suite"],
        version=info["version"],
        release=info["release"],
        vmlinuz=dest / info["vmlinuz"],
        moddir=dest / info["moddir"],
    )
    modules = (kernel.moddir / "kernel").is_dir() or (kernel.moddir / "modules.builtin").is_file()
    if not kernel.vmlinuz.is_file() or not modules:
        raise RigError(f"cached kernel {dest} is incomplete: delete it to fetch it again")
    return kernel


# --- initramfs --------------------------------------------------------------


def build_initramfs(kernel: Kernel, out: Path) -> list[str]:
    """Write the guest's initramfs (gzip'd cpio) to `out`; returns the modules
    in load order (dependencies first). A kernel without modules (no
    <moddir>/kernel, everything in modules.builtin) gets an empty list; its
    module parameters must then be on the kernel command line."""
    tree = kernel.moddir / "kernel"
    available = {
        _module_name(p): p
        for p in (tree.rglob("*.ko*") if tree.is_dir() else ())
        if ".ko" in p.name
    }
    builtin_file = kernel.moddir / "modules.builtin"
    builtin = (
        {_module_name(Path(line)) for line in builtin_file.read_text().split()}
        if builtin_file.exists()
        else set()
    )
    order: list[str] = []
    blobs: dict[str, bytes] = {}

    def visit(name: str, required: bool) -> None:
        if name in blobs or name in builtin:
            return
        if name not in available:
            if required:
                raise RigError(f"kernel {kernel.release} has no module {name} (nor built in)")
            return
        blobs[name] = data = _module_bytes(available[name])
        for dep in _modinfo(data).get("depends", "").split(","):
            if dep:
                visit(dep.replace("-", "_"), True)
        order.append(name)

    for name in WANTED_MODULES:
        visit(name, True)
    for name in OPTIONAL_MODULES:
        visit(name, False)

    entries: list[tuple[str, int, bytes]] = [
        (d, 0o040755, b"") for d in ("bin", "dev", "proc", "sys", "tmp", "newroot", "mods")
    ]
    entries.append(("dev/console", 0o020600, b""))
    entries.append(("bin/busybox", 0o100755, find_busybox().read_bytes()))
    entries.append(("init", 0o100755, GUEST_INIT.read_bytes()))
    entries.append(("mods/order", 0o100644, "".join(f"{m}\n" for m in order).encode()))
    entries += [(f"mods/{m}.ko", 0o100644, blobs[m]) for m in order]
    out.write_bytes(gzip.compress(_cpio(entries), compresslevel=6, mtime=0))
    return order


def _module_name(path: Path) -> str:
    """kernel/fs/9p/9p.ko.xz -> "9p"; dashes normalised as the kernel does."""
    return path.name.split(".ko")[0].replace("-", "_")


def _module_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".ko"):
        return data
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko.gz"):
        return gzip.decompress(data)
    if path.name.endswith(".ko.zst"):
        zstd = shutil.which("zstd")
        if zstd is None:
            raise MissingPart(f"zstd not found to unpack {path.name} (install zstd)")
        proc = subprocess.run([zstd, "-dcq", str(path)], capture_output=True)
        if proc.returncode:
            raise RigError(f"zstd cannot unpack {path}: {proc.stderr.decode().strip()}")
        return proc.stdout
    raise RigError(f"{path}: unknown module compression")


def _modinfo(module: bytes) -> dict[str, str]:
    """The depends= and other key=value strings of a module's .modinfo section
    (NUL-separated; found by scanning, no ELF section parsing needed)."""
    info = {}
    for key in ("depends", "name", "vermagic"):
        m = re.search(rb"(?:^|\0)" + key.encode() + rb"=([^\0]*)\0", module)
        if m:
            info[key] = m.group(1).decode(errors="replace")
    return info


def _cpio(entries: Iterable[tuple[str, int, bytes]]) -> bytes:
    """A "newc" cpio archive (what the kernel unpacks) of (path, mode, data);
    the one character device here is /dev/console (5, 1)."""
    out = bytearray()

    def add(ino: int, name: str, mode: int, data: bytes, rdev: tuple[int, int]) -> None:
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, *rdev, len(name) + 1, 0)
        out.extend(b"070701" + b"".join(b"%08X" % v for v in fields))
        out.extend(name.encode() + b"\0")
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, mode, data) in enumerate(entries, 1):
        add(ino, name, mode, data, (5, 1) if mode & 0o170000 == 0o020000 else (0, 0))
    add(0, "TRAILER!!!", 0, b"", (0, 0))
    return bytes(out)


# --- the boot ---------------------------------------------------------------


def own_bindings(kernel: Kernel, work: Path) -> None:
    """Render, on the host, the bindings of this kernel's own release (the
    newest pinned release not newer than its series) into the work dir, for
    the guest's compatibility-matrix test (guest/test_compat_matrix.py). The
    tier and `rig.py run` both pass it as `prepare`."""
    from vfiogen import pipeline as compiler
    from vfiogen.inputs import sources
    from vfiogen.emit import tree as render

    flavor = FLAVORS.get(kernel.name)
    key = releases.version_key(flavor.series if flavor else kernel.name)  # 6.12-iommufd: 6.12
    release = [p for p in releases.load_pins() if releases.version_key(p) <= key][-1]
    spec = compiler.compile_spec(sources.from_release(release, quiet=True), warn=False)
    render.write_tree(render.render_tree(spec), work / "bindings")
    (work / "bindings" / "release.json").write_text(json.dumps({"release": release}))


def guest_environment(kernel: Kernel, work: Path) -> dict[str, str]:
    """The environment of the guest's pytest: the host's PATH, HOME and Python
    settings (so the same interpreter resolves the same site-packages and the
    same editable install), markers saying we are in the guest, and writable
    places for caches (the host root is read-only there)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "TMPDIR": "/dev/shm",  # a tmpfs: the host's /tmp is visible but read-only
        "PYTHONDONTWRITEBYTECODE": "1",
        "HYPOTHESIS_STORAGE_DIRECTORY": str(work / "hypothesis"),
        "VFIOGEN_GUEST": "1",
        "VFIOGEN_GUEST_KERNEL": kernel.name,
        "VFIOGEN_RIG_WORK": str(work),
    }
    for key, value in os.environ.items():
        if key in ("CI", "PYTHONPATH", "VIRTUAL_ENV", "XDG_CACHE_HOME") or (
            key.startswith("VFIOGEN_") and key not in env
        ):
            env[key] = value
    return env


def write_job(
    kernel: Kernel, work: Path, pytest_args: Sequence[str], cwd: Path = REPO
) -> dict[str, str]:
    """Write job.sh (run by /init inside the chroot) and host.json (what the
    host's interpreter sees, for the guest to compare); returns the job's env."""
    env = guest_environment(kernel, work)
    argv = [
        sys.executable,
        "-m",
        "pytest",
        *GUEST_PYTEST_OPTIONS,
        f"--junitxml={work / 'junit.xml'}",
        *pytest_args,
    ]
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    (work / "job.sh").write_text(
        "# Written by tests/hardware/rig.py; run by the guest's /init in the host root.\n"
        f"cd {shlex.quote(str(cwd))} || exit 90\n"
        f"exec env -i {assignments} {shlex.join(argv)}\n"
    )
    probe = "import json, sys, vfiogen; print(json.dumps([sys.path, vfiogen.__file__]))"
    try:
        host = subprocess.run(
            [sys.executable, "-c", probe], env=env, cwd=cwd, capture_output=True, text=True
        )
    except OSError as exc:
        raise RigError(f"cannot run {sys.executable}: {exc}") from None
    if host.returncode:
        raise RigError(
            f"{sys.executable} cannot import vfiogen with the guest's environment "
            f"(is the project installed? pip install -e .): {_tail(host.stderr, 3)}"
        )
    sys_path, vfiogen_file = json.loads(host.stdout)
    (work / "host.json").write_text(
        json.dumps(
            {
                "executable": sys.executable,
                "sys_path": sys_path,
                "vfiogen": vfiogen_file,
                "kernel": kernel.name,
                "release": kernel.release,
            },
            indent=2,
        )
        + "\n"
    )
    return env


def qemu_command(kernel: Kernel, initrd: Path, work: Path, accel: str) -> list[str]:
    if accel == "kvm":
        cpu = ["-accel", "kvm", "-cpu", "host", "-machine", "q35,kernel-irqchip=split"]
    else:
        cpu = ["-accel", "tcg,thread=multi", "-cpu", "max", "-machine", "q35"]
    append = (
        "console=ttyS0 panic=-1 quiet loglevel=4 intel_iommu=on"
        f" rig_work={work} rig_bind={EDU_ID}"
    )
    return [
        find_qemu(),
        *cpu,
        "-smp", os.environ.get("VFIOGEN_RIG_CPUS", str(DEFAULT_CPUS)),
        "-m", "1024",
        "-nodefaults",
        "-display", "none",
        "-no-reboot",
        "-serial", f"file:{work / 'console.log'}",
        "-device", "intel-iommu,intremap=on",
        "-device", "edu",
        "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,"
        "multidevs=remap",
        "-virtfs", f"local,path={work},mount_tag=work,security_model=none,multidevs=remap",
        "-kernel", str(kernel.vmlinuz),
        "-initrd", str(initrd),
        "-append", append,
    ]  # fmt: skip


def run_pytest(
    kernel: Kernel | str,
    pytest_args: Sequence[str],
    work: Path,
    *,
    timeout: float | None = None,
    accel: str | None = None,
    cwd: Path = REPO,
    prepare: Callable[[Kernel, Path], None] | None = None,
) -> GuestResult:
    """Boot `kernel`, run `python -m pytest PYTEST_ARGS` in the guest (cwd
    `cwd`, relative paths resolve there), and return what it left in `work`.
    `prepare(kernel, work)` runs before the boot, to put files made on the
    host for this kernel into the work dir (the guest finds it at
    $VFIOGEN_RIG_WORK). Raises GuestFailure when the guest gives no result,
    whatever the reason."""
    check_host()
    if isinstance(kernel, str):
        kernel = fetch_kernel(kernel)
    work = work.resolve()
    if re.search(r"[\s,]", str(work)):
        raise RigError(f"work dir {work}: no spaces or commas (kernel command line, -virtfs)")
    work.mkdir(parents=True, exist_ok=True)
    for stale in ("rc", "init-error", "pytest.log", "junit.xml", "console.log", "qemu.log"):
        (work / stale).unlink(missing_ok=True)
    for stale in ("dmesg.txt", "dmesg-boot.txt"):
        (work / stale).unlink(missing_ok=True)
    (work / "hypothesis").mkdir(exist_ok=True)
    if prepare is not None:
        prepare(kernel, work)
    initrd = work / "initrd.cpio.gz"
    build_initramfs(kernel, initrd)
    write_job(kernel, work, pytest_args, cwd)
    accel = accel or choose_accel()
    timeout = timeout or float(os.environ.get("VFIOGEN_RIG_TIMEOUT", DEFAULT_TIMEOUT))
    cmd = qemu_command(kernel, initrd, work, accel)
    (work / "qemu.cmd").write_text(shlex.join(cmd) + "\n")

    start = time.monotonic()
    with open(work / "qemu.log", "wb") as log:
        try:
            proc = subprocess.run(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise GuestFailure(
                f"kernel {kernel.name}: guest timed out after {timeout:.0f} s (QEMU killed)"
                + _console_report(work)
            ) from None
        except OSError as exc:
            raise MissingPart(f"cannot start {cmd[0]}: {exc}") from None
    wall = time.monotonic() - start

    if proc.returncode != 0:
        raise GuestFailure(
            f"kernel {kernel.name}: QEMU died: {_describe_status(proc.returncode)} after "
            f"{wall:.1f} s" + _console_report(work)
        )
    rc_file = work / "rc"
    if not rc_file.exists():
        why = (work / "init-error").read_text().strip() if (work / "init-error").exists() else ""
        raise GuestFailure(
            f"kernel {kernel.name}: the guest powered off without finishing its job"
            + (f": {why}" if why else " (kernel panic or /init crash?)")
            + _console_report(work)
        )
    return GuestResult(kernel, work, int(rc_file.read_text().strip()), wall, accel)


def _describe_status(code: int) -> str:
    if code < 0:  # killed by a signal; a shell would report 128 + n (SIGABRT: 134)
        return f"killed by {signal.Signals(-code).name} (exit status {128 - code})"
    return f"exit status {code}"


def _console_report(work: Path) -> str:
    parts = []
    for name in ("qemu.log", "console.log"):
        path = work / name
        text = path.read_text(errors="replace").strip() if path.exists() else ""
        if text:
            parts.append(f"\n--- {path} (tail) ---\n{_tail(text, 40)}")
    return "".join(parts)


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


# --- command line -----------------------------------------------------------


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
            args.kernel, pytest_args or [str(GUEST_TESTS)], work, timeout=args.timeout,
            cwd=Path.cwd(), prepare=own_bindings,
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
