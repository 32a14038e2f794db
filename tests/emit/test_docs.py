"""The reference docs: a page per request and struct, layout tables equal to
the spec's numbers, Sphinx builds them without a warning (so every
cross-reference resolves), no internal link of the HTML is broken, an older
release builds the same way, and a real browser (Debian's chromium, driven
by playwright's client) loads every page without a console error, finds
entities through the search, and shows a request's layout table.

Browser tests skip without chromium (tests/install-chromium.sh installs it)
and fail instead when CI=true; so do the HTML tests without Sphinx."""

from __future__ import annotations

import ast
import copy
import functools
import html.parser
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlsplit

import pytest

from support import IN_CI, RELEASES, release_spec
from vfiogen.cli import docs as docs_cli
from vfiogen.emit.docs import build as docs
from vfiogen.emit import tree as render
from vfiogen.errors import DocsError
from vfiogen.ir.model import Record, Spec

ROOT = Path(__file__).parents[2]
NEWEST = RELEASES[-1]
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require(what: str, present: bool, how: str) -> None:
    """Skip without a tool; in CI its absence is a failure."""
    if not present:
        if IN_CI:
            pytest.fail(f"{what} missing in CI: {how}")
        pytest.skip(f"{what} not installed ({how})")


def require_sphinx() -> None:
    present = all(importlib.util.find_spec(m) for m in docs_cli.BUILDER_MODULES)
    require("Sphinx/MyST", present, "pip install -e '.[docs]'")


@functools.lru_cache(maxsize=None)
def tree(release: str) -> dict[str, str]:
    return docs.render_docs(release_spec(release))


def page(release: str, path: str) -> str:
    return tree(release)[f"docs/{path}"]


# --- the sources -----------------------------------------------------------------


def test_every_request_of_both_headers_has_its_page() -> None:
    spec = release_spec(NEWEST)
    assert {r.loc.file for r in spec.requests.values()} == {"linux/vfio.h", "linux/iommufd.h"}
    for name, req in spec.requests.items():
        text = page(NEWEST, f"requests/{name}.md")
        assert f"```{{c:macro}} {name}\n" in text, name
        table = text.split("## Request number\n", 1)[1].split("\n## ", 1)[0]
        for abi, number in req.numbers.items():  # in the row of its ABI (gcc: test_docs_facts)
            row = re.search(rf"^\| [\w, ]*\b{abi}\b[\w, ]* \| \w+ \| (.*) \|$", table, re.M)
            assert row and row.group(1).strip("*") == f"`0x{number:08x}`", (name, abi)
        if req.arg == "struct":
            assert f"{{c:struct}}`{req.arg_type}`" in text or f"{{c:union}}`{req.arg_type}`" in text


def test_every_request_is_on_one_fd_page_in_call_order() -> None:
    spec = release_spec(NEWEST)
    pages = {p: t for p, t in tree(NEWEST).items() if p.startswith("docs/fd/")}
    listed = [
        (p, m.group(1))
        for p, t in pages.items()
        for m in re.finditer(r"^/requests/(\S+)$", t, re.M)
    ]
    assert sorted(n for _, n in listed) == sorted(spec.requests)
    for fd, order in {
        "container": ["VFIO_GET_API_VERSION", "VFIO_CHECK_EXTENSION", "VFIO_SET_IOMMU"],
        "group": ["VFIO_GROUP_GET_STATUS", "VFIO_GROUP_SET_CONTAINER", "VFIO_GROUP_GET_DEVICE_FD"],
        "device": [
            "VFIO_DEVICE_GET_INFO",
            "VFIO_DEVICE_GET_REGION_INFO",
            "VFIO_DEVICE_GET_IRQ_INFO",
            "VFIO_DEVICE_SET_IRQS",
            "VFIO_DEVICE_RESET",
        ],
        "iommufd": ["IOMMU_IOAS_ALLOC", "IOMMU_IOAS_MAP", "IOMMU_IOAS_UNMAP", "IOMMU_DESTROY"],
    }.items():
        names = [n for p, n in listed if p == f"docs/fd/{fd}.md"]
        assert [n for n in names if n in order] == order, fd
        assert all(spec.requests[n].fd == fd for n in names)


def _flatten(spec: Spec, rec: Record, abi: str, base: int = 0) -> Iterator[tuple[str, int, int]]:
    """(member, offset, size) as C reaches them: the test's own walk."""
    for f in rec.fields:
        off = base + f.layout[abi].offset
        if not f.name:
            yield from _flatten(spec, spec.records[f.type.name], abi, off)
        else:
            yield f.name, off, f.layout[abi].size


TABLE = re.compile(
    r"```\{table\} Layout on (?P<abis>[^:]+): (?P<size>\d+) bytes, aligned to (?P<align>\d+)"
    r"[^\n]*\n:name: (?P<label>\S+)\n\n(?P<body>(?:\|[^\n]*\n)+)```"
)


def _tables(text: str) -> list[tuple[list[str], int, int, list[tuple[str, int, int]]]]:
    out = []
    for m in TABLE.finditer(text):
        lines = m["body"].splitlines()
        head = [c.strip() for c in lines[0].strip("|").split("|")]
        rows = []
        for line in lines[2:]:
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
            target = re.search(r"<([^>]+)>`", cells[head.index("field")])
            assert target, line
            num = [int(cells[head.index(k)].strip("*")) for k in ("offset", "size")]
            rows.append((target.group(1), num[0], num[1]))
        out.append((m["abis"].split(", "), int(m["size"]), int(m["align"]), rows))
    return out


@pytest.mark.parametrize("release", [NEWEST, "6.1"])
def test_every_struct_has_layout_tables_equal_to_the_spec(release: str) -> None:
    spec = release_spec(release)
    named = [r for r in spec.records.values() if not r.anonymous]
    assert named
    for rec in named:
        tables = _tables(page(release, f"types/{rec.name}.md"))
        assert tables, rec.name
        covered = [abi for abis, *_ in tables for abi in abis]
        assert sorted(covered) == sorted(spec.abis), rec.name
        for abis, size, align, rows in tables:
            for abi in abis:
                assert (size, align) == (rec.layout[abi].size, rec.layout[abi].align), rec.name
                want = [(f"{rec.name}.{n}", o, s) for n, o, s in _flatten(spec, rec, abi)]
                assert rows == want, (rec.name, abi)


def test_abis_that_differ_are_marked() -> None:
    text = page(NEWEST, "types/vfio_bitmap.md")
    assert "Layout on i386: 20 bytes, aligned to 4; differs from x86_64" in text
    assert "| 16 | **4** |" in text  # the pointer
    assert "| **`0x20003b6c`** |" in page(NEWEST, "requests/VFIO_DEVICE_GET_REGION_INFO.md")


def test_cross_links_go_both_ways() -> None:
    spec = release_spec(NEWEST)
    for name, req in spec.requests.items():
        if req.arg == "struct" and req.arg_type in spec.records:
            assert f"argument of {{c:macro}}`{name}`" in page(NEWEST, f"types/{req.arg_type}.md")
    region = page(NEWEST, "types/vfio_region_info.md")
    assert "{ref}`flags of vfio_region_info.flags <values-vfio-region-info-flags>`" in region
    assert "(values-vfio-region-info-flags)=" in page(NEWEST, "constants.md")
    assert "capability {c:macro}`VFIO_REGION_INFO_CAP_SPARSE_MMAP`" in page(
        NEWEST, "types/vfio_region_info_cap_sparse_mmap.md"
    )


def test_errata_are_on_their_pages() -> None:
    spec = release_spec(NEWEST)
    everything = page(NEWEST, "errata.md")
    for e in spec.errata:
        assert e.claim.split("(")[0] in everything
        if e.subject in spec.requests:
            assert "## Errata" in page(NEWEST, f"requests/{e.subject}.md"), e.subject
    text = page(NEWEST, "requests/VFIO_IOMMU_GET_INFO.md")
    assert "struct vfio_iommu_info) (no such struct)" in text


def test_request_page_facts() -> None:
    text = page(NEWEST, "requests/VFIO_DEVICE_GET_REGION_INFO.md")
    for fact in (
        "- **fd**: {doc}`Device fd </fd/device>`",
        "- **argsz negotiation**: `grow`",
        "- **capability chain**: {ref}`region_info <caps-region-info>`",
        "- **since**: unknown",  # a spec without history knows no release
        "| {c:member}`index <vfio_region_info.index>` | in | 8 | 4 |",
    ):
        assert fact in text
    unmap = page(NEWEST, "requests/VFIO_IOMMU_UNMAP_DMA.md")
    assert "- **gated flag**: {c:macro}`VFIO_DMA_UNMAP_FLAG_ALL` needs extension" in unmap


def test_since_until_and_the_changelog_follow_the_history() -> None:
    spec = copy.deepcopy(release_spec(NEWEST))
    spec.history = list(RELEASES)
    spec.requests["VFIO_DEVICE_RESET"].since = RELEASES[0]
    spec.requests["IOMMU_HW_QUEUE_ALLOC"].since = "6.17"
    spec.records["vfio_region_info"].since = RELEASES[0]
    out = docs.render_docs(spec)
    assert f"- **since**: {RELEASES[0]} or earlier" in out["docs/requests/VFIO_DEVICE_RESET.md"]
    assert "| type | size" in out["docs/types/index.md"]
    log = out["docs/changelog.md"]
    assert "## Linux 6.17" in log and "{c:macro}`IOMMU_HW_QUEUE_ALLOC`" in log
    assert f"## Linux {RELEASES[0]}" in log
    assert "- **since**: 6.17\n" in out["docs/requests/IOMMU_HW_QUEUE_ALLOC.md"]
    assert "- **since**: unknown\n" in page(NEWEST, "requests/VFIO_DEVICE_RESET.md")


def test_examples_compile_and_name_the_generated_api(tmp_path: Path) -> None:
    """Every python block of the docs (the cookbook, the Python reference's
    examples, the README's example) is
    valid Python, and each `abi.X`, `api.X`, `devices.X`, `rq.X` it names
    exists in the bindings rendered from the same spec (imported in a child
    process); request pages have no placeholder example any more. Running
    them is the guest tier's job (tests/hardware/guest/test_docs_examples.py)."""
    for path, text in render.render_tree(release_spec(NEWEST)).items():
        if path.startswith("vfio/"):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text(text)
    listing = (
        "import json, vfio.abi, vfio.api, vfio.devices, vfio.tails, vfio.requests as r; print(json"
        ".dumps([dir(vfio.abi), dir(vfio.api), dir(vfio.devices), dir(vfio.tails), dir(r)]))"
    )
    names = subprocess.run(
        [sys.executable, "-c", listing],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    modules = ("abi", "api", "devices", "tails", "rq")
    exported = dict(zip(modules, map(set, json.loads(names.stdout))))
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    sources = {
        p: t
        for p, t in tree(NEWEST).items()
        if p.startswith(("docs/cookbook/", "docs/python/"))  # recipes, docstrings' examples
    }
    sources["README.md"] = readme
    checked = 0
    for path, text in sources.items():
        for block in re.findall(r"^```python\n(.*?)^```$", text, re.S | re.M):
            module = ast.parse(block, path)
            checked += 1
            for node in ast.walk(module):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                    if node.value.id in exported:
                        assert node.attr in exported[node.value.id], (path, node.attr)
    assert checked >= 10
    assert not any("## Example" in t for p, t in tree(NEWEST).items() if "/requests/" in p)


def test_render_is_reproducible_and_escapes_prose() -> None:
    spec = release_spec(NEWEST)
    assert docs.render_docs(spec) == tree(NEWEST)
    text = page(NEWEST, "requests/VFIO_DEVICE_SET_IRQS.md")
    assert "data = {1,0,1}" not in text  # braces are escaped or preformatted
    assert "{c:struct}`vfio_irq_set`" in text


# --- the HTML --------------------------------------------------------------------


def _build(release: str, out: Path) -> Path:
    require_sphinx()
    for path, text in tree(release).items():
        p = out / "src" / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    docs_cli.build_html(out / "src" / docs.ROOT, out / "html", quiet=True)
    return out / "html"


def test_a_broken_reference_fails_the_html_build(tmp_path: Path) -> None:
    """Nitpicky mode with warnings as errors: Sphinx, not a test, guards links."""
    require_sphinx()
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(page(NEWEST, "conf.py"))
    (src / "_static").mkdir()
    (src / "_static/favicon.svg").write_text(page(NEWEST, "_static/favicon.svg"))
    (src / "index.md").write_text("# Broken\n\nSee {c:macro}`VFIO_NO_SUCH_REQUEST`.\n")
    with pytest.raises(DocsError, match="Sphinx failed"):
        docs_cli.build_html(src, tmp_path / "html", quiet=True)


def test_a_missing_builder_is_a_typed_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(docs_cli, "BUILDER_MODULES", ("vfiogen_no_such_module",))
    with pytest.raises(DocsError, match="pip install"):
        docs_cli.build_html(tmp_path, tmp_path / "html")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(NEWEST, tmp_path_factory.mktemp("docs"))


def html_pages(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*.html")
        if not {"_sources", "_static", ".doctrees"} & set(p.relative_to(root).parts)
    )


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"] or "")
        for key in ("href", "src"):
            if a.get(key) and not (tag == "a" and key == "src"):
                self.links.append(a[key] or "")


def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text())
    return p


def test_html_has_every_page_and_no_broken_internal_link(site: Path) -> None:
    spec = release_spec(NEWEST)
    pages = html_pages(site)
    assert all((site / f"requests/{n}.html").is_file() for n in spec.requests)
    parsed = {p: _parse(p) for p in pages}
    broken = []
    for path, links in parsed.items():
        for link in links.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith("mailto:"):
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{path.relative_to(site)}: {link}")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{path.relative_to(site)}: {link} (no such anchor)")
    assert not broken, "\n".join(broken[:20])


def test_older_release_builds_the_same_way(tmp_path: Path) -> None:
    spec = release_spec("6.1")
    html_root = _build("6.1", tmp_path)
    for name in spec.requests:
        assert (html_root / f"requests/{name}.html").is_file()
    assert "Linux 6.1" in (html_root / "index.html").read_text()


# --- in a browser ----------------------------------------------------------------


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(site))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    exe = chromium_path()
    require("chromium", exe is not None, "bash tests/install-chromium.sh")
    require(
        "playwright", importlib.util.find_spec("playwright") is not None, "pip install '.[docs]'"
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # A persistent context on a fresh directory: the profile is this run's.
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=exe,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def test_every_page_loads_without_console_error(site: Path, server: str, browser: object) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    current = [""]
    page.on("console", lambda m: m.type == "error" and errors.append(f"{current[0]}: {m.text}"))
    page.on("pageerror", lambda e: errors.append(f"{current[0]}: {e}"))
    # A request the next navigation cancels (the favicon) fails as ERR_ABORTED:
    # not a fault of the page. A missing file is a console error (404) instead.
    page.on(
        "requestfailed",
        lambda r: r.failure != "net::ERR_ABORTED"
        and errors.append(f"{current[0]}: {r.url} {r.failure}"),
    )
    pages = html_pages(site)
    assert len(pages) > 100
    for path in pages:
        current[0] = str(path.relative_to(site))
        response = page.goto(server + current[0], wait_until="load")
        assert response is not None and response.ok, current[0]
    page.close()
    assert not errors, "\n".join(errors[:20])


@pytest.mark.parametrize(
    "query, target",
    [
        ("VFIO_DEVICE_GET_REGION_INFO", "requests/VFIO_DEVICE_GET_REGION_INFO.html"),
        ("vfio_region_info", "types/vfio_region_info.html"),
        (
            "vfio_region_info.cap_offset",
            "types/vfio_region_info.html#c.vfio_region_info.cap_offset",
        ),
        ("VFIO_REGION_INFO_FLAG_CAPS", "constants.html#c.VFIO_REGION_INFO_FLAG_CAPS"),
    ],
)
def test_search_finds_it(server: str, browser: object, query: str, target: str) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(f"{server}search.html?q={query}")
    page.wait_for_selector(f'#search-results a[href^="{target}"]', timeout=30_000)
    first = page.locator("#search-results a").first.get_attribute("href") or ""
    page.close()
    assert first.startswith(target.split("#")[0]), first


def test_screenshot_of_a_request_page_shows_its_layout_table(
    server: str, browser: object, tmp_path: Path
) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    label = "args-vfio-device-get-region-info"
    page.goto(f"{server}requests/VFIO_DEVICE_GET_REGION_INFO.html#{label}")
    table = page.locator(f"table#{label}")
    table.scroll_into_view_if_needed()
    assert table.is_visible()
    assert "argsz" in table.inner_text() and "in/out" in table.inner_text()
    shot = tmp_path / "request.png"
    png = page.screenshot(path=str(shot))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    box = table.bounding_box()
    view = page.viewport_size
    assert box is not None and view is not None
    top, bottom = max(box["y"], 0), min(box["y"] + box["height"], view["height"])
    assert bottom - top > 100, (box, view)  # a good part of the table is on screen
    clip = {"x": box["x"], "y": top, "width": box["width"], "height": bottom - top}
    with_table = page.screenshot(clip=clip)
    table.evaluate("t => { t.style.visibility = 'hidden'; }")
    without = page.screenshot(clip=clip)
    page.close()
    assert with_table != without  # those pixels are the table
