"""The CLI contract: output shapes, reproducibility, and errors (exit 2,
one line with file:line, nothing written)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support import release_source
from vfiogen.inputs import releases
from vfiogen.ir.model import SCHEMA_VERSION

ROOT = Path(__file__).parents[2]


def vfiogen(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m vfiogen ARGS` running this checkout's generator (not
    whichever checkout is installed)."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "gen"), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "vfiogen", *args], capture_output=True, text=True, env=env, cwd=cwd
    )


def test_spec_is_byte_identical_across_runs(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert vfiogen("spec", "7.2", "-q", "-o", str(a)).returncode == 0
    assert vfiogen("spec", "--release", "7.2", "-q", "-o", str(b)).returncode == 0
    assert a.read_bytes() == b.read_bytes()
    data = json.loads(a.read_text())
    assert data["schema_version"] == SCHEMA_VERSION == 2 and data["release"] == "7.2"


def test_committed_generated_tree_is_fresh() -> None:
    """generated/ is what the generator makes of the newest release."""
    out = vfiogen("build", "--check", "--out", str(ROOT / "generated"))
    assert out.returncode == 0, f"run `make` to regenerate:\n{out.stderr}"
    spec = vfiogen("spec", list(releases.load_pins())[-1], "-q")
    assert spec.stdout == (ROOT / "generated/spec.json").read_text()


def test_generated_python_passes_black_check() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "black", "--check", "--quiet", str(ROOT / "generated")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr


def test_build_check_detects_staleness(tmp_path: Path) -> None:
    assert vfiogen("build", "6.1", "-q", "--out", str(tmp_path)).returncode == 0
    assert vfiogen("build", "6.1", "--check", "-q", "--out", str(tmp_path)).returncode == 0
    abi = tmp_path / "vfio/abi.py"
    abi.write_text(abi.read_text() + "# edited\n")
    (tmp_path / "vfio/extra.py").write_text("")
    out = vfiogen("build", "6.1", "--check", "--out", str(tmp_path))
    assert out.returncode == 1
    assert "vfio/abi.py is stale" in out.stderr and "vfio/extra.py is stale" in out.stderr
    # a rebuild replaces the package whole: the extra module is gone
    assert vfiogen("build", "6.1", "-q", "--out", str(tmp_path)).returncode == 0
    assert not (tmp_path / "vfio/extra.py").exists()


def test_inspect_json_shape() -> None:
    out = vfiogen("inspect", "7.2", "--abi", "i386", "--json", "-q")
    assert out.returncode == 0, out.stderr
    v = json.loads(out.stdout)
    assert set(v) == {"abi", "types", "constants", "requests"} and v["abi"] == "i386"
    t = v["types"]["vfio_iommu_type1_info"]
    assert set(t) == {"kind", "size", "align", "fields"} and t["kind"] == "struct"
    assert t["fields"]["cap_offset"] == {"offset": 16, "size": 4}
    # members of anonymous unions appear directly under their parent
    assert "in_data_type" in v["types"]["iommu_hw_info"]["fields"]
    assert v["types"]["vfio_irq_set"]["fields"]["data"]["size"] == 0
    assert v["constants"]["VFIO_TYPE1v2_IOMMU"] == 3
    r = v["requests"]["VFIO_DEVICE_GET_REGION_INFO"]
    assert r == {
        "number": 0x3B6C,
        "fd": "device",
        "arg": "struct",
        "type": "vfio_region_info",
        "result": "status",
    }
    assert v["requests"]["VFIO_GROUP_GET_DEVICE_FD"]["result"] == "fd"
    for name, req in v["requests"].items():
        assert set(req) == {"number", "fd", "arg", "type", "result"}, name
        assert all(req[k] is not None for k in ("fd", "arg", "result")), name


def test_inspect_tables() -> None:
    out = vfiogen("inspect", "6.1", "--abi", "powerpc64", "-q")
    assert out.returncode == 0
    assert re.search(r"VFIO_GET_API_VERSION\s+0x20003b64\s+container", out.stdout)


def test_default_source_is_newest_cached_release() -> None:
    out = vfiogen("inspect", "--json", "-q")
    assert out.returncode == 0
    assert "IOMMU_IOAS_ALLOC" in json.loads(out.stdout)["requests"]


def test_report_full_coverage_on_newest() -> None:
    out = vfiogen("report", "7.2", "-q")
    assert out.returncode == 0
    assert "55/55 requests annotated (100%)" in out.stdout
    assert "vfio_iommu_info" in out.stdout  # a doc names a struct that does not exist


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


HEADER_PRELUDE = "#include <linux/types.h>\n#include <linux/ioctl.h>\n"


def _bad_inputs(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (arguments, regex the one-line error must match)."""
    tree = releases.fetch(releases.get_release("7.2"), quiet=True) / "any-linux-any"
    inc = ["-I", str(tree)]
    vfio = (tree / "linux/vfio.h").read_text()
    overlay = _write(
        tmp / "bad.toml",
        '[requests.VFIO_NO_SUCH_REQUEST]\nfd = "device"\narg = "none"\nresult = "status"\n',
    )
    return {
        "missing file": (["--header", str(tmp / "nope.h")], r"nope\.h: no such header file"),
        "truncated header": (
            ["--header", str(_write(tmp / "linux/vfio.h", vfio[: len(vfio) // 3])), *inc],
            r"linux/vfio\.h:\d+: ",
        ),
        "syntax error": (
            [
                "--header",
                str(_write(tmp / "syn.h", HEADER_PRELUDE + "struct s {\n\t__u32 a b;\n};\n")),
                *inc,
            ],
            r"syn\.h:4:\d+: syntax error before 'b'",
        ),
        "unknown type": (
            [
                "--header",
                str(_write(tmp / "unk.h", HEADER_PRELUDE + "struct s {\n\tfoo_t a;\n};\n")),
                *inc,
            ],
            r"unk\.h:4: unknown type 'foo_t'",
        ),
        "unevaluable request": (
            [
                "--header",
                str(
                    _write(tmp / "req.h", HEADER_PRELUDE + "#define R _IO('x', NOT_DEFINED + 1)\n")
                ),
                *inc,
            ],
            r"req\.h:3: request R = .*'NOT_DEFINED' is not a known constant",
        ),
        "overlay names a missing request": (
            ["7.2", "--overlay", str(overlay)],
            r"bad\.toml:1: request VFIO_NO_SUCH_REQUEST does not exist",
        ),
        "unknown release": (["--release", "9.9"], r"releases\.toml: unknown release '9\.9'"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing file",
        "truncated header",
        "syntax error",
        "unknown type",
        "unevaluable request",
        "overlay names a missing request",
        "unknown release",
    ],
)
def test_bad_input_exits_2_without_output(tmp_path: Path, case: str) -> None:
    args, pattern = _bad_inputs(tmp_path)[case]
    out_file = tmp_path / "out" / "spec.json"
    out = vfiogen("spec", *args, "-q", "-o", str(out_file))
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert not out_file.exists()
    # an existing output is left as it was
    _write(out_file, "before\n")
    assert vfiogen("spec", *args, "-q", "-o", str(out_file)).returncode == 2
    assert out_file.read_text() == "before\n"
    assert [p.name for p in out_file.parent.iterdir()] == ["spec.json"]  # no temp file left


def test_checksum_mismatch(tmp_path: Path) -> None:
    rel = releases.get_release("6.13")
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / rel.file).write_bytes(b"not the pinned wheel")
    env = {**__import__("os").environ, "VFIOGEN_CACHE": str(tmp_path)}
    out = vfiogen("spec", "6.13", "-o", str(tmp_path / "s.json"), env=env)
    assert out.returncode == 2
    assert re.search(
        r"releases\.toml:\d+: checksum mismatch for .*sha256 [0-9a-f]{64}, pinned " + rel.sha256,
        out.stderr,
    )
    assert not (tmp_path / "s.json").exists()
    assert not (tmp_path / "trees" / "6.13").exists()


def test_release_source_records_checksums() -> None:
    src = release_source("7.2")
    sums = src.sha256()
    assert sums == releases.get_release("7.2").headers


def test_default_source_falls_back_to_the_system_header(tmp_path: Path) -> None:
    if not Path("/usr/include/linux/vfio.h").is_file():
        pytest.skip("no system vfio.h (Debian: linux-libc-dev)")
    env = {**__import__("os").environ, "VFIOGEN_CACHE": str(tmp_path)}  # nothing cached
    out = vfiogen("inspect", "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert "is not cached: using the system's /usr/include/linux/vfio.h" in out.stderr
    assert "VFIO_DEVICE_GET_REGION_INFO" in json.loads(out.stdout)["requests"]
