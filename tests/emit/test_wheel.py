"""`vfiogen wheel`: a wheel pip installs offline into a fresh venv, whose
`vfio` imports from anywhere and type-checks user code (mypy --strict through
PEP 561), with core metadata that `packaging` accepts and naming the
headers; built twice, the same bytes."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.version import Version

from support import release_spec
from vfiogen import __version__
from vfiogen.emit.bindings.build import render_bindings
from vfiogen.emit.bindings.wheel import wheel_version, write_wheel

USER_CODE = """
import vfio
from vfio import abi, api

def regions(path: str) -> list[int]:
    with api.Device(0, path) as dev:
        return [r.size for r in dev.regions()]

flags: abi.VfioRegionInfoFlags = abi.VfioRegionInfoFlags.MMAP
print(vfio.KERNEL_RELEASE, vfio.__file__, api.Device.__name__, int(flags))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = release_spec("7.2")
    out = tmp_path_factory.mktemp("dist")
    path = write_wheel(spec, render_bindings(spec), out)
    assert path.name == "vfio-7.2.0+vfiogen0.1.0-py3-none-any.whl"
    return path


def test_wheel_installs_offline_imports_anywhere_and_type_checks(
    wheel: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin/python"
    pip = [str(python), "-m", "pip", "install", "-q", "--no-index", "--disable-pip-version-check"]
    out = subprocess.run([*pip, str(wheel)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    user = tmp_path / "elsewhere"
    user.mkdir()
    (user / "use_vfio.py").write_text(USER_CODE)
    env = {"PATH": "/usr/bin:/bin", "VFIO_ABI": "x86_64"}  # no PYTHONPATH: the venv only
    run = subprocess.run(
        [str(python), "use_vfio.py"], cwd=user, capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr
    release, location, name, mmap_flag = run.stdout.split()
    assert (release, name, mmap_flag) == ("7.2", "Device", "4")
    assert location.startswith(str(venv))  # the installed copy, not generated/
    mypy = shutil.which("mypy")
    if mypy is None:
        pytest.skip("mypy not installed (pip install '.[test]')")
    checked = subprocess.run(
        [mypy, "--strict", "--python-executable", str(python), "use_vfio.py"],
        cwd=user,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout
    (user / "wrong.py").write_text("from vfio import api\napi.Device(0).region_info('x')\n")
    wrong = subprocess.run(
        [mypy, "--strict", "--python-executable", str(python), "wrong.py"],
        cwd=user,
        capture_output=True,
        text=True,
    )
    assert wrong.returncode == 1 and 'incompatible type "str"' in wrong.stdout  # typed, not Any


def test_metadata_is_valid_and_names_the_headers(wheel: Path) -> None:
    metadata = pytest.importorskip("packaging.metadata")
    spec = release_spec("7.2")
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        text = whl.read("vfio-7.2.0+vfiogen0.1.0.dist-info/METADATA").decode()
        record = whl.read("vfio-7.2.0+vfiogen0.1.0.dist-info/RECORD").decode()
    meta = metadata.Metadata.from_email(text, validate=True)
    assert str(meta.version) == "7.2.0+vfiogen0.1.0" and meta.name == "vfio"
    assert str(meta.requires_python) == ">=3.11"
    for h in spec.headers:
        assert f"`{h.name}` | `{h.sha256}`" in text
    assert "vfio/py.typed" in names and "vfio/api.py" in names
    assert {line.split(",")[0] for line in record.splitlines()} == set(names)


def test_wheel_is_reproducible_and_versions_unreleased_headers(wheel: Path, tmp_path: Path) -> None:
    spec = release_spec("7.2")
    again = write_wheel(spec, render_bindings(spec), tmp_path)
    assert again.read_bytes() == wheel.read_bytes()
    unreleased = dataclasses.replace(spec, release=None)  # as from a header file
    version = wheel_version(unreleased)
    assert version.startswith("0+vfiogen") and len(version.rsplit(".", 1)[1]) == 12


@pytest.mark.parametrize("release, kernel", [("6.1", "6.1.0"), ("7.2", "7.2.0")])
def test_every_release_versions_its_wheel_major_minor_patch(release: str, kernel: str) -> None:
    version = wheel_version(release_spec(release))
    assert version == f"{kernel}+vfiogen{__version__}"
    assert len(Version(version).release) == 3  # packaging's reading of it


def test_commands_write_into_out_itself(tmp_path: Path) -> None:
    """`vfiogen wheel --out DIR` and `vfiogen docs --out DIR`: the wheel, and
    the pages (index.md, conf.py), directly in DIR."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "gen")}
    for command in ("wheel", "docs"):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "vfiogen",
                command,
                "7.2",
                "-q",
                "--out",
                str(tmp_path / command),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        assert out.returncode == 0, out.stderr
    assert [p.name for p in (tmp_path / "wheel").iterdir()] == [
        "vfio-7.2.0+vfiogen0.1.0-py3-none-any.whl"
    ]
    assert (tmp_path / "docs/index.md").is_file() and (tmp_path / "docs/conf.py").is_file()
