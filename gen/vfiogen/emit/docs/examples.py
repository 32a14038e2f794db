"""The Python examples of the reference pages: a docstring's preformatted
block that is Python code becomes a `python` block, which the guest tier
(tests/hardware/guest/test_docs_examples.py) runs, with the page's module
bound to its last name (`devices` on the vfio.devices page), as the
examples use it. A block that uses names it does not define (`dev`, `c`:
objects the surrounding text speaks of) is a fragment the tier cannot run:
the page says so just above it, naming them, as the tier expects of a block
it skips.

Python code is what parses as Python and does something: a statement other
than a bare expression, or a call (a kernel-doc formula such as
`starting_iova % align == 0` stays text).
"""

from __future__ import annotations

import ast
import builtins

from vfiogen.emit.docs.myst import Block, code, fence
from vfiogen.emit.pyparse import parse_module

NOT_RUN = "*Not run by the tests: a fragment ({names} not defined in it).*"
"""The mark the guest tier reads above a block it must not run."""
NEEDS = ("edu",)
"""What a guest must have to run a reference page's examples (its `% needs:`
line): they open the tier's edu device, found by vendor:device."""


def python_blocks(blocks: list[Block], module: str) -> list[Block]:
    """`blocks` with each Python example fenced as python, a fragment
    after the mark that says why it does not run."""
    out: list[Block] = []
    for block in blocks:
        tree = _python(block) if block.kind == "pre" else None
        if tree is None:
            out.append(block)
            continue
        free = free_names(tree) - {module.rsplit(".", 1)[-1]}
        if free:
            names = ", ".join(code(n) for n in sorted(free))
            out.append(Block("text", NOT_RUN.format(names=names)))
        out.append(Block("python" if not free else "fragment", fence(block.code, "python")))
    return out


def runnable(blocks: list[Block]) -> bool:
    """Whether the guest tier runs one of these blocks."""
    return any(b.kind == "python" for b in blocks)


def _python(block: Block) -> ast.Module | None:
    try:
        tree = parse_module(block.code)
    except SyntaxError:
        return None
    acts = any(not isinstance(s, ast.Expr) or isinstance(s.value, ast.Call) for s in tree.body)
    return tree if tree.body and acts else None


def free_names(tree: ast.Module) -> set[str]:
    """The names the code reads but neither binds nor gets from builtins."""
    bound: set[str] = set()
    read: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return read - bound - set(dir(builtins))
