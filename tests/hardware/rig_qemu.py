"""The boot: the guest's job and environment, QEMU's command line per
flavor, and run_pytest, which boots a kernel and collects what it left."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import rig_ppc64
from rig_host import qemu_with
from rig_errors import GuestFailure, MissingPart, RigError
from rig_initramfs import build_initramfs, find_busybox
from rig_kernels import FLAVORS, Flavor, Kernel, fetch_kernel
from rig_results import GuestResult, tail

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
GUEST_TESTS = HERE / "guest"
QEMU = "qemu-system-x86_64"
# Seconds per boot before QEMU is killed: a hang detector, not a budget (a
# run takes 20-50 s under TCG here; this host's speed varies by 2x and more).
DEFAULT_TIMEOUT = 600.0
# Guest CPUs. One: with TCG on a 2-core host, a second vCPU thread competes
# with QEMU's 9p workers and made boots slower and far more variable.
DEFAULT_CPUS = 1
# Options of every guest pytest run. The cache provider would write into the
# read-only project; hypothesis's plugin costs ~8 s of TCG time per boot just
# to import (tests may still `import hypothesis` and pay for it themselves).
GUEST_PYTEST_OPTIONS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


# --- host tools -------------------------------------------------------------


def check_host() -> None:
    """Raise MissingPart unless QEMU (with edu) and a static busybox are here."""
    find_qemu()
    find_busybox()


def find_qemu() -> str:
    return qemu_with(QEMU, ('"edu"', '"intel-iommu"'))


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


def guest_test_paths(name: str) -> list[str]:
    """What the guest's pytest runs for flavor `name`: its guest_tests, or
    all of guest/."""
    flavor = FLAVORS.get(name)
    if flavor is None or not flavor.guest_tests:
        return [str(GUEST_TESTS)]
    return [str(GUEST_TESTS / f) for f in flavor.guest_tests]


def write_job(
    kernel: Kernel,
    work: Path,
    pytest_args: Sequence[str],
    cwd: Path = REPO,
    interpreter: str | None = None,
) -> dict[str, str]:
    """Write job.sh (run by /init inside the chroot) and host.json (what the
    host's interpreter sees, for the guest to compare); returns the job's env.
    `interpreter`: the guest's own Python (another architecture), which gets
    the host interpreter's sys.path, standard library excepted, as PYTHONPATH."""
    env = guest_environment(kernel, work)
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
            f"(is the project installed? pip install -e .): {tail(host.stderr, 3)}"
        )
    sys_path, vfiogen_file = json.loads(host.stdout)
    if interpreter is not None:
        env["PYTHONPATH"] = rig_ppc64.guest_pythonpath(sys_path)
    argv = [
        interpreter or sys.executable,
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
    (work / "host.json").write_text(
        json.dumps(
            {
                "executable": interpreter or sys.executable,
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
    """QEMU's command line for `kernel`: q35, the flavor's IOMMU, edu, the
    flavor's own devices, the host root and the work dir over 9p."""
    flavor = FLAVORS.get(kernel.name) or Flavor(kernel.name, kernel.suite)
    if accel == "kvm":
        cpu = ["-accel", "kvm", "-cpu", "host", "-machine", "q35,kernel-irqchip=split"]
    else:
        cpu = ["-accel", "tcg,thread=multi", "-cpu", "max", "-machine", "q35"]
    # no_timer_check: on a loaded host TCG is too slow for the IO-APIC timer
    # test, and the kernel panics ("timer doesn't work through
    # Interrupt-remapped IO-APIC"); the timer itself works.
    append = (
        "console=ttyS0 panic=-1 quiet loglevel=4 intel_iommu=on no_timer_check"
        f" rig_work={work} rig_bind={','.join(flavor.bind)} {flavor.cmdline}"
    ).strip()
    return [
        find_qemu(),
        *cpu,
        "-smp", os.environ.get("VFIOGEN_RIG_CPUS", str(DEFAULT_CPUS)),
        "-m", "1024",
        "-nodefaults",
        "-display", "none",
        "-no-reboot",
        "-serial", f"file:{work / 'console.log'}",
        "-device", flavor.iommu,
        "-device", "edu",
        "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,"
        "multidevs=remap",
        "-virtfs", f"local,path={work},mount_tag=work,security_model=none,multidevs=remap",
        *flavor.devices,  # last: a device without bus= goes onto the newest bus (a pxb-pcie)
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
    name = kernel if isinstance(kernel, str) else kernel.name
    flavor = FLAVORS.get(name) or Flavor(name, "")
    foreign = flavor.arch == rig_ppc64.ARCH  # the one other architecture so far
    if foreign:
        rig_ppc64.check_host()
    else:
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
    timeout = timeout or float(os.environ.get("VFIOGEN_RIG_TIMEOUT", DEFAULT_TIMEOUT))
    if foreign:
        root = rig_ppc64.fetch_root()
        rig_ppc64.build_guest_initramfs(kernel, initrd, root)
        write_job(kernel, work, pytest_args, cwd, interpreter=rig_ppc64.guest_python())
        accel = "tcg"  # no KVM for another architecture
        cmd = rig_ppc64.qemu_command(flavor, kernel, initrd, work, root)
    else:
        build_initramfs(kernel, initrd)
        write_job(kernel, work, pytest_args, cwd)
        accel = accel or choose_accel()
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
            parts.append(f"\n--- {path} (tail) ---\n{tail(text, 40)}")
    return "".join(parts)
