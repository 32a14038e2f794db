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


def test_the_fuzzers_reach_sits_beside_each_request() -> None:
    """The optional "fuzz" key: successes of the fuzzer's calls per request,
    a column per flavor in the matrix and a row on the request page."""
    data = {
        **PROOF,
        "fuzz": {"7.2-full": {"VFIO_DEVICE_RESET": {"calls": 40, "ok": 3}}},
    }
    p = proof.parse(json.dumps(data), "proof.json")
    assert p.fuzz["7.2-full"]["VFIO_DEVICE_RESET"] == proof.FuzzReach(40, 3)
    out = render_docs(release_spec("7.2"), p)
    assert (
        "| 7.2-full/fuzzer | 3 of 40 random calls succeeded |"
        in out["docs/requests/VFIO_DEVICE_RESET.md"]
    )
    matrix = out["docs/proof.md"].splitlines()
    header = next(line for line in matrix if line.startswith("| request |"))
    assert header.endswith("| 6.1/type1 | 7.2-full fuzzer |")
    row = next(line for line in matrix if "VFIO_DEVICE_RESET" in line)
    assert row.endswith("| 3 / 40 |")
    other = next(line for line in matrix if "VFIO_GET_API_VERSION" in line)
    assert other.endswith("| · |")  # the fuzzer did not report it
    assert "without" not in out["docs/proof.md"] and "fuzzer's reach" in out["docs/proof.md"]


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
        ('{"schema": 1, "modes": {}, "requests": {}, "fuzz": []}', "fuzz: expected an object"),
        (
            '{"schema": 1, "modes": {}, "requests": {}, "fuzz": {"f": {"X": {"calls": -1}}}}',
            "fuzz.f.X: expected calls and ok counts",
        ),
    ],
)
def test_bad_proof_is_one_error_naming_the_file(text: str, message: str) -> None:
    with pytest.raises(ProofError) as err:
        proof.parse(text, "some/proof.json")
    assert str(err.value.loc).startswith("some/proof.json:")
    assert message in err.value.message
