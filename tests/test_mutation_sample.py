"""CI's fixed sample of mutants (tests/mutation/sample.toml): each is a
one-line bug in code that decides correctness (the bugs planted in issue 15
and some the mutation campaign found), and the tests that name its rule
must fail with it in place. So the suite's ability to catch these bugs
cannot silently decay. The campaign itself: `make mutation`."""

from __future__ import annotations

from pathlib import Path

import pytest

from mutation import scratch

SAMPLE = scratch.load_sample()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scratch.copy_checkout(tmp_path_factory.mktemp("mutants") / "checkout")


@pytest.mark.parametrize("tests", sorted({m.tests for m in SAMPLE}), ids=" ".join)
def test_the_unmutated_copy_passes(tree: Path, tests: tuple[str, ...]) -> None:
    """Without this, a mutant could be 'killed' by a copy that never works."""
    proc = scratch.run_tests(tree, tests)
    assert proc.returncode == 0, proc.stdout[-3000:]


@pytest.mark.parametrize("mutant", SAMPLE, ids=lambda m: m.id)
def test_mutant_is_killed(tree: Path, mutant: scratch.Mutant) -> None:
    caught, output = scratch.killed(tree, mutant)
    assert caught, f"no test catches: {mutant.rule}\n{output}"


def test_every_sample_line_exists_once() -> None:
    """A refactor that moves or rewrites a sampled line must update the sample."""
    for m in SAMPLE:
        scratch.locate(scratch.ROOT, m)
