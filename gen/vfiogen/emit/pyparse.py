"""Python's `ast.parse`, safe to call from several threads.

CPython 3.11's AST constructor keeps its recursion depth per interpreter,
not per thread: two threads parsing at once can fail with "SystemError: AST
constructor recursion depth mismatch" (fixed in later CPython releases). The
hardware tier renders each kernel flavor's tree in its own thread, and the
emitters read the runtime's Python sources with `ast`, so every parse goes
through this one lock.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>", mode: str = "exec") -> ast.AST:
    """`ast.parse(source, filename, mode)`, one thread at a time."""
    with _LOCK:
        return ast.parse(source, filename, mode)


def parse_module(source: str, filename: str = "<unknown>") -> ast.Module:
    """A whole module's tree."""
    tree = parse(source, filename)
    assert isinstance(tree, ast.Module)
    return tree


def parse_expression(source: str) -> ast.expr:
    """One expression's tree."""
    tree = parse(source, mode="eval")
    assert isinstance(tree, ast.Expression)
    return tree.body
