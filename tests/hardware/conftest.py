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
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # `import rig`

import rig  # noqa: E402

IN_GUEST = os.environ.get("VFIOGEN_GUEST") == "1"

collect_ignore = (
    ["test_rig.py", "test_rig_host.py", "test_kbuild.py", "test_rig_ppc64.py"]
    if IN_GUEST
    else ["guest"]
)

# One line per boot in this session, for the terminal summary.
_boots: list[str] = []
# Each booted flavor's proof record (guest/proof.py), merged at the end.
_proofs: dict[str, dict] = {}
PROOF = rig.REPO / "build" / "hardware" / "proof.json"
# Boots run in parallel QEMU processes (one TCG vCPU each): all flavors are
# started when the first is needed, and each module waits for its own.
PARALLEL = int(os.environ.get("VFIOGEN_RIG_PARALLEL", "3"))
_started: dict[str, Future] = {}
_pool: ThreadPoolExecutor | None = None


def missing_part(exc: rig.MissingPart) -> None:
    """Skip for a missing host tool; under CI=true fail instead, since a
    skipped hardware tier would let CI pass without testing anything."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"hardware tier cannot run in CI: {exc}", pytrace=False)
    pytest.skip(f"hardware tier: {exc}")


@pytest.fixture(scope="module", params=rig.kernels_under_test())
def guest_run(request: pytest.FixtureRequest, tmp_path_factory) -> rig.GuestResult:
    """Boot kernel `request.param` ("6.1", "7.2", "7.2-full") once and run
    the guest tests; each test then inspects the one result. A built flavor
    is built here the first time (minutes: see the summary)."""
    name = request.param
    if not _started:
        _start_all(tmp_path_factory)
    result, work, ready = _started[name].result()
    if isinstance(result, rig.MissingPart):
        missing_part(result)
    if isinstance(result, rig.RigError):
        pytest.fail(f"hardware rig: {result}", pytrace=False)
    counts = result.counts()
    record = rig.guest_proof(work)
    if record is not None:
        _proofs[name] = record
    _boots.append(
        f"kernel {name} ({result.kernel.release}, {result.accel}): ready in {ready:.1f} s, "
        f"boot to power-off {result.wall:.1f} s; guest pytest exit {result.returncode}, "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
        + f"; {work}"
    )
    return result


def _start_all(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Start every kernel's boot, PARALLEL at a time."""
    global _pool
    _pool = ThreadPoolExecutor(max_workers=max(1, PARALLEL), thread_name_prefix="rig")
    for name in rig.kernels_under_test():
        work = tmp_path_factory.mktemp(f"rig-{name}-")
        _started[name] = _pool.submit(_timed_boot, name, work)


def _timed_boot(name: str, work: Path) -> tuple[rig.GuestResult | rig.RigError, Path, float]:
    """The boot's result, its work dir, and the seconds it took to get ready
    (fetch or build, initramfs, bindings)."""
    start = time.monotonic()
    result = _boot(name, work)
    wall = result.wall if isinstance(result, rig.GuestResult) else 0.0
    return result, work, time.monotonic() - start - wall


def _boot(name: str, work: Path) -> rig.GuestResult | rig.RigError:
    """The boot's result, or its error (returned, so that pytest's skip/fail
    outcome is not reported as raised while handling it)."""
    try:
        rig.check_host()
        return rig.run_pytest(
            name, [*rig.guest_test_paths(name), "-v", "-rfEs"], work, prepare=rig.prepare
        )
    except rig.RigError as exc:
        return exc


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)


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
