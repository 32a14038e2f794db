"""The user cache: compiled specs, the pins' history and black's output are
reused only while every input is unchanged; a corrupt, stale or unreadable
entry is ignored and rebuilt, and a cold cache gives the same bytes.

Each test runs on its own cache directory ($VFIOGEN_CACHE) whose `trees`
links to the real cache's fetched releases, so nothing is downloaded."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import black
import pytest
from black.mode import Mode, TargetVersion

from support import release_source
from vfiogen import cache, pipeline, spec_cache
from vfiogen.analyses import history
from vfiogen.data import PACKAGE
from vfiogen.emit import templating
from vfiogen.inputs import releases, sources
from vfiogen.ir.codec import to_json

RELEASE = "6.1"


@pytest.fixture()
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache directory sharing the fetched release trees."""
    trees = releases.cache_dir() / "trees"
    for name in releases.load_pins():
        release_source(name)  # fetched into the real cache first
    monkeypatch.setenv("VFIOGEN_CACHE", str(tmp_path))
    (tmp_path / "trees").symlink_to(trees)
    return tmp_path


def compile_counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each real compilation (cache misses) by source description."""
    real = pipeline._compile
    calls: list[str] = []

    def counting(source: sources.HeaderSource, *args: Any) -> Any:
        calls.append(source.description)
        return real(source, *args)

    monkeypatch.setattr(pipeline, "_compile", counting)
    return calls


def spec_entry(name: str) -> Path:
    key = pipeline.cache_key(sources.from_release(name, quiet=True))
    assert key is not None
    return cache.entry_path(spec_cache.KIND, key)


def test_spec_is_compiled_once_then_read(own_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = compile_counting(monkeypatch)
    cold = pipeline.compile_spec(sources.from_release(RELEASE, quiet=True), warn=False)
    assert spec_entry(RELEASE).is_file()
    warm = pipeline.compile_spec(sources.from_release(RELEASE, quiet=True), warn=False)
    assert calls == [f"release {RELEASE}"]
    assert warm is not cold and to_json(warm) == to_json(cold)


def test_other_abis_or_overlay_are_other_entries(
    own_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    src = sources.from_release(RELEASE, quiet=True)
    calls = compile_counting(monkeypatch)
    pipeline.compile_spec(src, warn=False)
    pipeline.compile_spec(src, ("x86_64",), warn=False)
    pipeline.compile_spec(src, overlay_files={}, warn=False)
    overlay = tmp_path / "vfio.toml"
    shutil.copy(PACKAGE.parent.parent / "headers/vfio.toml", overlay)
    pipeline.compile_spec(src, overlay_files={"linux/vfio.h": overlay}, warn=False)
    overlay.write_text(overlay.read_text() + "\n# edited\n")
    pipeline.compile_spec(src, overlay_files={"linux/vfio.h": overlay}, warn=False)
    assert len(calls) == 5


@pytest.fixture()
def header_tree(tmp_path: Path) -> tuple[Path, Path, Path]:
    """vfio.h 7.2 in a directory of its own, an empty include directory
    searched before 7.2's tree, and 7.2's tree: (header, early dir, tree)."""
    tree = releases.fetch(releases.get_release("7.2"), quiet=True) / "any-linux-any"
    header = tmp_path / "own/linux/vfio.h"
    header.parent.mkdir(parents=True)
    shutil.copy(tree / "linux/vfio.h", header)
    early = tmp_path / "early"
    early.mkdir()
    return header, early, tree


def header_spec(header: Path, early: Path, tree: Path) -> str:
    src = sources.from_header(header, [early, tree])
    return to_json(pipeline.compile_spec(src, overlay_files={}, warn=False))


def test_header_file_is_compiled_once_then_read(
    own_cache: Path, monkeypatch: pytest.MonkeyPatch, header_tree: tuple[Path, Path, Path]
) -> None:
    calls = compile_counting(monkeypatch)
    first = header_spec(*header_tree)
    assert header_spec(*header_tree) == first and len(calls) == 1


def test_header_file_edited_is_compiled_again(
    own_cache: Path, monkeypatch: pytest.MonkeyPatch, header_tree: tuple[Path, Path, Path]
) -> None:
    header, early, tree = header_tree
    before = header_spec(*header_tree)
    header.write_text(header.read_text() + "\n#define VFIO_CACHE_TEST 7\n")
    calls = compile_counting(monkeypatch)
    after = header_spec(*header_tree)
    assert len(calls) == 1 and "VFIO_CACHE_TEST" in after and "VFIO_CACHE_TEST" not in before


def test_included_file_edited_is_compiled_again(
    own_cache: Path, monkeypatch: pytest.MonkeyPatch, header_tree: tuple[Path, Path, Path]
) -> None:
    """linux/types.h, read through an include, changes: the entry is stale."""
    header, early, tree = header_tree
    types = early / "linux/types.h"
    types.parent.mkdir()
    shutil.copy(tree / "linux/types.h", types)
    header_spec(*header_tree)
    types.write_text(types.read_text() + "\n#define VFIO_CACHE_TEST_TYPES 1\n")
    calls = compile_counting(monkeypatch)
    header_spec(*header_tree)
    assert len(calls) == 1


def test_newly_shadowed_include_is_compiled_again(
    own_cache: Path, monkeypatch: pytest.MonkeyPatch, header_tree: tuple[Path, Path, Path]
) -> None:
    """A file of the same name appears in an include directory searched
    earlier: the preprocessor would read it now, so the entry is stale."""
    header, early, tree = header_tree
    header_spec(*header_tree)
    (early / "linux").mkdir()
    shutil.copy(tree / "linux/types.h", early / "linux/types.h")  # same content, other file
    calls = compile_counting(monkeypatch)
    header_spec(*header_tree)
    assert len(calls) == 1


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-100],  # truncated
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # one bit flipped
        lambda data: b"",  # empty
        lambda data: data.replace(b"vfiogen-cache-1", b"vfiogen-cache-0", 1),  # old format
    ],
    ids=["truncated", "bit-flip", "empty", "old-format"],
)
def test_corrupt_spec_entry_is_rebuilt(
    own_cache: Path, monkeypatch: pytest.MonkeyPatch, damage: Any
) -> None:
    good = to_json(pipeline.compile_spec(sources.from_release(RELEASE, quiet=True), warn=False))
    entry = spec_entry(RELEASE)
    entry.write_bytes(damage(entry.read_bytes()))
    calls = compile_counting(monkeypatch)
    again = pipeline.compile_spec(sources.from_release(RELEASE, quiet=True), warn=False)
    assert calls == [f"release {RELEASE}"] and to_json(again) == good
    payload = cache.read(spec_cache.KIND, entry.name)
    assert payload is not None and to_json(pickle.loads(payload)[1]) == good  # rewritten whole


def test_checksummed_entry_that_is_not_a_spec_is_rebuilt(
    own_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = spec_entry(RELEASE)
    src = sources.from_release(RELEASE, quiet=True)
    for payload in (b"not a pickle", pickle.dumps({"a": "dict"}), pickle.dumps(([], "a str"))):
        cache.write(spec_cache.KIND, entry.name, payload)
        assert spec_cache.load(entry.name, src) is None
    calls = compile_counting(monkeypatch)
    pipeline.compile_spec(sources.from_release(RELEASE, quiet=True), warn=False)
    assert calls == [f"release {RELEASE}"]


def test_an_edited_generator_has_another_fingerprint(tmp_path: Path) -> None:
    copy = tmp_path / "vfiogen"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert cache.source_digest(copy) == cache.fingerprint()
    layout = copy / "semantics/layout.py"
    layout.write_text(layout.read_text() + "\n# an edit\n")
    assert cache.source_digest(copy) != cache.fingerprint()


def test_memoized_fingerprint_follows_an_edit(
    own_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generator's digest is kept under its files' stat, as an editable
    checkout runs it: an edit of the same size with the mtime set back is
    still seen (the ctime moves), and an unchanged tree is not read again."""
    copy = tmp_path / "vfiogen"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    first = cache.memoized_source_digest(copy)
    assert first == cache.source_digest(copy) == cache.fingerprint()
    with monkeypatch.context() as m:
        m.setattr(cache, "source_digest", lambda root: pytest.fail("read again"))
        assert cache.memoized_source_digest(copy) == first
    layout = copy / "semantics/layout.py"
    st = layout.stat()
    text = layout.read_text()
    layout.write_text(text.replace("return", "retorn", 1))  # same size
    os.utime(layout, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert layout.stat().st_size == st.st_size and layout.stat().st_mtime_ns == st.st_mtime_ns
    edited = cache.memoized_source_digest(copy)
    assert edited != first and edited == cache.source_digest(copy)
    (copy / "semantics/new_module.py").write_text("X = 1\n")  # a file added
    assert cache.memoized_source_digest(copy) not in (first, edited)


def test_stale_entry_is_not_read(own_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry written by another generator (another fingerprint) is never
    found: the key changes, the compiler runs."""
    pipeline.compile_spec(sources.from_release(RELEASE, quiet=True), warn=False)
    old_key = spec_entry(RELEASE).name
    monkeypatch.setattr(cache, "fingerprint", lambda: "another generator")
    assert spec_entry(RELEASE).name != old_key
    calls = compile_counting(monkeypatch)
    pipeline.compile_spec(sources.from_release(RELEASE, quiet=True), warn=False)
    assert calls == [f"release {RELEASE}"]


def test_refetched_tree_is_another_entry(
    own_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release fetched again (Debian replaced the package) is a new tree:
    the key follows the tree's .verified marker, not just its path."""
    real = releases.tree_dir(releases.get_release(RELEASE))
    tree = tmp_path / "tree"
    tree.mkdir()
    for child in real.iterdir():
        if child.name != ".verified":
            (tree / child.name).symlink_to(child)
    (tree / ".verified").write_text(RELEASE + "\n")
    monkeypatch.setattr(releases, "tree_dir", lambda release: tree)
    key = spec_entry(RELEASE).name
    (tree / ".verified").unlink()
    (tree / ".verified").write_text(RELEASE + "\n")  # what a refetch leaves
    os.utime(tree / ".verified", ns=(1, 1))
    assert spec_entry(RELEASE).name != key


def test_history_is_cached_and_rebuilt_when_corrupt(
    own_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = history.compute(history.compile_pins())
    first = history.of_pins()
    assert first.releases == expected.releases and first.entries == expected.entries
    entries = list((own_cache / history.HISTORY_CACHE).rglob("*"))
    files = [p for p in entries if p.is_file()]
    assert len(files) == 1
    calls = compile_counting(monkeypatch)
    assert history.of_pins().entries == expected.entries and calls == []  # one read
    files[0].write_bytes(files[0].read_bytes()[:50])
    assert history.of_pins().entries == expected.entries  # rebuilt from the cached specs
    assert cache.read(history.HISTORY_CACHE, files[0].name) is not None


def test_black_cache_gives_black_s_bytes(own_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "x = {  'a':1,\n 'b' : [1,2,\n3]}\ndef f( a ):\n  return a\n"
    mode = Mode(line_length=100, target_versions={TargetVersion.PY311})
    want = black.format_str(text, mode=mode)
    cold = templating.black_format(text)
    assert cold == want
    entries = [p for p in (own_cache / templating.BLACK_CACHE).rglob("*") if p.is_file()]
    assert len(entries) == 1
    monkeypatch.setattr(black, "format_str", lambda *a, **k: pytest.fail("black ran"))
    assert templating.black_format(text) == want  # warm: read, black not run
    entries[0].write_bytes(entries[0].read_bytes().replace(b"return", b"retorn"))
    monkeypatch.undo()
    monkeypatch.setenv("VFIOGEN_CACHE", str(own_cache))
    assert templating.black_format(text) == want  # the corrupt entry is ignored


def test_unwritable_cache_still_compiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache directory would be")
    monkeypatch.setenv("VFIOGEN_CACHE", str(blocked))
    cache.write("specs", "ab" * 32, b"payload")  # no error
    assert cache.read("specs", "ab" * 32) is None
    assert templating.black_format("x=1\n") == "x = 1\n"


def test_cache_is_trimmed_least_recently_used_first(own_cache: Path) -> None:
    keys = [f"{i:02d}" * 32 for i in range(6)]
    for i, key in enumerate(keys):
        cache.write("trimtest", key, b"x" * 1000)
        os.utime(cache.entry_path("trimtest", key), ns=(i, i))  # written in this order
    assert cache.read("trimtest", keys[0]) is not None  # used again: now the newest
    cache.trim("trimtest", limit=4500)  # 6 entries of 1.08 KB: down to 3/4 of it, 3 entries
    kept = [k for k in keys if cache.entry_path("trimtest", k).exists()]
    assert kept == [keys[0], keys[4], keys[5]]
