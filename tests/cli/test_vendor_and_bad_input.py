"""Issue 11: a vendor's vfio.h with its own request builds; bad input is one
line naming the user's file, exit 2, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support import release_source

ROOT = Path(__file__).parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "gen")}
    return subprocess.run(
        [sys.executable, "-m", "vfiogen", *args], capture_output=True, text=True, env=env
    )


def vendor_header(tmp: Path) -> tuple[Path, Path]:
    src = release_source("7.2")
    text = dict(src.headers)["linux/vfio.h"].read_text()
    end = text.rindex("#endif")
    text = (
        text[:end]
        + (
            "struct foo {\n\t__u32 argsz;\n\t__u32 flags;\n\t__u64 data;\n};\n"
            "#define VFIO_FOO _IOWR(VFIO_TYPE, VFIO_BASE + 40, struct foo)\n\n"
        )
        + text[end:]
    )
    (tmp / "linux").mkdir()
    (tmp / "linux/vfio.h").write_text(text)
    return tmp / "linux/vfio.h", src.generic[0]


def test_vendor_request_builds_typed_and_unannotated(tmp_path: Path) -> None:
    header, generic = vendor_header(tmp_path)
    out = tmp_path / "out"
    r = run("build", "--header", str(header), "-I", str(generic), "--out", str(out), "-q")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert unannotated((out / "report.txt").read_text()) == ["VFIO_FOO"]
    req = " ".join((out / "vfio/requests.py").read_text().split())  # black may wrap the entry
    assert '"VFIO_FOO", VFIO_FOO, "unknown", "struct", _abi.foo' in req
    assert (out / "docs/requests/VFIO_FOO.md").is_file()


def test_truncated_header_reports_gccs_line_in_the_users_file(tmp_path: Path) -> None:
    header, generic = vendor_header(tmp_path)
    header.write_text("#ifndef X_H\n#define X_H\n#include <linux/types.h>\nstruct a { int b; };\n")
    out = tmp_path / "out"
    r = run("build", "--header", str(header), "-I", str(generic), "--out", str(out), "-q")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "<stdin>" not in lines[0]
    assert f"{header}:1: error: unterminated #ifndef" in lines[0]
    assert not out.exists()


def test_internal_error_is_one_line_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "spec.json"
    bad.write_text("{}")
    r = run("inspect", "--header", str(tmp_path / "none.h"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1


def test_vendor_docs_page_says_unannotated(tmp_path: Path) -> None:
    header, generic = vendor_header(tmp_path)
    out = tmp_path / "out"
    r = run("build", "--header", str(header), "-I", str(generic), "--out", str(out), "-q")
    assert r.returncode == 0, r.stderr
    page = (out / "docs/requests/VFIO_FOO.md").read_text()
    assert "Unannotated: no overlay describes this request" in page
    assert "fd kind" in page  # linked to the page of requests of unknown fd kind


VENDOR_OVERLAY = (
    '[requests.VFIO_FOO]\nfd = "device"\narg = "struct"\ntype = "foo"\nresult = "status"\n'
    'argsz = "minsz"\nminsz = "data"\n\n[requests.VFIO_FOO.fields]\nargsz = "in"\n'
    'flags = "in"\ndata = "out"\n'
)


def test_vendor_overlay_is_added_to_the_shipped_ones(tmp_path: Path) -> None:
    header, generic = vendor_header(tmp_path)
    overlay = tmp_path / "vendor.toml"
    overlay.write_text(VENDOR_OVERLAY)
    out = tmp_path / "out"
    r = run(
        "build",
        "--header",
        str(header),
        "-I",
        str(generic),
        "--overlay",
        str(overlay),
        "--out",
        str(out),
        "-q",
    )
    assert r.returncode == 0, r.stderr
    report = (out / "report.txt").read_text()
    assert "unannotated requests: 0" in report  # VFIO_FOO by the vendor, the rest shipped
    req = " ".join((out / "vfio/requests.py").read_text().split())  # black may wrap the entry
    assert '"VFIO_FOO", VFIO_FOO, "device", "struct", _abi.foo' in req
    # --no-overlay drops the shipped ones: only the vendor's request is annotated
    r = run(
        "report",
        "--header",
        str(header),
        "-I",
        str(generic),
        "--overlay",
        str(overlay),
        "--no-overlay",
        "-q",
    )
    assert r.returncode == 0, r.stderr
    assert "VFIO_DEVICE_GET_INFO" in unannotated(r.stdout)
    assert "VFIO_FOO" not in unannotated(r.stdout)


def unannotated(report: str) -> list[str]:
    """The names listed under `unannotated requests: N` in a report."""
    lines = report.split("unannotated requests:")[1].split("\n")[1:]
    return [
        x.strip() for x in lines[: next(i for i, x in enumerate(lines) if not x.startswith("  "))]
    ]
