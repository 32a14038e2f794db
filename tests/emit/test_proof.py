"""The hardware proof file: its shape is checked with the file named, and the
docs cite it on each request page and in one matrix page."""

from __future__ import annotations

import json

import pytest

from support import release_spec
from vfiogen.emit.docs.build import render_docs
from vfiogen.errors import ProofError
from vfiogen.inputs import proof

PROOF = {
    "schema": 1,
    "modes": {"7.2-full": ["type1", "cdev"], "6.1": ["type1"]},
    "requests": {
        "VFIO_DEVICE_RESET": {"ok": ["7.2-full/cdev"], "errnos": {"EINVAL": ["6.1/type1"]}},
        "VFIO_GET_API_VERSION": {"ok": ["7.2-full/type1", "6.1/type1"], "errnos": {}},
    },
}


def test_request_pages_and_matrix_cite_the_proof() -> None:
    p = proof.parse(json.dumps(PROOF), "proof.json")
    assert p.runs() == ["7.2-full/type1", "7.2-full/cdev", "6.1/type1"]
    out = render_docs(release_spec("7.2"), p)
    page = out["docs/requests/VFIO_DEVICE_RESET.md"]
    assert "| 7.2-full/cdev | success |" in page
    assert "| 6.1/type1 | EINVAL |" in page
    assert "7.2-full/type1" not in page  # not seen there: no row
    matrix = out["docs/proof.md"].splitlines()
    assert "2 of 55 requests proven" in out["docs/proof.md"]
    header = next(line for line in matrix if line.startswith("| request |"))
    assert header == "| request | 7.2-full/type1 | 7.2-full/cdev | 6.1/type1 |"
    row = next(line for line in matrix if "VFIO_GET_API_VERSION" in line)
    assert row.endswith("| success | · | success |")
    assert "proof" in out["docs/index.md"]


def test_no_proof_no_pages() -> None:
    out = render_docs(release_spec("7.2"))
    assert "docs/proof.md" not in out
    assert "Proven on real kernels" not in out["docs/requests/VFIO_DEVICE_RESET.md"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("{", "not JSON"),
        ('{"schema": 2, "modes": {}, "requests": {}}', "not a proof of schema 1"),
        ('{"schema": 1, "modes": [], "requests": {}}', "expected 'modes' and 'requests'"),
        ('{"schema": 1, "modes": {"a": [1]}, "requests": {}}', "modes.a: expected a list"),
        (
            '{"schema": 1, "modes": {}, "requests": {"X": {"ok": [], "errnos": {"E": "a"}}}}',
            "requests.X.errnos.E: expected a list",
        ),
    ],
)
def test_bad_proof_is_one_error_naming_the_file(text: str, message: str) -> None:
    with pytest.raises(ProofError) as err:
        proof.parse(text, "some/proof.json")
    assert str(err.value.loc).startswith("some/proof.json:")
    assert message in err.value.message
