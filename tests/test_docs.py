"""The Python examples of the README and of every page in docs/ run as written.

Each file's ```` ```python ```` blocks run in order, in one namespace, in a temporary
directory. A block fenced with anything more than ```` ```python ```` (for example
```` ```python title="not run" ````) is shown but not run. The API reference's ``members:`` lists
name only objects that exist.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"

FENCE = re.compile(r"^(`{3,})(.*)$")


def python_blocks(path: Path) -> list[str]:
    """The bodies of the blocks fenced exactly ```` ```python ````, in order."""
    blocks, body, fence, run = [], None, "", False
    for line in path.read_text(encoding="utf-8").splitlines():
        if body is None:
            opening = FENCE.match(line)
            if opening:
                fence, info = opening.groups()
                body, run = [], info.strip() == "python"
        elif line.strip() == fence:
            if run:
                blocks.append("\n".join(body) + "\n")
            body = None
        else:
            body.append(line)
    assert body is None, f"{path}: a code block is not closed"
    return blocks


def run_blocks(path: Path) -> dict:
    namespace: dict = {"__name__": f"docs_{path.stem}"}
    for number, block in enumerate(python_blocks(path), 1):
        exec(compile(block, f"{path} (python block {number})", "exec"), namespace)
    return namespace


def test_readme_python_examples_run(tmp_path, monkeypatch):
    assert len(python_blocks(README)) >= 4
    monkeypatch.chdir(tmp_path)
    namespace = run_blocks(README)
    assert namespace["output"].shape == (4, 10, 32)  # the custom-cell layer's output, last block
    assert namespace["dloss_dh"].shape == namespace["t"].states[0].shape
    assert (tmp_path / "model.pt").exists()


PAGES = sorted(DOCS.rglob("*.md"))


def test_docs_have_pages_with_examples():
    assert sum(bool(python_blocks(page)) for page in PAGES) >= 5


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)],
                         ids=lambda p: str(p.relative_to(DOCS)))
def test_docs_page_python_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_blocks(page)


def test_api_reference_lists_only_names_that_exist():
    """mkdocstrings skips a ``members:`` name that is not there, so a renamed object would vanish silently."""
    for page in sorted((DOCS / "reference").glob("*.md")):
        for block in re.split(r"\n(?=::: )", page.read_text(encoding="utf-8")):
            directive = re.match(r"::: (\S+)", block)
            if not directive:
                continue
            obj = _resolve(directive[1])
            for member in re.findall(r"^ +- (\w+)$", block, flags=re.MULTILINE):
                assert hasattr(obj, member), f"{page.name}: {directive[1]} has no member {member!r}"


def _resolve(path: str):
    """The object at a dotted path: the longest importable module, then attributes."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(path)
