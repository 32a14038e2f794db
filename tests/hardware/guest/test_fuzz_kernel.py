"""The generated request fuzzer (generated/fuzz/kernel.py) against real
vfio-pci and QEMU's edu, on every kernel flavor the tier boots: a bounded,
seeded campaign over every request of every fd kind (the cdev path too where
the flavor has it). Afterwards the kernel logged no warning, BUG, oops or
lockdep report during it, every failed request surfaced as VfioError, the
process has the file descriptors it started with, and the kernel said yes to
requests on the container, group and device fds (the report counts
successes per request beside the answers). The report (JSON) and the
kernel's answers to the query requests (TOML, seeds of the decoder fuzzers:
copy it to headers/kernel-answers.toml) go to the rig's work dir.

VFIOGEN_FUZZ_ITERATIONS (default 4000) and VFIOGEN_FUZZ_SEED (default 7)
set the campaign; the same seed and count replay it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import rig

BINDINGS = Path(os.environ.get("VFIO_BINDINGS", Path(__file__).parents[3] / "generated"))
sys.path.insert(0, str(BINDINGS))

from fuzz import kernel  # noqa: E402
from vfio import abi  # noqa: E402

ITERATIONS = int(os.environ.get("VFIOGEN_FUZZ_ITERATIONS", "4000"))
SEED = int(os.environ.get("VFIOGEN_FUZZ_SEED", "7"))
MAX_SECONDS = 40.0  # a bound on guest time, should the kernel answer slowly
# Exceptions other than VfioError that the bindings are known to let escape
# (a finding of this fuzzer is listed here until the vfio templates fix it;
# the last one, OverflowError for values above INT_MAX, is fixed).
KNOWN: set[tuple[str, str]] = set()


def exception_type(trace: str) -> str:
    return trace.strip().splitlines()[-1].split(":")[0]


def test_request_fuzzer(edu) -> None:
    work = Path(os.environ["VFIOGEN_RIG_WORK"])
    fds = set(os.listdir("/proc/self/fd"))
    report = kernel.run(edu.bdf, edu.group, ITERATIONS, SEED, MAX_SECONDS, answers=True)
    (work / "fuzz-kernel.json").write_text(json.dumps(report, indent=1) + "\n")
    device = ":".join((edu.sysfs / f).read_text().strip()[2:] for f in ("vendor", "device"))
    (work / "kernel-answers.toml").write_text(
        kernel.answers_toml(report["answers"], report["kernel"], f"QEMU edu {device}")
    )
    assert set(os.listdir("/proc/self/fd")) == fds, "file descriptors leaked"
    assert not report["fds"]["leaked"] and not report["teardown_problems"]
    uncalled = [n for n, r in report["per_request"].items() if not r["calls"]]
    assert not uncalled, f"never issued: {uncalled}"
    surprises = [
        u
        for u in report["unexpected"]
        if (u["request"], exception_type(u["traceback"])) not in KNOWN
    ]
    assert not surprises, "not VfioError:\n" + "\n".join(u["traceback"] for u in surprises)
    culprits = [
        c
        for c in report["kernel_log_by_call"]
        if any(rig.KERNEL_PROBLEM.search(x) for x in c["log"])
    ]
    problems = [line for line in report["kernel_log"] if rig.KERNEL_PROBLEM.search(line)]
    assert not problems, "kernel log:\n" + "\n".join(problems) + f"\nafter: {culprits}"
    assert report["answers"], "no query request answered"
    print(f"{report['kernel']}: {report['summary']}")
    assert report["succeeded"] > 0 and report["successful_calls"] > 0, report["summary"]
    won = {r.fd for r in kernel.REQUESTS if report["per_request"][r.name]["ok"]}
    assert {"container", "group", "device"} <= won, f"no success on {report['fd_kinds']}: {won}"
    assert report["reached"] > report["syzkaller_requests"], report["summary"]


@pytest.mark.parametrize("bug", kernel.KERNEL_BUGS, ids=lambda b: b.name)
def test_known_kernel_bug_reproduces(edu, guest_kernel: str, bug: kernel.KernelBug) -> None:
    """Each bug the fuzzer steers around still makes this kernel log a problem
    where the kernel has what reports it (UBSAN, an oops on an unmapped read),
    and none from the release that fixed it on: when one stops reproducing,
    a kernel fixed it. In a child process, since an oops kills the process
    that made it.

    It runs in the tier: the lines a reproduction logs are written to the
    work dir (fuzz-bug-NAME.json, `reproduced`), and the host's kernel log
    check (rig_results.GuestResult.kernel_problems) leaves out exactly those.
    On the tier's flavors a reproduction is a UBSAN report or a WARN (7.2,
    7.2-ppc64); the oops needs KASAN or an unmapped address, and no flavor
    of the tier has either where the bug is not fixed. A bug of one IOMMU
    driver (type1, sPAPR TCE) runs where the kernel has that model. Those
    skips are expected by rig_skips.py."""
    if not kernel.offers(bug.iommu):
        models = {v: n for n, v in abi.CONTAINER_EXTENSIONS.items() if n in abi.IOMMU_MODELS}
        model = models.get(bug.iommu, f"IOMMU model {bug.iommu}")
        pytest.skip(f"no {model} container IOMMU on this kernel, whose driver has {bug.name}")
    series = tuple(int(x) for x in guest_kernel.split("-")[0].split("."))
    fixed = bool(bug.fixed_by) and series >= tuple(int(x) for x in str(bug.fixed_by).split("."))
    if not fixed and not kernel.kernel_has(bug.detector):
        pytest.skip(f"this kernel has no {bug.detector}: {bug.name} may run silently")
    log = kernel.kernel_log_reader()
    child = subprocess.run(
        [sys.executable, kernel.__file__, "--bdf", edu.bdf, "--group", str(edu.group)]
        + ["--reproduce", bug.name],
        capture_output=True,
        text=True,
    )
    lines = kernel.kernel_log_lines(log)
    work = Path(os.environ["VFIOGEN_RIG_WORK"])
    record = {
        "name": bug.name,
        "returncode": child.returncode,
        "stdout": child.stdout,
        "reproduced": not fixed,  # its log lines are the bug's report, not a finding
    }
    (work / f"fuzz-bug-{bug.name}.json").write_text(json.dumps({**record, "log": lines}, indent=1))
    problems = [line for line in lines if rig.KERNEL_PROBLEM.search(line)]
    if fixed:
        assert not problems and child.returncode == 0, f"{bug.name} is back: {problems}"
    else:
        assert problems, f"{bug.name}: {child.stdout or child.stderr} logged nothing: {bug.what}"
