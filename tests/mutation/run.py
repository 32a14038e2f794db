"""The mutation campaign: cosmic-ray over the code that decides correctness.

    python tests/mutation/run.py [TARGET ...] [--out build/mutation]

Each target is one module, the functions of it that decide correctness, and
the test files that check them (a mutant runs only those, stopping at the
first failure). The checkout is copied to a scratch directory and mutated
there, never in place; the unmutated copy must pass first. Results: a
markdown summary (killed / total per target, survivors with their diff)
in OUT/report.md, each target's cosmic-ray session in OUT/TARGET.sqlite.

Survivors listed in tests/mutation/equivalent.toml (with the reason they
change no behaviour) are counted apart; the score is reported both ways.
A long, benchmark-style command (`make mutation`): not part of `make test`,
whose fixed sample is tests/mutation/sample.toml.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import subprocess
import sys
import shlex
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from cosmic_ray.mutating import use_mutation
from cosmic_ray.plugins import get_operator
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mutation import scratch  # noqa: E402

EQUIVALENT = Path(__file__).with_name("equivalent.toml")


@dataclass(frozen=True)
class Target:
    name: str
    module: str
    functions: tuple[str, ...]  # definition names mutated; () = the whole module
    tests: tuple[str, ...]
    timeout: float = 60.0
    # pytest arguments of a quicker first pass (slow randomized tests or
    # slow files left out); its survivors are run again against all `tests`
    fast: tuple[str, ...] = ()


TARGETS = [
    Target(
        "caps",
        "generated/vfio/caps.py",
        ("walk", "counted_tail"),
        ("tests/runtime/test_caps_bounds.py", "tests/runtime/test_caps.py"),
        fast=(
            "tests/runtime/test_caps_bounds.py",
            "tests/runtime/test_caps.py",
            "-k",
            "not random and not never_reach",
        ),
    ),
    Target(
        "request-args",
        "generated/vfio/_ioctl.py",
        ("check_fd", "check_int", "value", "int_ptr", "string", "struct"),
        ("tests/runtime/test_request_args.py",),
    ),
    Target("argsz", "generated/vfio/_base.py", ("negotiate",), ("tests/runtime/test_api.py",)),
    Target(
        "migration",
        "generated/vfio/_migration.py",
        (),
        ("tests/runtime/test_api.py", "tests/runtime/test_migration_fsm.py"),
    ),
    Target(
        "cexpr",
        "gen/vfiogen/frontend/cexpr.py",
        ("bits", "wrap", "promote", "common", "_ctype", "parse_int"),
        ("tests/frontend/test_c_rules.py", "tests/frontend/test_frontend.py"),
        fast=("tests/frontend/test_c_rules.py",),
    ),
    Target(
        "layout",
        "gen/vfiogen/semantics/layout.py",
        ("record", "size_align", "align_up", "count"),
        (
            "tests/frontend/test_c_rules.py",
            "tests/frontend/test_frontend.py",
            "tests/frontend/test_random_headers.py",
            "tests/semantics/test_bitfield_layout.py",
            "tests/semantics/test_abi_typedefs.py",
        ),
        timeout=400.0,  # the random headers: minutes on a loaded machine
        fast=(
            "tests/frontend/test_c_rules.py",
            "tests/semantics/test_bitfield_layout.py",
            "tests/semantics/test_abi_typedefs.py",
        ),
    ),
    Target(
        "diff-severity",
        "gen/vfiogen/analyses/diff/facts.py",
        (),
        (
            "tests/analyses/test_diff_facts.py",
            "tests/analyses/test_diff_rules.py",
            "tests/analyses/test_diff_breaking.py",
        ),
        fast=("tests/analyses/test_diff_facts.py", "tests/analyses/test_diff_rules.py"),
    ),
    Target(
        "overlay-validation",
        "gen/vfiogen/overlay/merge.py",
        ("request",),
        ("tests/overlay/test_overlay.py",),
        timeout=400.0,  # the whole file compiles every release: minutes on a loaded machine
        fast=(
            "tests/overlay/test_overlay.py",
            "-k",
            "bad_overlay or direction or versioned or semantics or newest or later_release "
            "or refused_at_its_line or flag_gates or bad_field_kind",
        ),
    ),
    Target(
        "overlay-coverage",
        "gen/vfiogen/overlay/coverage.py",
        ("compute",),
        ("tests/overlay/test_overlay_coverage.py", "tests/overlay/test_overlay.py"),
        timeout=400.0,
        fast=("tests/overlay/test_overlay_coverage.py",),
    ),
    Target(
        "docs-facts",
        "gen/vfiogen/emit/docs/build.py",
        ("_minsz",),
        ("tests/emit/test_docs_facts.py",),
    ),
]
BY_NAME = {t.name: t for t in TARGETS}


def config(tree: Path, t: Target) -> str:
    tests = " ".join(shlex.quote(a) for a in (t.fast or t.tests))
    return (
        "[cosmic-ray]\n"
        f'module-path = "{tree / t.module}"\n'
        f"timeout = {t.timeout}\n"
        "excluded-modules = []\n"
        f'test-command = "{sys.executable} -m pytest -x -q -p no:cacheprovider {tests}"\n'
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
    )


def annotation_spans(path: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) of every annotation: under `from __future__ import
    annotations` they are strings no code evaluates, so a mutant there (`int
    | None` -> `int * None`) is equivalent by construction."""
    spans = []
    for node in ast.walk(ast.parse(path.read_text())):
        notes = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns:
            notes.append(node.returns)
        elif isinstance(node, ast.arg) and node.annotation:
            notes.append(node.annotation)
        elif isinstance(node, ast.AnnAssign):
            notes.append(node.annotation)
        for n in notes:
            end = (n.end_lineno or n.lineno, n.end_col_offset or 0)
            spans.append(((n.lineno, n.col_offset), end))
    return spans


def restrict(session: Path, t: Target, module: Path) -> tuple[int, int, int]:
    """Mark mutants outside the target's functions, and those inside type
    annotations, skipped: (kept, outside, annotations)."""
    kept = outside = notes = 0
    spans = annotation_spans(module)
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in list(db.work_items):
            names = {m.definition_name for m in item.mutations}
            at = tuple(item.mutations[0].start_pos)
            if t.functions and not names & set(t.functions):
                db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
                outside += 1
            elif any(a <= at < b for a, b in spans):
                db.set_result(
                    item.job_id,
                    WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output="annotation"),
                )
                notes += 1
            else:
                kept += 1
    return kept, outside, notes


@dataclass
class Survivor:
    line: int
    operator: str
    function: str
    diff: str
    equivalent: str | None  # the reason, when listed in equivalent.toml


@dataclass
class Outcome:
    target: Target
    total: int
    killed: int
    timeouts: int
    survivors: list[Survivor]
    seconds: float
    pending: int = 0  # not run yet (a session still going)

    @property
    def equivalent(self) -> int:
        return sum(s.equivalent is not None for s in self.survivors)

    def score(self, without_equivalent: bool = False) -> float:
        total = self.total - (self.equivalent if without_equivalent else 0)
        return 100.0 * self.killed / total if total else 100.0


def load_equivalent() -> list[dict[str, str]]:
    if not EQUIVALENT.is_file():
        return []
    with EQUIVALENT.open("rb") as f:
        return list(tomllib.load(f).get("equivalent", []))


def equivalent_reason(t: Target, diff: str, known: list[dict[str, str]]) -> str | None:
    """An entry matches a survivor by target and the mutated line (`+` side)."""
    added = [
        ln[1:].strip()
        for ln in diff.splitlines()
        if ln.startswith("+") and not ln.startswith("+++")
    ]
    for e in known:
        if e["target"] == t.name and e["mutant"].strip() in added:
            return e["reason"]
    return None


def second_pass(tree: Path, session: Path, t: Target) -> int:
    """Survivors of the fast pass against all the target's tests: killed ones
    are recorded as killed. Returns how many."""
    more = 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.test_outcome != TestOutcome.SURVIVED:
                continue
            m = item.mutations[0]
            operator = get_operator(m.operator_name)(**m.operator_args)
            with use_mutation(m.module_path, operator, m.occurrence):
                try:
                    caught = scratch.run_tests(tree, t.tests, timeout=t.timeout).returncode != 0
                except subprocess.TimeoutExpired:
                    caught = True
            if caught:
                more += 1
                db.set_result(
                    item.job_id,
                    WorkResult(
                        worker_outcome=WorkerOutcome.NORMAL,
                        test_outcome=TestOutcome.KILLED,
                        output="killed by the full tests",
                        diff=result.diff,
                    ),
                )
    return more


def diff_blocks(diff: str) -> tuple[str, str] | None:
    """The old and new text of a one-hunk mutant, its context lines included
    (so a line that occurs twice is still found at its place)."""
    body = diff.split("\n@@", 1)
    if len(body) != 2 or "\n@@" in body[1]:
        return None
    old, new = [], []
    for ln in body[1].split("\n")[1:]:
        if ln.startswith(" ") or ln == "":
            old.append(ln[1:])
            new.append(ln[1:])
        elif ln.startswith("-"):
            old.append(ln[1:])
        elif ln.startswith("+"):
            new.append(ln[1:])
    while old and new and old[-1] == new[-1] == "":
        old.pop()
        new.pop()
    return "\n".join(old), "\n".join(new)


def passes(t: Target) -> tuple[tuple[str, ...], ...]:
    """The test runs a mutant goes through: the quick subset first, when
    the target has one, then all its tests (only reached if it survives)."""
    return (t.fast, t.tests) if t.fast else (t.tests,)


def caught_by(tree: Path, tests: tuple[str, ...], timeout: float) -> bool:
    try:
        return scratch.run_tests(tree, tests, timeout=timeout).returncode != 0
    except subprocess.TimeoutExpired:
        return True


def recheck(tree: Path, session: Path, t: Target, known: list[dict[str, str]]) -> tuple[int, int]:
    """Survivors of an earlier run against the tests as they are now, the
    mutant re-applied by its line (positions may have moved since): those
    now caught are recorded as killed. Survivors listed as equivalent are
    not run again. Returns (rechecked, killed)."""
    done = caught = 0
    module = tree / t.module
    original = module.read_text()
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.test_outcome != TestOutcome.SURVIVED:
                continue
            if equivalent_reason(t, result.diff or "", known) is not None:
                continue
            blocks = diff_blocks(result.diff or "")
            if blocks is None or original.count(blocks[0]) != 1:
                print(f"{t.name}: cannot re-apply {result.diff!r}", flush=True)
                continue
            done += 1
            module.write_text(original.replace(blocks[0], blocks[1], 1))
            try:
                killed = any(caught_by(tree, tests, t.timeout) for tests in passes(t))
            finally:
                module.write_text(original)
            if killed:
                caught += 1
                db.set_result(
                    item.job_id,
                    WorkResult(
                        worker_outcome=WorkerOutcome.NORMAL,
                        test_outcome=TestOutcome.KILLED,
                        output="killed by the tests on recheck",
                        diff=result.diff,
                    ),
                )
    return done, caught


def results(
    session: Path, t: Target, known: list[dict[str, str]]
) -> tuple[int, int, int, list[Survivor], int]:
    total = killed = timeouts = 0
    survivors = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                continue
            total += 1
            m = item.mutations[0]
            if result.test_outcome == TestOutcome.SURVIVED:
                diff = result.diff or ""
                survivors.append(
                    Survivor(
                        m.start_pos[0],
                        m.operator_name.removeprefix("core/"),
                        m.definition_name or "(module)",
                        diff,
                        equivalent_reason(t, diff, known),
                    )
                )
            else:
                killed += 1
                if result.worker_outcome == WorkerOutcome.ABNORMAL:
                    timeouts += 1
        pending = len(list(db.pending_work_items))
    survivors.sort(key=lambda s: (s.line, s.operator))
    return total, killed, timeouts, survivors, pending


def campaign(tree: Path, t: Target, out: Path, known: list[dict[str, str]]) -> Outcome:
    start = time.monotonic()
    base = scratch.run_tests(tree, t.tests, timeout=t.timeout * 3)
    if base.returncode:
        raise SystemExit(f"{t.name}: the unmutated tests fail:\n{base.stdout[-3000:]}")
    cfg = out / f"{t.name}.toml"
    session = out / f"{t.name}.sqlite"
    cfg.write_text(config(tree, t))
    session.unlink(missing_ok=True)
    subprocess.run(["cosmic-ray", "init", str(cfg), str(session)], cwd=tree, check=True)
    kept, outside, notes = restrict(session, t, tree / t.module)
    print(
        f"{t.name}: {kept} mutants ({outside} outside {', '.join(t.functions) or '-'}, "
        f"{notes} in annotations, skipped)",
        flush=True,
    )
    subprocess.run(["nice", "cosmic-ray", "exec", str(cfg), str(session)], cwd=tree, check=True)
    if t.fast:
        print(f"{t.name}: {second_pass(tree, session, t)} more killed by all its tests", flush=True)
    total, killed, timeouts, survivors, pending = results(session, t, known)
    return Outcome(t, total, killed, timeouts, survivors, time.monotonic() - start, pending)


def report(outcomes: list[Outcome], argv: list[str]) -> str:
    today = datetime.date.today().isoformat()
    lines = [
        f"# Mutation campaign, {today}",
        "",
        f"`python tests/mutation/run.py {' '.join(argv)}` (cosmic-ray, one mutant at a time, each "
        "running only its target's tests).",
        "",
        "| target | module | functions | mutants | killed | survived | equivalent | score | "
        "score without equivalent | minutes |",
        "|:--|:--|:--|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for o in outcomes:
        t = o.target
        lines.append(
            f"| {t.name}{f' ({o.pending} not run yet)' if o.pending else ''} | `{t.module}` "
            f"| {', '.join(t.functions) or 'all'} | {o.total} | {o.killed} "
            f"| {len(o.survivors)} | {o.equivalent} | {o.score():.1f}% "
            f"| {o.score(True):.1f}% | {o.seconds / 60:.0f} |"
        )
    total = sum(o.total for o in outcomes)
    killed = sum(o.killed for o in outcomes)
    eq = sum(o.equivalent for o in outcomes)
    if total:
        lines.append(
            f"| **all** | | | {total} | {killed} | {total - killed} | {eq} "
            f"| {100 * killed / total:.1f}% | {100 * killed / max(1, total - eq):.1f}% | |"
        )
    for o in outcomes:
        lines += ["", f"## Survivors: {o.target.name}", ""]
        if not o.survivors:
            lines.append("none")
        for s in o.survivors:
            why = f" — equivalent: {s.equivalent}" if s.equivalent else ""
            lines.append(f"- line {s.line}, {s.function}, {s.operator}{why}")
            body = [
                ln for ln in s.diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")
            ]
            lines += [f"      {ln}" for ln in body]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("targets", nargs="*", help=f"default: all of {', '.join(BY_NAME)}")
    ap.add_argument("--out", type=Path, default=scratch.ROOT / "build/mutation")
    ap.add_argument(
        "--report",
        action="store_true",
        help="only summarise the sessions in OUT (a run still going counts what is done)",
    )
    ap.add_argument(
        "--recheck",
        action="store_true",
        help="re-run only the survivors of the sessions in OUT against the current tests",
    )
    args = ap.parse_args(args_in)
    unknown = [n for n in args.targets if n not in BY_NAME]
    if unknown:
        ap.error(f"unknown target {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    chosen = [BY_NAME[n] for n in args.targets] or TARGETS
    args.out.mkdir(parents=True, exist_ok=True)
    known = load_equivalent()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="vfiogen-mutation-") as tmp:
        tree = scratch.copy_checkout(Path(tmp) / "checkout")
        for t in chosen:
            if args.report:
                session = args.out.resolve() / f"{t.name}.sqlite"
                if session.is_file():
                    total, killed, timeouts, survivors, pending = results(session, t, known)
                    outcomes.append(Outcome(t, total, killed, timeouts, survivors, 0.0, pending))
            elif args.recheck:
                session = args.out.resolve() / f"{t.name}.sqlite"
                done, caught = recheck(tree, session, t, known)
                print(f"{t.name}: {caught} of {done} survivors now killed", flush=True)
                total, killed, timeouts, survivors, pending = results(session, t, known)
                outcomes.append(Outcome(t, total, killed, timeouts, survivors, 0.0, pending))
            else:
                outcomes.append(campaign(tree, t, args.out.resolve(), known))
            text = report(outcomes, args_in)
            (args.out / "report.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
