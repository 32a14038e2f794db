"""What a boot leaves in its work dir, read on the host: the guest pytest's
counts and output, the kernel log and its problems."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from rig_kernels import Kernel

# Kernel log lines that fail the tier: warnings, BUGs, oopses, lockdep splats.
KERNEL_PROBLEM = re.compile(
    r"WARNING|\bBUG\b|Oops|lockdep|possible (circular|recursive) locking"
    r"|Call Trace|Kernel panic|general protection fault|UBSAN|KASAN"
)


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
            f"{tail(self.pytest_output, lines)}\n"
            f"--- guest kernel log tail ({self.work / 'dmesg.txt'}) ---\n"
            f"{tail(self.dmesg, lines // 2)}"
        )


def tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


# --- the proof ----------------------------------------------------------------

PROOF_SCHEMA = 1
GUEST_PROOF = "proof-guest.json"
SPEC = (
    Path(__file__).resolve().parents[2] / "generated" / "spec.json"
)  # written by guest/proof.py into the work dir


def guest_proof(work: Path) -> dict | None:
    """The record a boot's guest tests left (guest/proof.py), if any."""
    try:
        return json.loads((work / GUEST_PROOF).read_text())
    except (OSError, ValueError):
        return None


def merge_proof(records: dict[str, dict], requests: list[str]) -> dict:
    """build/hardware/proof.json from each flavor's guest record: schema 1,
    the modes each flavor proved something in, and per request (all of
    `requests`, proven or not) the "<flavor>/<mode>" where it succeeded
    through the generated runtime and where each errno was seen."""
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
    return {"schema": PROOF_SCHEMA, "modes": modes, "requests": merged}


def spec_requests(spec: Path = SPEC) -> list[str]:
    """Every request of the committed spec (generated/spec.json)."""
    return sorted(json.loads(spec.read_text())["requests"])


def write_proof(path: Path, records: dict[str, dict], requests: list[str]) -> dict:
    proof = merge_proof(records, requests)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(proof, indent=1, sort_keys=False) + "\n")
    return proof
