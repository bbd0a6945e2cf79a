"""The documentation: README.md as a short front door, and the MkDocs site in docs/.

The site must build with `mkdocs build --strict` (no broken links or anchors, every page
in the nav), and neither the README nor the docs may point outside the repository.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mkdocs.config import load_config

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
MKDOCS_YML = ROOT / "mkdocs.yml"

README_MAX_LINES = 160
# CI runs exactly this command (.ci/run, .github/workflows/ci.yml).
TEST_COMMAND = "python -m pytest -q"
QUICKSTART = (
    'pip install -e ".[test]"',
    "pip install torch==2.14.1 torchvision==0.29.1",
    "bench run --method wfocal-effb3 --split official",
)
# Material outside the repository, or a tracker, has no place in README or docs.
FORBIDDEN = ("DOMAIN.md", "../shared", "/work/", "issue #", "(issue ")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def doc_files() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def nav_pages(nav: list[Any]) -> list[str]:
    """Every page path in a MkDocs nav (nested lists of {title: path or list})."""
    pages: list[str] = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if isinstance(value, list):
            pages += nav_pages(value)
        else:
            pages.append(str(value))
    return pages


def config_nav() -> list[str]:
    config = load_config(config_file=str(MKDOCS_YML))
    assert config["site_name"] == "cxr-bench"
    assert Path(config["docs_dir"]).resolve() == DOCS
    return nav_pages(config["nav"])


def local_links(text: str) -> list[str]:
    """Link targets that are neither URLs nor anchors on the same page."""
    links = MARKDOWN_LINK.findall(text)
    return [t for t in links if "://" not in t and not t.startswith(("#", "mailto:"))]


def test_mkdocs_nav_lists_every_page() -> None:
    pages = config_nav()
    on_disk = [p.relative_to(DOCS).as_posix() for p in doc_files()]
    assert sorted(pages) == sorted(on_disk), "the nav must list exactly the docs pages"
    assert pages[0] == "index.md"


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    command = [
        sys.executable,
        "-m",
        "mkdocs",
        "build",
        "--strict",
        "--config-file",
        str(MKDOCS_YML),
        "--site-dir",
        str(site),
    ]
    done = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{output}"
    assert "WARNING" not in output, output
    assert (site / "index.html").is_file()
    for page in config_nav():
        if page == "index.md":
            continue
        # use_directory_urls (the default): docs/splits.md -> site/splits/index.html
        html = site / Path(page).with_suffix("") / "index.html"
        assert html.is_file(), f"{page} was not built ({html} is missing)"
    for image in (DOCS / "images").glob("*.png"):
        assert (site / "images" / image.name).is_file(), f"{image.name} not copied"


def test_readme_is_a_short_front_door() -> None:
    text = README.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"
    # The test command exactly as CI runs it, on a line of its own (comments allowed).
    commands = [line.split("#")[0].strip() for line in lines]
    assert TEST_COMMAND in commands
    for command in QUICKSTART:
        assert command in text, f"README.md lost the quickstart command {command!r}"


def test_readme_links_resolve_and_reach_every_page() -> None:
    targets = local_links(README.read_text(encoding="utf-8"))
    for target in targets:
        path = (ROOT / target.split("#")[0]).resolve()
        assert path.exists(), f"README.md links {target}, which does not exist"
        assert ROOT in path.parents, f"README.md links {target}, outside the repository"
    for page in doc_files():
        name = f"docs/{page.relative_to(DOCS).as_posix()}"
        assert name in targets, f"README.md does not link {name}"


@pytest.mark.parametrize(
    "path",
    [README, *doc_files()],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_no_references_outside_the_repository(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for needle in FORBIDDEN:
        assert needle not in text, f"{path.relative_to(ROOT)} mentions {needle!r}"
    if DOCS in path.parents:
        for target in local_links(text):
            resolved = (path.parent / target.split("#")[0]).resolve()
            # MkDocs sees docs/ only: name other repository files in backticks.
            where = f"{path.name} links {target}"
            assert DOCS in resolved.parents, f"{where}, outside docs/"


def test_domain_page_keeps_its_section_numbers() -> None:
    """Code comments cite "docs/domain.md section N": sections 1-7 must stay."""
    text = (DOCS / "domain.md").read_text(encoding="utf-8")
    numbers = re.findall(r"^## (\d+)\. ", text, flags=re.MULTILINE)
    assert [int(n) for n in numbers] == list(range(1, 8))
