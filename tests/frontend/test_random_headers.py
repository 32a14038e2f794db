"""Random UAPI-style headers (tests/randheader.py, seeded, reproducible)
compiled by vfiogen and compared with gcc on every fact of the inspect view,
x86_64 and i386: hundreds of records per run, one gcc run per header."""

from __future__ import annotations

from pathlib import Path

import pytest

import randheader
import uapi_sweep
from support import require_compiler

SEEDS = range(1, 13)  # 12 headers x 40 records, plus enums, constants, requests


@pytest.mark.gcc
@pytest.mark.parametrize("seed", SEEDS)
def test_random_header_matches_gcc(seed: int, tmp_path: Path) -> None:
    for abi in uapi_sweep.SWEEP_ABIS:
        require_compiler(abi)
    tree = uapi_sweep.generic_tree()
    (tmp_path / "linux").mkdir()
    (tmp_path / "linux/rand.h").write_text(randheader.header(seed))
    for d in ("linux", "asm", "asm-generic"):  # the header beside 7.2's tree
        for p in (tree / d).iterdir():
            (tmp_path / d).mkdir(exist_ok=True)
            if not (tmp_path / d / p.name).exists():
                (tmp_path / d / p.name).symlink_to(p)
    views = uapi_sweep.compile_views(tmp_path, "linux/rand.h", uapi_sweep.SWEEP_ABIS)
    assert not isinstance(views, str), f"seed {seed}: {views}"
    for abi, view in views.items():
        v = uapi_sweep.compare(tmp_path, "linux/rand.h", abi, view, cache=False)
        assert len(view["types"]) >= 40 and v.checked > 200
        assert v.bad == [], f"seed {seed} {abi}: " + "; ".join(v.bad[:8])
