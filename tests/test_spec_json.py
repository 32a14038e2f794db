"""The spec's JSON form: round trip, schema, versioning."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from support import RELEASES, release_spec
from vfiogen.ir import schema
from vfiogen.errors import SpecFormatError
from vfiogen.ir.codec import from_json, to_json

SCHEMA_FILE = Path(__file__).parent.parent / "gen/vfiogen/ir/spec.schema.json"


def test_committed_schema_is_derived_from_the_ir() -> None:
    assert (
        SCHEMA_FILE.read_text() == schema.schema_text()
    ), "regenerate gen/vfiogen/ir/spec.schema.json"


@pytest.mark.parametrize("release", RELEASES)
def test_round_trip_and_schema(release: str) -> None:
    text = to_json(release_spec(release))
    assert to_json(from_json(text)) == text
    jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text())).validate(json.loads(text))


def test_every_element_has_a_position() -> None:
    data = json.loads(to_json(release_spec("7.2")))
    for kind in ("records", "constants", "requests", "enums", "capabilities", "tails"):
        for name, item in data[kind].items():
            assert ":" in item["loc"], (kind, name)
    for rec in data["records"].values():
        for f in rec["fields"]:
            assert f["loc"].startswith("linux/"), f


def test_other_schema_version_is_refused() -> None:
    data = json.loads(to_json(release_spec("6.1")))
    data["schema_version"] = 99
    with pytest.raises(SpecFormatError, match="schema version 99, expected 1"):
        from_json(json.dumps(data), "old.json")
    with pytest.raises(SpecFormatError, match="not JSON"):
        from_json("{", "broken.json")
