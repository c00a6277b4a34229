"""Read YAML into plain values while remembering the line of every node.

The roster parser needs two things PyYAML's loaders do not give: the line of each value, so
problems can point at it, and scalars as the user wrote them. YAML 1.1 turns ``off`` into
``False``, an unquoted ``+919953125068`` into an integer (dropping the ``+``) and ``09:00`` into
a sexagesimal number; here every scalar stays the text that was typed, and the parser decides
what it means from where it stands.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import TypeAlias

import yaml

from shiftswitch.problems import Place, Problem, RosterError, quote

Value: TypeAlias = str | list["Value"] | dict[str, "Value"] | None

# libyaml's parser when PyYAML was built with it: the same nodes and marks, ten times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})


@dataclass(slots=True)
class Document:
    """A parsed YAML document: the value tree and the 1-based line of each path in it."""

    root: Value
    lines: dict[Place, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def line(self, path: Place) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


def load(text: str) -> Document:
    """Parse ``text``; raise :class:`RosterError` for syntax errors.

    Duplicate keys do not stop the parse: they are left in ``Document.problems`` (the first
    occurrence wins) so that the roster parser can report them with everything else.
    """
    # A roster is one large tree of new objects and no cycles: pausing the cyclic collector
    # while it is built halves the time for big rosters.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _load(text)
    finally:
        if paused:
            gc.enable()


def _load(text: str) -> Document:
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = exc.problem or exc.context or "invalid YAML"
        raise RosterError([Problem((), f"YAML syntax error: {what}", line)]) from None
    except yaml.YAMLError as exc:
        raise RosterError([Problem((), f"YAML syntax error: {exc}")]) from None
    doc = Document(root=None)
    if node is None:
        return doc
    try:
        doc.root = _convert(node, (), doc.lines, doc.problems)
    except RecursionError:
        raise RosterError([Problem((), "YAML too deeply nested (a recursive alias?)")]) from None
    return doc


def _convert(
    node: yaml.Node, path: Place, lines: dict[Place, int], problems: list[Problem]
) -> Value:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        text = str(node.value)
        if not node.style and text in _NULLS:  # plain: None from PyYAML, "" from libyaml
            return None
        return text
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), lines, problems) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Value] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                line = key_node.start_mark.line + 1
                problems.append(Problem(path, "keys must be plain names", line))
                continue
            key = str(key_node.value)
            child: Place = (*path, key)
            if key in out:
                line = key_node.start_mark.line + 1
                problems.append(Problem(child, f"duplicate key {quote(key)}", line))
                continue
            out[key] = _convert(value_node, child, lines, problems)
            # Point problems about a mapping entry at its key, where the reader looks.
            lines[child] = key_node.start_mark.line + 1
        return out
    raise TypeError(
        f"unexpected YAML node {node!r}"
    )  # pragma: no cover - composer yields only these
