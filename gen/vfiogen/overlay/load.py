"""Reading an overlay file: the shipped overlay of each main header, and
every key's line (tomllib gives values only), for errors with positions."""

from __future__ import annotations

import re
from pathlib import Path

from vfiogen.data import data_dir
from vfiogen.errors import Loc


def default_files(main: list[str]) -> dict[str, Path]:
    """The shipped overlay for each main header: linux/vfio.h -> vfio.toml."""
    out = {}
    pkg = data_dir("headers")
    for name in main:
        candidate = pkg.joinpath(Path(name).stem + ".toml")
        if candidate.is_file():
            out[name] = candidate
    return out


_KEY = re.compile(r'"([^"]*)"|([\w-]+)')


def display_name(path: Path) -> Path:
    """Shipped overlays are named as in the repository (headers/vfio.toml), so
    specs are the same bytes wherever vfiogen is installed; others as given."""
    shipped = data_dir("headers")
    try:
        return Path("headers") / path.resolve().relative_to(shipped.resolve())
    except ValueError:
        return path


class KeyLines:
    """file:line of every table header and key, for error positions."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = str(path)
        self.where: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        for n, line in enumerate(text.split("\n"), 1):
            s = line.strip()
            if s.startswith("[") and not s.startswith("[["):
                table = self._path(s[1 : s.find("]", s.rfind('"') + 1 if '"' in s else 0)])
                self.where.setdefault(table, n)
            elif re.match(r'^("[^"]*"|[\w.-]+)\s*=', s):
                self.where.setdefault(table + self._path(s.split("=", 1)[0]), n)

    @staticmethod
    def _path(dotted: str) -> tuple[str, ...]:
        """'requests."a.b".fields' -> ('requests', 'a.b', 'fields')."""
        return tuple(q or bare for q, bare in _KEY.findall(dotted))

    def loc(self, *path: str) -> Loc:
        for n in range(len(path), 0, -1):
            if path[:n] in self.where:
                return Loc(self.path, self.where[path[:n]])
        return Loc(self.path, 1)
