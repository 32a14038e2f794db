"""The hardware tier.

Host side: test_rig.py boots each kernel under test in QEMU (rig.py) and runs
guest/ inside it. Guest side: guest/ is collected only inside a rig guest,
where the job sets VFIOGEN_GUEST=1; on the host it needs a VFIO device that
is not there, and in the guest the host side would boot a VM inside the VM.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # `import rig`

import rig  # noqa: E402

IN_GUEST = os.environ.get("VFIOGEN_GUEST") == "1"

collect_ignore = ["test_rig.py", "test_rig_host.py", "test_kbuild.py"] if IN_GUEST else ["guest"]

# One line per boot in this session, for the terminal summary.
_boots: list[str] = []
# Each booted flavor's proof record (guest/proof.py), merged at the end.
_proofs: dict[str, dict] = {}
PROOF = rig.REPO / "build" / "hardware" / "proof.json"


def missing_part(exc: rig.MissingPart) -> None:
    """Skip for a missing host tool; under CI=true fail instead, since a
    skipped hardware tier would let CI pass without testing anything."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"hardware tier cannot run in CI: {exc}", pytrace=False)
    pytest.skip(f"hardware tier: {exc}")


@pytest.fixture(scope="module", params=rig.kernels_under_test())
def guest_run(request: pytest.FixtureRequest, tmp_path_factory) -> rig.GuestResult:
    """Boot kernel `request.param` ("6.1", "7.2", "7.2-full") once per
    module and run the guest tests; each test then inspects the one result.
    A built flavor is built here the first time (minutes: see the summary)."""
    name = request.param
    work = tmp_path_factory.mktemp(f"rig-{name}-")
    start = time.monotonic()
    result = _boot(name, work)
    if isinstance(result, rig.MissingPart):
        missing_part(result)
    if isinstance(result, rig.RigError):
        pytest.fail(f"hardware rig: {result}", pytrace=False)
    counts = result.counts()
    record = rig.guest_proof(work)
    if record is not None:
        _proofs[name] = record
    ready = time.monotonic() - start - result.wall  # fetch or build, initramfs, bindings
    _boots.append(
        f"kernel {name} ({result.kernel.release}, {result.accel}): ready in {ready:.1f} s, "
        f"boot to power-off {result.wall:.1f} s; guest pytest exit {result.returncode}, "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
        + f"; {work}"
    )
    return result


def _boot(name: str, work: Path) -> rig.GuestResult | rig.RigError:
    """The boot's result, or its error (returned, so that pytest's skip/fail
    outcome is not reported as raised while handling it)."""
    try:
        rig.check_host()
        return rig.run_pytest(
            name, [str(rig.GUEST_TESTS), "-v", "-rfEs"], work, prepare=rig.prepare
        )
    except rig.RigError as exc:
        return exc


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _boots:
        terminalreporter.section("hardware rig")
        for line in _boots:
            terminalreporter.write_line(line)
    if _proofs:
        proof = rig.write_proof(PROOF, _proofs, rig.spec_requests())
        proven = sum(1 for r in proof["requests"].values() if r["ok"])
        terminalreporter.write_line(
            f"proof: {proven} of {len(proof['requests'])} requests succeeded through the "
            f"generated runtime ({', '.join(f'{k}: {len(v)} modes' for k, v in proof['modes'].items())}); {PROOF}"
        )
