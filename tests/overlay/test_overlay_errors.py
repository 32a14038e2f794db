"""A request's `errors` (errno name -> when the kernel returns it): refused at
the key's line when malformed, checked against Python's errno module, carried
to the spec and shown on the request page and in the proof matrix."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from support import RELEASES, release_source, release_spec
from vfiogen import pipeline as compiler
from vfiogen.emit.docs.build import render_docs
from vfiogen.errors import OverlayError
from vfiogen.inputs import proof

REQ = '[requests.VFIO_DEVICE_RESET]\nfd = "device"\narg = "none"\nresult = "status"\n'


def compile_with(tmp_path: Path, text: str):
    path = tmp_path / "o.toml"
    path.write_text(text)
    return compiler.compile_spec(release_source("7.2"), overlay_files={"x": path}, warn=False)


@pytest.mark.parametrize(
    "text, line, message",
    [
        (REQ + 'errors = { EWHATEVER = "x" }\n', 5, "'EWHATEVER' is not an errno name"),
        (REQ + 'errors = { einval = "x" }\n', 5, "'einval' is not an errno name"),
        (REQ + 'errors = { errorcode = "x" }\n', 5, "'errorcode' is not an errno name"),
        (REQ + 'errors = { EINVAL = "" }\n', 5, "errors.EINVAL needs a non-empty reason"),
        (REQ + 'errors = { EINVAL = "   " }\n', 5, "errors.EINVAL needs a non-empty reason"),
        (REQ + "errors = { EINVAL = 22 }\n", 5, "errors.EINVAL needs a non-empty reason"),
        (REQ + 'errors = "EINVAL"\n', 5, "expected a table"),
        (REQ + 'errors = ["EINVAL"]\n', 5, "expected a table"),
        # the table form: each errno is on its own line, and the error names that line
        (
            REQ + '\n[requests.VFIO_DEVICE_RESET.errors]\nEINVAL = "no reset method"\n'
            'ENOPE = "typo"\n',
            8,
            "'ENOPE' is not an errno name",
        ),
    ],
)
def test_bad_errors_refused_at_their_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    with pytest.raises(OverlayError) as err:
        compile_with(tmp_path, text)
    assert str(err.value.loc) == f"{tmp_path / 'o.toml'}:{line}"
    assert message in err.value.message


def test_errors_reach_the_spec(tmp_path: Path) -> None:
    spec = compile_with(
        tmp_path, REQ + 'errors = { EAGAIN = " device lock taken ", EWOULDBLOCK = "alias" }\n'
    )
    assert spec.requests["VFIO_DEVICE_RESET"].errors == {
        "EAGAIN": "device lock taken",
        "EWOULDBLOCK": "alias",
    }
    assert spec.requests["VFIO_DEVICE_GET_INFO"].errors == {}  # not in this overlay


@pytest.mark.parametrize("release", RELEASES)
def test_shipped_errors_are_real_errnos(release: str) -> None:
    requests = release_spec(release).requests
    for name, r in requests.items():
        for e, why in r.errors.items():
            assert isinstance(getattr(errno, e, None), int), f"{name}: {e}"
            assert why.strip() == why and len(why) > 10, f"{name}: {e}"
        assert len(r.errors) <= 8, name


def test_newest_release_explains_every_request() -> None:
    """Only the two requests that answer a value, never an errno, lack errors."""
    requests = release_spec("7.2").requests
    silent = sorted(name for name, r in requests.items() if not r.errors)
    assert silent == ["VFIO_CHECK_EXTENSION", "VFIO_GET_API_VERSION"]
    assert "ENOSPC" in requests["VFIO_DEVICE_GET_PCI_HOT_RESET_INFO"].errors
    assert "EMSGSIZE" in requests["IOMMU_IOAS_IOVA_RANGES"].errors
    assert "EACCES" in requests["VFIO_IOMMU_DIRTY_PAGES"].errors


def test_request_page_and_proof_matrix_show_the_reasons() -> None:
    seen = {
        "schema": 1,
        "modes": {"7.2-full": ["type1"]},
        "requests": {
            "VFIO_DEVICE_RESET": {"ok": [], "errnos": {"EINVAL": ["7.2-full/type1"]}},
            "VFIO_GET_API_VERSION": {"ok": [], "errnos": {"EPERM": ["7.2-full/type1"]}},
        },
    }
    spec = release_spec("7.2")
    why = spec.requests["VFIO_DEVICE_RESET"].errors["EINVAL"]
    out = render_docs(spec, proof.parse(json.dumps(seen), "proof.json"))
    page = out["docs/requests/VFIO_DEVICE_RESET.md"]
    assert "## Errors" in page
    assert "| `EAGAIN` | the device lock is taken" in page
    assert page.index("## Errors") < page.index("## Proven on real kernels")
    matrix = out["docs/proof.md"]
    row = next(line for line in matrix.splitlines() if "VFIO_DEVICE_RESET" in line)
    assert row.endswith("| {abbr}`EINVAL (" + why.replace("`", "'") + ")` |")
    row = next(line for line in matrix.splitlines() if "VFIO_GET_API_VERSION" in line)
    assert row.endswith("| EPERM |")  # no reason in the overlay: the bare name
    assert "## Errors" not in out["docs/requests/VFIO_GET_API_VERSION.md"]
