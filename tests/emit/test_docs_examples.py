"""Docstrings to MyST: identifiers as one code span (dotted, called), a code
block kept whole across blank lines, and the Python examples of the
reference pages fenced as python, a fragment marked as the guest tier
(tests/hardware/guest/test_docs_examples.py) expects of a block it skips."""

from __future__ import annotations

from vfiogen.emit.docs import examples, myst


def no_link(keyword: str, ident: str) -> str | None:
    return myst.role("c:macro", ident) if ident == "VFIO_X" else None


def test_a_dotted_or_called_identifier_is_one_code_span() -> None:
    text = "vfio._device, prefer dma_buffer(), VFIO_X.flags, VFIO_X(), e.g. vfio.h, a.b_c"
    assert myst.linked(text, no_link) == (
        "`vfio._device`, prefer `dma_buffer()`, {c:macro}`VFIO_X`.flags,"
        " {c:macro}`VFIO_X`(), e.g. vfio.h, `a.b_c`"
    )


DOC = """Open it:

    from vfio import api

    dev = api.open_pci("0000:00:03.0")
    dev.close()

Map a buffer:

    with c.dma_buffer(4096, iova=0) as buf:
        dev.run(buf)

The kernel's rule:

    start % align == 0

Every device:

    for d in devices.find():
        print(d.bdf)
"""


def test_examples_are_python_blocks_and_a_fragment_says_why_it_does_not_run() -> None:
    blocks = examples.python_blocks(myst.docstring(DOC, no_link), "vfio.devices")
    kinds = [b.kind for b in blocks]
    assert kinds == ["text", "python", "text", "text", "fragment", "text", "pre", "text", "python"]
    assert blocks[1].body == (
        '```python\nfrom vfio import api\n\ndev = api.open_pci("0000:00:03.0")\ndev.close()\n```'
    )
    assert blocks[3].body == "*Not run by the tests: a fragment (`c`, `dev` not defined in it).*"
    assert blocks[6].body == "```text\nstart % align == 0\n```"  # a formula, not an example
    assert blocks[8].body.startswith("```python\nfor d in devices.find():")  # the page's module
    assert examples.runnable(blocks) and not examples.runnable(blocks[2:5])
