"""Whole answers of `spec`, `diff` and `history` kept in the user cache
(`vfiogen.cli.answers`): a warm run gives the cold run's bytes, exit status
and stderr without importing the compiler; an answer is used only while
every input of its specs is unchanged, and a corrupt entry is ignored and
recorded again. Errors are never kept.

Each test runs on a cache directory of its own ($VFIOGEN_CACHE) whose
`trees` links to the real cache's fetched releases (nothing is downloaded)."""

from __future__ import annotations

import marshal
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from support import release_source
from vfiogen import cache
from vfiogen.cli import answers
from vfiogen.cli import history as history_cli
from vfiogen.cli.main import build_parser, main
from vfiogen.inputs import releases

ROOT = Path(__file__).parents[2]
HEAVY = ("vfiogen.pipeline", "vfiogen.ir.model", "pycparser", "jinja2")


@pytest.fixture()
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache directory sharing the fetched release trees."""
    trees = releases.cache_dir() / "trees"
    for name in releases.load_pins():
        release_source(name)  # fetched into the real cache first
    root = tmp_path / "cache"
    root.mkdir()
    monkeypatch.setenv("VFIOGEN_CACHE", str(root))
    (root / "trees").symlink_to(trees)
    return root


def computed(monkeypatch: pytest.MonkeyPatch, command: str) -> list[str]:
    """Record each time `command` is really computed (its answer not replayed)."""
    module = __import__(f"vfiogen.cli.compute.{command}", fromlist=["run"])
    real: Callable[[Any], int] = module.run
    calls: list[str] = []

    def counting(a: Any) -> int:
        calls.append(command)
        return real(a)

    monkeypatch.setattr(module, "run", counting)
    return calls


def answer_files(cache_root: Path) -> list[Path]:
    return sorted(p for p in (cache_root / answers.KIND).rglob("*") if p.is_file())


def run_cli(args: list[str], cache_root: Path) -> subprocess.CompletedProcess[str]:
    """`python -X importtime -m vfiogen ARGS` on this checkout and that cache."""
    env = {**os.environ, "VFIOGEN_CACHE": str(cache_root), "PYTHONPATH": str(ROOT / "gen")}
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vfiogen", *args],
        capture_output=True,
        text=True,
        env=env,
    )


def imported(stderr: str) -> set[str]:
    return {
        line.split("|")[-1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:")
    }


def test_warm_answers_are_the_cold_ones_without_the_compiler(
    own_cache: Path, tmp_path: Path
) -> None:
    tree = releases.tree_dir(releases.get_release("7.2")) / "any-linux-any"
    commands = [
        ["spec", "7.2", "-q", "-o", "{out}"],
        ["spec", "--header", str(tree / "linux/vfio.h"), "-I", str(tree), "-q", "-o", "{out}"],
        ["diff", "6.1", "7.2", "-q"],
        ["diff", "6.3", "6.13", "-q", "--format", "json"],  # breaking: status 1
        ["history", "-q", "--format", "markdown"],
    ]
    for n, command in enumerate(commands):
        runs = []
        for attempt in ("cold", "warm"):
            out = tmp_path / f"{n}-{attempt}.out"
            done = run_cli([w.format(out=out) for w in command], own_cache)
            text = out.read_text() if out.exists() else done.stdout
            runs.append((done.returncode, text, imported(done.stderr)))
        (cold_status, cold_text, cold_modules), (warm_status, warm_text, warm_modules) = runs
        assert cold_status in (0, 1) and cold_text, command
        assert (warm_status, warm_text) == (cold_status, cold_text), command
        assert "vfiogen.pipeline" in cold_modules  # the cold run compiled (or read specs)
        assert not [m for m in HEAVY if m in warm_modules], command
    assert len(answer_files(own_cache)) == len(commands)


def test_breaking_diff_is_replayed_with_its_status(
    own_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = computed(monkeypatch, "diff")
    assert main(["diff", "6.3", "6.13", "-q"]) == 1
    cold = capsys.readouterr().out
    assert main(["diff", "6.3", "6.13", "-q"]) == 1
    assert capsys.readouterr().out == cold and calls == ["diff"]
    assert main(["diff", "6.3", "6.13", "-q", "--format", "json"]) == 1  # other options
    assert calls == ["diff", "diff"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-100],  # truncated
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # one bit flipped
        lambda data: b"",  # empty
    ],
    ids=["truncated", "bit-flip", "empty"],
)
def test_corrupt_answer_is_recorded_again(
    own_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[bytes], bytes],
) -> None:
    assert main(["diff", "6.19", "7.2", "-q"]) == 0
    good = capsys.readouterr().out
    [entry] = answer_files(own_cache)
    entry.write_bytes(damage(entry.read_bytes()))
    calls = computed(monkeypatch, "diff")
    assert main(["diff", "6.19", "7.2", "-q"]) == 0
    assert capsys.readouterr().out == good and calls == ["diff"]
    payload = cache.read(answers.KIND, entry.name)
    assert payload is not None and marshal.loads(payload)[1] == good  # rewritten whole


@pytest.mark.parametrize(
    "payload",
    [b"not marshal data", marshal.dumps({"a": 1}), marshal.dumps((7, "x", "", [])), b""],
    ids=["garbage", "not-a-tuple", "bad-status", "empty"],
)
def test_checksummed_entry_that_is_not_an_answer_is_ignored(
    own_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    payload: bytes,
) -> None:
    assert main(["history", "-q", "VFIO_DEVICE_FEATURE"]) == 0
    good = capsys.readouterr().out
    [entry] = answer_files(own_cache)
    cache.write(answers.KIND, entry.name, payload)
    calls = computed(monkeypatch, "history")
    assert main(["history", "-q", "VFIO_DEVICE_FEATURE"]) == 0
    assert capsys.readouterr().out == good and calls == ["history"]


def test_edited_generator_is_another_answer(
    own_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diff", "6.19", "7.2", "-q"]) == 0
    monkeypatch.setattr(cache, "fingerprint", lambda: "another generator")
    calls = computed(monkeypatch, "diff")
    assert main(["diff", "6.19", "7.2", "-q"]) == 0
    assert calls == ["diff"] and len(answer_files(own_cache)) == 2


@pytest.fixture()
def header_tree(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A header of its own that includes linux/types.h and has a macro that
    cannot be evaluated (a warning on stderr), an empty include directory
    searched first, and 7.2's tree: (header, early dir, tree)."""
    tree = releases.fetch(releases.get_release("7.2"), quiet=True) / "any-linux-any"
    header = tmp_path / "own/linux/answer.h"
    header.parent.mkdir(parents=True)
    header.write_text(
        "#include <linux/types.h>\n"
        "struct answer_arg {\n\t__u32 argsz;\n\t__u64 value;\n};\n"
        "#define ANSWER_UNKNOWN (NOT_DEFINED_ANYWHERE + 1)\n"
    )
    early = tmp_path / "early"
    early.mkdir()
    return header, early, tree


def header_args(header: Path, early: Path, tree: Path) -> list[str]:
    return ["spec", "--header", str(header), "-I", str(early), "-I", str(tree), "--abis", "x86_64"]


def test_header_answer_replays_stderr_and_follows_its_includes(
    own_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    header_tree: tuple[Path, Path, Path],
) -> None:
    header, early, tree = header_tree
    args = header_args(*header_tree)
    calls = computed(monkeypatch, "spec")
    assert main(args) == 0
    cold = capsys.readouterr()
    assert "ANSWER_UNKNOWN not evaluated" in cold.err and '"answer_arg"' in cold.out
    assert main(args) == 0
    assert capsys.readouterr() == cold and calls == ["spec"]  # stdout and stderr replayed
    (early / "linux").mkdir()
    types = early / "linux/types.h"
    shutil.copy(tree / "linux/types.h", types)  # now found first: the answer is stale
    assert main(args) == 0 and capsys.readouterr() == cold and len(calls) == 2
    types.write_text(types.read_text() + "\n#define ANSWER_TYPES_EDITED 1\n")
    assert main(args) == 0 and len(calls) == 3  # an included file edited
    capsys.readouterr()
    header.write_text(header.read_text() + "#define ANSWER_EDITED 2\n")
    assert main(args) == 0 and len(calls) == 4  # the header edited
    assert "ANSWER_EDITED" in capsys.readouterr().out
    assert main(args) == 0 and len(calls) == 4


def test_errors_and_second_outputs_are_not_kept(
    own_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["spec", str(tmp_path / "missing.h"), "-q"]) == 2
    assert main(["history", "-q", "NO_SUCH_THING"]) == 2
    assert main(["history", "-q", "--write-spec", str(tmp_path / "s.json")]) == 0
    assert (tmp_path / "s.json").is_file() and answer_files(own_cache) == []
    capsys.readouterr()


def test_edited_report_template_is_another_answer(
    own_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report templates are data, not in the generator's fingerprint: a
    diff or history answer is keyed by them too."""
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates/diff", templates / "diff")
    monkeypatch.setattr(answers, "data_dir", lambda name: templates)
    args = build_parser("history").parse_args(["history", "-q"])
    before = history_cli.answer(args)
    assert before is not None and history_cli.answer(args) == before
    page = templates / "diff/history.txt.j2"
    page.write_text(page.read_text() + "\n")
    after = history_cli.answer(args)
    assert after is not None and after.entry != before.entry
