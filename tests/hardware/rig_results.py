"""What a boot leaves in its work dir, read on the host: the guest pytest's
counts and output, the kernel log and its problems."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rig_kernels import Kernel

# Kernel log lines that fail the tier: warnings, BUGs, oopses, lockdep splats.
KERNEL_PROBLEM = re.compile(
    r"WARNING|\bBUG\b|Oops|lockdep|possible (circular|recursive) locking"
    r"|Call Trace|Kernel panic|general protection fault|UBSAN|KASAN"
)
DMESG_TIME = re.compile(r"^\[\s*\d+\.\d+\]\s?")  # dmesg's "[   12.345678] " prefix


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

    def skips(self) -> dict[str, str]:
        """Each skipped guest test ("test_file.py::test_name[param]") and its
        reason, from the guest's JUnit XML."""
        try:
            root = ET.parse(self.junit).getroot()
        except (OSError, ET.ParseError):
            return {}
        found = {}
        for case in root.iter("testcase"):
            skipped = case.find("skipped")
            if skipped is not None:
                module = case.get("classname", "").rsplit(".", 1)[-1]
                found[f"{module}.py::{case.get('name')}"] = skipped.get("message", "")
        return found

    def reproduced_bug_lines(self) -> Counter[str]:
        """The kernel log lines the guest's known-bug reproductions logged
        (guest/test_fuzz_kernel.py: fuzz-bug-NAME.json with `reproduced`):
        each is part of the report of a bug made on purpose."""
        lines: Counter[str] = Counter()
        for path in sorted(self.work.glob("fuzz-bug-*.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if record.get("reproduced") is True:
                lines.update(line.strip() for line in record.get("log", []))
        return lines

    def kernel_problems(self) -> list[str]:
        """Kernel log lines that look like a warning, BUG, oops or lockdep
        report, except those of a known bug reproduced on purpose (each
        recorded line excuses one occurrence: a second "Call Trace:" is
        still a problem)."""
        excused = self.reproduced_bug_lines()
        problems = []
        for line in self.dmesg.splitlines():
            if not KERNEL_PROBLEM.search(line):
                continue
            text = DMESG_TIME.sub("", line).strip()
            if excused[text] > 0:
                excused[text] -= 1
            else:
                problems.append(line)
        return problems

    def describe(self, lines: int = 60) -> str:
        """The pytest output and kernel log tails, for a failure message."""
        return (
            f"--- guest pytest output ({self.work / 'pytest.log'}) ---\n"
            f"{tail(self.pytest_output, lines)}\n"
            f"--- guest kernel log tail ({self.work / 'dmesg.txt'}) ---\n"
            f"{tail(self.dmesg, lines // 2)}"
        )


def tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


# --- the proof ----------------------------------------------------------------

PROOF_SCHEMA = 1
GUEST_PROOF = "proof-guest.json"
FUZZ_REPORT = "fuzz-kernel.json"  # guest/test_fuzz_kernel.py
SPEC = (
    Path(__file__).resolve().parents[2] / "generated" / "spec.json"
)  # written by guest/proof.py into the work dir


def guest_proof(work: Path) -> dict | None:
    """The record a boot's guest tests left (guest/proof.py), if any, with
    the kernel fuzzer's reach (its report's calls and successes per request,
    guest/test_fuzz_kernel.py) under "fuzz" when the fuzzer ran."""
    try:
        record = json.loads((work / GUEST_PROOF).read_text())
    except (OSError, ValueError):
        return None
    reach = fuzz_reach(work)
    if reach:
        record["fuzz"] = reach
    return record


def fuzz_reach(work: Path) -> dict[str, dict[str, int]]:
    """{request: {"calls": n, "ok": m}} from the fuzzer's report in `work`."""
    try:
        report = json.loads((work / FUZZ_REPORT).read_text())
    except (OSError, ValueError):
        return {}
    return {
        name: {"calls": int(r.get("calls", 0)), "ok": int(r.get("ok", 0))}
        for name, r in sorted(report.get("per_request", {}).items())
    }


def merge_proof(records: dict[str, dict], requests: list[str]) -> dict:
    """build/hardware/proof.json from each flavor's guest record: schema 1,
    the modes each flavor proved something in, and per request (all of
    `requests`, proven or not) the "<flavor>/<mode>" where it succeeded
    through the generated runtime and where each errno was seen; beside
    them, under its own key, the kernel fuzzer's reach per flavor:
    {"fuzz": {"<flavor>": {"<REQUEST>": {"calls": n, "ok": m}}}}."""
    merged: dict[str, dict] = {n: {"ok": [], "errnos": {}} for n in requests}
    modes: dict[str, list[str]] = {}
    for flavor, record in sorted(records.items()):
        modes[flavor] = list(record.get("modes", []))
        for name, seen in record.get("requests", {}).items():
            entry = merged.setdefault(name, {"ok": [], "errnos": {}})
            entry["ok"] += [f"{flavor}/{m}" for m in seen.get("ok", [])]
            for errno_name, where in seen.get("errnos", {}).items():
                entry["errnos"].setdefault(errno_name, [])
                entry["errnos"][errno_name] += [f"{flavor}/{m}" for m in where]
    for entry in merged.values():
        entry["ok"].sort()
        entry["errnos"] = {e: sorted(w) for e, w in sorted(entry["errnos"].items())}
    proof = {"schema": PROOF_SCHEMA, "modes": modes, "requests": merged}
    fuzz = {flavor: r["fuzz"] for flavor, r in sorted(records.items()) if r.get("fuzz")}
    if fuzz:
        proof["fuzz"] = fuzz
    return proof


def spec_requests(spec: Path = SPEC) -> list[str]:
    """Every request of the committed spec (generated/spec.json)."""
    return sorted(json.loads(spec.read_text())["requests"])


def write_proof(path: Path, records: dict[str, dict], requests: list[str]) -> dict:
    proof = merge_proof(records, requests)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(proof, indent=1, sort_keys=False) + "\n")
    return proof
