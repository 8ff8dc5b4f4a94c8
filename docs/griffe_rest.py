"""Render the reST parts of rnnlab's docstrings as Markdown in the API reference.

The docstrings are Google style with two reST habits: equations in ``.. math::`` directives and
cross-references as roles (``:class:`~rnnlab.nn.Cell```). Markdown would run an equation into the
paragraph around it, eating its backslashes, and would print a role's colons. This griffe
extension rewrites both before a docstring is parsed: each directive (the equation on its line,
or the indented block under it) becomes a fenced ``tex`` block, shown verbatim, with no
JavaScript and nothing fetched from the network; each role becomes a code span of the name
(its last part after ``~``, as Sphinx shows it).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<inline>.*)$")
ROLE = re.compile(r":(?:py:)?(?:mod|class|func|meth|attr|data|exc|obj):`(?P<short>~?)(?P<target>[^`]+)`")


def fence_math(text: str) -> str:
    """``text`` with every ``.. math::`` directive turned into a fenced ``tex`` block."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        match = DIRECTIVE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent, inline, body = match["indent"], match["inline"].strip(), []
        i += 1
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(indent)):
            body.append(lines[i])
            i += 1
        while body and not body[-1].strip():  # the blank lines after the block stay outside it
            body.pop()
            i -= 1
        depth = min((_indent(line) for line in body if line.strip()), default=0)
        equations = ([inline] if inline else []) + [line[depth:] for line in body]
        out += ["", f"{indent}```tex", *(f"{indent}{line}" if line else "" for line in equations), f"{indent}```", ""]
    return "\n".join(out)


def plain_roles(text: str) -> str:
    """``text`` with every reST role turned into a code span of the name it points to."""

    def code(match: re.Match) -> str:
        target = match["target"]
        return f"`{target.rsplit('.', 1)[-1] if match['short'] else target}`"

    return ROLE.sub(code, text)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


class ReSTMarkup(griffe.Extension):
    """Rewrite the math directives and roles of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is None:
            return
        text = obj.docstring.value
        if ".. math::" in text:
            text = fence_math(text)
        obj.docstring.value = plain_roles(text)
