"""Issue 11, bad overlays: duplicate keys, wrong value types, unknown keys, a
since/until that is not a kernel release. Each is one line `file:line:
message` (the TOML file and the offending line), exit 2, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import release_source
from vfiogen import pipeline
from vfiogen.errors import OverlayError

ROOT = Path(__file__).parents[2]
REQ = '[requests.VFIO_DEVICE_RESET]\nfd = "device"\narg = "none"\nresult = "status"\n'
INFO = '[requests.VFIO_DEVICE_GET_INFO]\nfd = "device"\narg = "struct"\ntype = "vfio_device_info"\nresult = "status"\n'

CASES = {
    "duplicate-key": (REQ + 'fd = "device"\n', 5, "duplicate key"),
    "duplicate-table": (REQ + REQ, 5, "duplicate key"),
    "unknown-key": (REQ + 'colour = "red"\n', 5, "unknown key 'colour'"),
    "unknown-top-level-key": ("colour = 1\n", 1, "unknown key 'colour' in the top level"),
    "since-not-a-string": (REQ + "since = 6.2\n", 5, "since = 6.2; expected a string"),
    "since-not-a-release": (
        REQ + 'since = "banana"\n',
        5,
        "since = 'banana' is not a kernel release",
    ),
    "since-a-tag": (REQ + 'since = "v6.2"\n', 5, "since = 'v6.2' is not a kernel release"),
    "until-without-minor": (REQ + 'until = "6"\n', 5, "until = '6' is not a kernel release"),
    "until-a-list": (REQ + 'until = ["6.1"]\n', 5, "expected a string"),
    "note-an-integer": (REQ + "note = 5\n", 5, "note = 5; expected a string"),
    "type-an-integer": (INFO.replace('"vfio_device_info"', "7"), 4, "type = 7; expected a string"),
    "fields-a-string": (INFO + 'fields = "in"\n', 6, "fields = 'in'; expected a table"),
    "flag-gates-a-list": (REQ + 'flag_gates = ["a"]\n', 5, "expected a table"),
    "requests-an-integer": ("requests = 3\n", 1, "requests = 3; expected a table"),
    "fd-an-integer": (REQ.replace('"device"', "3"), 2, "fd = 3; expected one of"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_overlay_is_one_positioned_error(case: str, tmp_path: Path) -> None:
    text, line, message = CASES[case]
    path = tmp_path / "vendor.toml"
    path.write_text(text)
    with pytest.raises(OverlayError) as err:
        pipeline.compile_spec(release_source("7.2"), overlay_files={"x": path}, warn=False)
    assert str(err.value.loc) == f"{path}:{line}"
    assert message in err.value.message


def test_bad_overlay_on_the_command_line_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "vendor.toml"
    path.write_text(REQ + 'since = "banana"\n')
    assert build_with(path, tmp_path / "out") == [
        f"vfiogen: {path}:5: since = 'banana' is not a kernel release (expected MAJOR.MINOR, as \"6.2\")"
    ]


def build_with(overlay: Path, out: Path) -> list[str]:
    """`vfiogen build 7.2 --overlay OVERLAY --out OUT` that fails: its stderr
    lines, once the exit status (2) and that OUT was not written are checked."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "gen")}
    cmd = ["build", "7.2", "--overlay", str(overlay), "--out", str(out)]
    r = subprocess.run(
        [sys.executable, "-m", "vfiogen", *cmd], capture_output=True, text=True, env=env
    )
    assert r.returncode == 2 and not out.exists()
    return r.stderr.splitlines()
