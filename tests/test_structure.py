"""The generator's shape, checked by the tools that define it: mypy --strict
over the package, import-linter's layer contract (pyproject.toml), and the
size limits a reader can hold in their head."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "gen/vfiogen"
MAX_CLASS_LINES = 400
MAX_FUNCTION_LINES = 150


def sources() -> list[Path]:
    """The generator's modules and the runtime code shipped verbatim."""
    return sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "templates").rglob("*.py"))


def test_generator_is_mypy_strict_clean() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "-p",
            "vfiogen",
        ],
        cwd=ROOT / "gen",
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_stages_import_one_way() -> None:
    lint = shutil.which("lint-imports")
    if lint is None:
        pytest.fail("import-linter is not installed (pip install -e '.[test]')")
    out = subprocess.run(
        [lint, str(ROOT / "pyproject.toml")],
        cwd=ROOT / "gen",
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def _definitions(path: Path) -> list[tuple[str, str, int]]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            kind = "class" if isinstance(node, ast.ClassDef) else "function"
            assert node.end_lineno is not None
            out.append((kind, node.name, node.end_lineno - node.lineno + 1))
    return out


def test_no_class_or_function_too_long_to_read() -> None:
    too_long = [
        f"{path.relative_to(ROOT)}: {kind} {name} has {lines} lines"
        for path in sources()
        for kind, name, lines in _definitions(path)
        if lines > (MAX_CLASS_LINES if kind == "class" else MAX_FUNCTION_LINES)
    ]
    assert too_long == []


def _late_imports(path: Path) -> list[str]:
    """Imports of vfiogen's own modules inside a function: they hide import
    cycles (third-party libraries may be imported late, for start-up time)."""
    late = []
    for fn in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if any(n == "vfiogen" or n.startswith("vfiogen.") for n in names):
                late.append(f"{path.name}:{node.lineno}")
    return late


def test_no_import_of_the_package_inside_a_function() -> None:
    assert [hit for path in sorted(PACKAGE.rglob("*.py")) for hit in _late_imports(path)] == []


def test_planted_violations_are_seen(tmp_path: Path) -> None:
    """The checks above can fail: a long function and a late import are found."""
    bad = tmp_path / "bad.py"
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    bad.write_text(f"def f() -> None:\n    from vfiogen import errors\n{body}\n")
    kinds = {(k, n) for k, n, lines in _definitions(bad) if lines > MAX_FUNCTION_LINES}
    assert kinds == {("function", "f")}
    assert _late_imports(bad) == ["bad.py:2"]
