"""Golden specs, as rust-bindgen keeps its expectations: each small header in
tests/golden/ compiles to exactly the spec JSON committed beside it. A change
to any stage shows up as a reviewable diff; `pytest --bless` rewrites them.
The numbers in them are checked against gcc elsewhere (test_gcc_oracle.py);
this test pins everything else the spec says."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import HERE
from vfiogen import pipeline
from vfiogen.inputs import releases, sources
from vfiogen.ir.codec import to_json

GOLDEN = HERE / "golden"
CASES = sorted(p.relative_to(GOLDEN) for p in (GOLDEN / "linux").glob("*.h"))


def compiled(header: Path) -> str:
    """The spec of tests/golden/<header>, its paths written relative to GOLDEN."""
    rel = releases.get_release("7.2")
    tree = releases.fetch(rel, quiet=True)
    src = sources.from_header(GOLDEN / header, [tree / rel.generic])
    src.arch = {abi: [tree / d] for abi, d in rel.arch.items()}
    overlay = GOLDEN / f"{header.stem}.toml"
    spec = pipeline.compile_spec(src, overlay_files={str(header): overlay}, warn=False)
    return to_json(spec).replace(str(GOLDEN) + "/", "").replace(str(tree) + "/", "")


@pytest.mark.parametrize("header", CASES, ids=str)
def test_golden_spec(header: Path, request: pytest.FixtureRequest) -> None:
    expected = GOLDEN / f"{header.stem}.spec.json"
    text = compiled(header)
    if request.config.getoption("--bless"):
        expected.write_text(text)
    assert expected.is_file(), f"no {expected.name}: run pytest {__file__} --bless"
    assert text == expected.read_text(), f"{header} compiles differently: review, then --bless"
