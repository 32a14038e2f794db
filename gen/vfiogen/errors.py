"""Typed errors, all carrying a source position.

Every failure the user can cause (bad header, bad overlay, unknown release,
checksum mismatch) is a `VfiogenError`; the CLI prints it as one line
`file:line: message` and exits with status 2.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Loc:
    """A position in a source file (1-based line; column 0 when unknown)."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}" + (f":{self.col}" if self.col else "")

    def to_json(self) -> str:
        return f"{self.file}:{self.line}"

    @classmethod
    def from_json(cls, text: str) -> "Loc":
        file, _, line = text.rpartition(":")
        return cls(file, int(line))


class VfiogenError(Exception):
    """Base of every error with a position; `str()` is the one-line report."""

    def __init__(self, loc: Loc | str | None, message: str) -> None:
        self.loc = loc
        self.message = message
        super().__init__(f"{loc}: {message}" if loc else message)


class SourceError(VfiogenError):
    """An input cannot be found, fetched or verified."""


class ParseError(VfiogenError):
    """The header is not valid C (or uses a construct we do not support)."""


class MacroError(VfiogenError):
    """A macro cannot be expanded or evaluated."""


class LayoutError(VfiogenError):
    """A type's layout cannot be computed (unknown type, bad array size)."""


class OverlayError(VfiogenError):
    """The semantic overlay is malformed or names something that does not exist."""


class SpecFormatError(VfiogenError):
    """A spec JSON file is unreadable or of another schema version."""


class DiffError(VfiogenError):
    """Two specs cannot be compared (no ABI in common, an ABI one lacks)."""


class DocsError(VfiogenError):
    """The reference docs cannot be rendered or their HTML build failed."""


class FuzzError(VfiogenError):
    """The fuzz harnesses cannot be rendered (a recorded kernel answer is
    malformed, two generated syzlang names collide)."""


class ProofError(VfiogenError):
    """A hardware proof file (build/hardware/proof.json) of the wrong shape."""
