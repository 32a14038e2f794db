"""The spec's JSON form: round trip, schema, versioning."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from support import RELEASES, release_source, release_spec
from vfiogen.ir import schema
from vfiogen.errors import SpecFormatError
from vfiogen.ir.codec import from_json, to_json
from vfiogen.ir.model import SCHEMA_VERSION

SCHEMA_FILE = Path(__file__).parents[2] / "gen/vfiogen/ir/spec.schema.json"


def test_committed_schema_is_derived_from_the_ir() -> None:
    assert (
        SCHEMA_FILE.read_text() == schema.schema_text()
    ), "regenerate gen/vfiogen/ir/spec.schema.json"


@pytest.mark.parametrize("release", RELEASES)
def test_round_trip_and_schema(release: str) -> None:
    text = to_json(release_spec(release))
    assert to_json(from_json(text)) == text
    jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text())).validate(json.loads(text))


LOC = re.compile(r"(linux/(vfio|iommufd)\.h|headers/(vfio|iommufd)\.toml):[1-9][0-9]*")
ROOT = Path(__file__).parents[2]


def test_every_element_has_a_position() -> None:
    """Every loc is exactly `file:line` of a header (or of the overlay, for
    what only the overlay declares), and that line names the element."""
    data = json.loads(to_json(release_spec("7.2")))
    lines = {name: path.read_text().split("\n") for name, path in release_source("7.2").headers}
    for toml in ("headers/vfio.toml", "headers/iommufd.toml"):
        lines[toml] = (ROOT / toml).read_text().split("\n")

    def line_of(loc: str) -> str:
        assert LOC.fullmatch(loc), loc
        file, _, n = loc.rpartition(":")
        return lines[file][int(n) - 1]

    for kind in ("records", "constants", "requests", "enums", "capabilities", "tails"):
        for name, item in data[kind].items():
            text = line_of(item["loc"])
            if kind in ("constants", "requests", "capabilities", "tails"):
                assert re.search(rf"\b{re.escape(name)}\b", text), (kind, name, text)
            elif kind == "records" and not item.get("anonymous"):
                assert re.search(rf"\b(struct|union) {re.escape(name)}\b", text), (name, text)
    for name, rec in data["records"].items():
        for f in rec["fields"]:
            text = line_of(f["loc"])
            if f["name"]:
                assert re.search(rf"\b{re.escape(f['name'])}\b", text), (name, f["name"], text)


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    """Meta-validation: the committed schema is itself valid JSON Schema."""
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(committed)


def _corrupt(data: dict, change: str) -> None:
    rec = data["records"]["vfio_device_info"]
    if change == "extra top-level key":
        data["colour"] = "red"
    elif change == "field without loc":
        del rec["fields"][0]["loc"]
    elif change == "loc without a line":
        rec["loc"] = "linux/vfio.h"
    elif change == "loc with a word for a line":
        rec["loc"] = "linux/vfio.h:two"
    elif change == "other schema version":
        data["schema_version"] = SCHEMA_VERSION + 1
    elif change == "offset as a string":
        rec["fields"][1]["layout"]["x86_64"]["offset"] = "4"
    elif change == "abis not a list":
        data["abis"] = "x86_64"
    elif change == "required key missing":
        del data["generator"]
    elif change == "unknown key in a request":
        data["requests"]["VFIO_DEVICE_RESET"]["colour"] = 1


@pytest.mark.parametrize(
    "change",
    [
        "extra top-level key",
        "field without loc",
        "loc without a line",
        "loc with a word for a line",
        "other schema version",
        "offset as a string",
        "abis not a list",
        "required key missing",
        "unknown key in a request",
    ],
)
def test_schema_refuses_hand_made_bad_specs(change: str) -> None:
    """Expectations written by hand, not derived from the data classes: each
    corruption of a good spec is a validation error."""
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    data = json.loads(to_json(release_spec("7.2")))
    validator.validate(data)
    _corrupt(data, change)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(data)


def test_other_schema_version_is_refused() -> None:
    data = json.loads(to_json(release_spec("6.1")))
    data["schema_version"] = 99
    with pytest.raises(SpecFormatError, match=f"schema version 99, expected {SCHEMA_VERSION}"):
        from_json(json.dumps(data), "old.json")
    with pytest.raises(SpecFormatError, match="not JSON"):
        from_json("{", "broken.json")
