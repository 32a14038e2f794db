"""What the overlay's section mergers share: the checks with positions a
`_Merger` offers, as a protocol, so a section can live in its own module."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from vfiogen.errors import Loc, OverlayError
from vfiogen.ir.model import Record, Spec

_Word = TypeVar("_Word", bound=str)


class Checks(Protocol):
    spec: Spec
    data: dict[str, Any]  # this overlay file's TOML
    above: dict[str, list[tuple[Loc, str]]]  # constant -> the header's comments right above it

    def fail(self, path: tuple[str, ...], msg: str) -> OverlayError: ...

    def loc(self, path: tuple[str, ...]) -> Loc: ...

    def check_keys(
        self, entry: Any, allowed: set[str], path: tuple[str, ...]
    ) -> dict[str, Any]: ...

    def versioned_absent(self, entry: Any, path: tuple[str, ...], what: str) -> None: ...

    def applies(self, entry: dict[str, Any]) -> bool: ...

    def choice(
        self, entry: dict[str, Any], key: str, allowed: tuple[_Word, ...], path: tuple[str, ...]
    ) -> _Word | None: ...

    def field_names(self, rec: Record) -> set[str]: ...
