"""vfiogen.emit.pyparse: the emitters' one way to parse Python, safe from threads."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest

from vfiogen.emit import pyparse

RUNTIME = sorted((Path(__file__).parents[2] / "templates" / "vfio").glob("*.py"))


def test_parses_like_ast_parse() -> None:
    for path in RUNTIME:
        text = path.read_text()
        assert ast.dump(pyparse.parse_module(text, str(path))) == ast.dump(ast.parse(text))
    expr = pyparse.parse_expression("abi.VFIO_TYPE + 1")
    assert ast.dump(expr) == ast.dump(ast.parse("abi.VFIO_TYPE + 1", mode="eval").body)


def test_syntax_errors_keep_their_position() -> None:
    with pytest.raises(SyntaxError) as exc:
        pyparse.parse_module("x = 1\ndef f(:\n", "bad.py")
    assert (exc.value.filename, exc.value.lineno) == ("bad.py", 2)


def test_threads_parsing_at_once_get_what_one_thread_gets() -> None:
    """The hardware tier renders flavors in threads; CPython 3.11 raised
    SystemError there (AST constructor recursion depth mismatch)."""
    texts = [p.read_text() for p in RUNTIME]
    expected = [ast.dump(ast.parse(t)) for t in texts]
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(
                [ast.dump(pyparse.parse_module(t)) for t in texts for _ in range(3)][::3]
            )
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == [expected] * 4
