"""Read YAML into plain values while remembering the line of every node.

The roster parser needs two things PyYAML's loaders do not give: the line of each value, so
problems can point at it, and scalars as the user wrote them. YAML 1.1 turns ``off`` into
``False``, an unquoted ``+919953125068`` into an integer (dropping the ``+``) and ``09:00`` into
a sexagesimal number; here every scalar stays the text that was typed, and the parser decides
what it means from where it stands.

A document is read within :class:`~shiftswitch.roster.limits.Limits` (bytes, values, nesting
depth, length of one value), checked as its events are read, before anything is built from
them: a value reached through an alias counts its whole size each time, so a few hundred bytes
of nested aliases (a "billion laughs") are refused at the alias that crosses the limit, in a
few milliseconds, instead of expanding into gigabytes.

Where it was built (``_fastyaml.c``, with libyaml), a C reader takes the first pass of the
common document: no anchors, aliases, tags or duplicate keys, within the limits. It builds the
same values from the same libyaml events without a Python object per event (five times faster
at 100,000 agents), and leaves every other document to the reader here, which says what is
wrong with it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias

import yaml

from shiftswitch.problems import Place, Problem, RosterError, quote
from shiftswitch.roster.limits import LIMITS, Limits, too_large

try:
    from shiftswitch.roster import _fastyaml
except ImportError:  # not built (no C compiler or libyaml headers at install): Python alone
    _fastyaml = None  # type: ignore[assignment]

Value: TypeAlias = str | list["Value"] | dict[str, "Value"] | None
LineOf: TypeAlias = Callable[[Place], int | None]  # a path's line in a document


def read_in_c() -> bool:
    """Whether a document's first pass is read in C (see the module's docstring)."""
    return _IN_C


def c_reader_built() -> bool:
    """Whether the C reader was built at install (it is used only beside PyYAML's libyaml)."""
    return _fastyaml is not None


def no_line(path: Place) -> None:
    """A path's line where there is no document (a roster built from parts)."""
    return None


# libyaml's parser when PyYAML was built with it: the same events and marks, ten times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# The C first pass reads libyaml's events too: only beside PyYAML's libyaml (PyYAML's own
# Python parser differs on a few documents, tabs among them), and no deeper than 1,000 levels
# (libyaml 0.2.6, which PyYAML's wheels carry, refuses more; the system's may be 0.2.5).
_IN_C = _fastyaml is not None and _LOADER is getattr(yaml, "CSafeLoader", None)
C_DEPTH = 1000
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})

SHALLOW = 2  # a mapping's entries this deep have their lines read in the first pass


@dataclass(slots=True)
class Document:
    """A parsed YAML document: the value tree and the 1-based line of each path in it.

    The first pass records the lines of a mapping's entries at most :data:`SHALLOW` deep (an
    agent, an account), where a valid roster's warnings point; the others are read
    when first asked for, by a second pass over ``text``. A valid roster never needs them, and
    at 100,000 agents recording the line of each of its 1.2 million values would double the
    parse's time and take 200 MB."""

    root: Value
    problems: list[Problem] = field(default_factory=list)
    text: str = ""
    limits: Limits = LIMITS
    shallow: dict[Place, int] = field(default_factory=dict)  # lines of the first pass
    _lines: dict[Place, int] | None = None

    @property
    def lines(self) -> dict[Place, int]:
        """Each path's 1-based line."""
        if self._lines is None:
            self._lines = _parse(self.text, self.limits, lines=True).lines_read
        return self._lines

    def exact_line(self, path: Place) -> int | None:
        """The line of ``path`` itself (None: not in the document)."""
        if self._lines is None and path in self.shallow:
            return self.shallow[path]
        return self.lines.get(path)

    def line(self, path: Place) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        if self._lines is None and path in self.shallow:
            return self.shallow[path]
        lines = self.lines
        while path:
            if path in lines:
                return lines[path]
            path = path[:-1]
        return lines.get(())


def load(text: str, limits: Limits = LIMITS) -> Document:
    """Parse ``text``; raise :class:`RosterError` for syntax errors and documents over
    ``limits``.

    Duplicate keys do not stop the parse: they are left in ``Document.problems`` (the first
    occurrence wins) so that the roster parser can report them with everything else.
    """
    problem = too_large(len(text), limits)
    if problem is not None:
        raise RosterError([problem])
    built = _parse(text, limits, lines=False)
    return Document(built.root, built.problems, text, limits, built.lines_read)


@dataclass(slots=True)
class _Built:
    root: Value = None
    problems: list[Problem] = field(default_factory=list)
    lines_read: dict[Place, int] = field(default_factory=dict)


def _parse(text: str, limits: Limits, *, lines: bool) -> _Built:
    """The values of ``text`` (and, with ``lines``, the line of each path), within ``limits``;
    :class:`RosterError` for a syntax error or a document over them."""
    if not lines and _IN_C:
        read = _read_in_c(text, limits)
        if read is not None:
            return read
    loader = None
    try:
        # In the try: PyYAML's own reader checks the characters as it is made.
        loader = _LOADER(text)
        return _Builder(limits, lines).document(loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = exc.problem or exc.context or "invalid YAML"
        raise RosterError([Problem((), f"YAML syntax error: {what}", line)]) from None
    except yaml.YAMLError as exc:  # a character YAML does not allow: the reader's own error
        what = (str(exc).splitlines() or ["invalid YAML"])[0]
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
        raise RosterError([Problem((), f"YAML syntax error: {what}", line)]) from None
    except UnicodeEncodeError as exc:  # a lone surrogate (from a JSON escape): not Unicode text
        line = text.count("\n", 0, exc.start) + 1
        message = "YAML syntax error: a character that is not Unicode text (a lone surrogate)"
        raise RosterError([Problem((), message, line)]) from None
    finally:
        if loader is not None:
            loader.dispose()


def _read_in_c(text: str, limits: Limits) -> _Built | None:
    """The first pass by the C reader, or None where it leaves the document to Python."""
    if limits.depth > C_DEPTH or max(limits.values, limits.text) > sys.maxsize:
        return None
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: refused by the Python reader, with its line
        return None
    read = _fastyaml.load(data, limits.values, limits.depth, limits.text, SHALLOW)
    if read is None:
        return None
    root, lines = read
    return _Built(root, [], lines)


def _line(event: yaml.Event) -> int | None:
    return event.start_mark.line + 1 if event.start_mark else None


@dataclass(slots=True)
class _Anchor:
    """A value with an anchor (``&name``), for its aliases (``*name``)."""

    value: Value
    key: str | None  # its text, when a scalar (an alias may stand for a key)
    size: int  # values in it, itself included


_NO_KEY = object()  # a mapping waiting for its next key
_SKIP = object()  # a mapping's next value is read and dropped (its key was refused)


@dataclass(slots=True)
class _Open:
    """A sequence or mapping being read."""

    value: list[Value] | dict[str, Value]
    path: Place
    keep: bool  # whether its lines are recorded (not a key, nor under a refused key)
    anchor: str | None
    line: int
    size: int = 1  # values in it so far, itself included
    key: object = _NO_KEY  # a mapping's key whose value comes next
    key_line: int = 0


class _Builder:
    """Builds a :class:`Document` from the parser's events, one at a time, within limits."""

    def __init__(self, limits: Limits, lines: bool) -> None:
        self.limits = limits
        self.lines = lines  # whether each value's line is recorded (else SHALLOW entries')
        self.doc = _Built()
        self.stack: list[_Open] = []
        self.anchors: dict[str, _Anchor] = {}
        self.total = 0  # values so far, those reached through an alias counted each time

    def document(self, loader: yaml.SafeLoader) -> _Built:
        get: Callable[[], yaml.Event] = loader.get_event
        get()  # the stream's start
        if isinstance(get(), yaml.StreamEndEvent):  # else the document's start
            return self.doc
        self.root(get)
        get()  # the document's end
        event = get()
        if not isinstance(event, yaml.StreamEndEvent):
            message = "a second YAML document (after '---' or '...'); a roster is one document"
            raise RosterError([Problem((), message, _line(event))])
        return self.doc

    def root(self, get: Callable[[], yaml.Event]) -> None:
        """Read the document's root value, event by event, each checked against the limits
        before anything is built from it."""
        stack = self.stack
        value: Value
        scalar, fast = yaml.ScalarEvent, not self.lines
        most, longest = self.limits.values, self.limits.text
        lines = self.doc.lines_read
        while True:
            event = get()
            kind = type(event)
            if kind is scalar and fast and stack and event.anchor is None:  # type: ignore[attr-defined]
                # Most of a document: a plain scalar, its line not asked for, put straight
                # into its sequence or mapping (as :meth:`start` and :meth:`place` would).
                text: str = event.value  # type: ignore[attr-defined]
                self.total += 1
                if self.total > most or len(text) > longest:
                    self.total -= 1  # counted again there
                    self.start(event, kind)  # raises, naming the place
                value = None if not event.style and text in _NULLS else text  # type: ignore[attr-defined]
                parent = stack[-1]
                parent.size += 1
                into = parent.value
                if type(into) is list:
                    into.append(value)
                elif parent.key is _NO_KEY:
                    self.take_key(parent, text, event.start_mark.line + 1)  # type: ignore[union-attr]
                else:
                    if type(parent.key) is str:
                        into[parent.key] = value  # type: ignore[call-overload]
                        if parent.keep and len(parent.path) < SHALLOW:
                            lines[(*parent.path, parent.key)] = parent.key_line
                    parent.key = _NO_KEY
                continue
            if kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
                frame = stack.pop()
                value, key, size, line = frame.value, None, frame.size, frame.line
                if frame.anchor is not None:
                    self.anchors[frame.anchor] = _Anchor(value, None, size)
            else:
                done = self.start(event, kind)
                if done is None:
                    continue
                value, key, size, line = done
            if not stack:
                self.doc.root = value
                return
            self.place(stack[-1], value, key, size, line)

    def start(
        self, event: yaml.Event, kind: type[yaml.Event]
    ) -> tuple[Value, str | None, int, int] | None:
        """Take a scalar, an alias, or the start of a sequence or mapping: the value with its
        text (for a key), its size and line when complete, else None."""
        line = event.start_mark.line + 1  # type: ignore[union-attr]
        if kind is yaml.ScalarEvent and not self.lines:
            # The common case, a scalar with its line not asked for: no path is made unless a
            # limit refuses it.
            self.total += 1
            if self.total > self.limits.values:
                raise self.too_many(self.where()[0], line)
            text: str = event.value  # type: ignore[attr-defined]
            if len(text) > self.limits.text:
                raise self.too_long(self.where()[0], line, len(text))
            anchor: str | None = event.anchor  # type: ignore[attr-defined]
            if anchor is not None:
                self.new_anchor(anchor, self.where()[0], line)
            value = None if not event.style and text in _NULLS else text  # type: ignore[attr-defined]
            if anchor is not None:
                self.anchors[anchor] = _Anchor(value, text, 1)
            return value, text, 1, line
        path, keep = self.where()
        if kind is yaml.AliasEvent:
            name: str = event.anchor  # type: ignore[attr-defined]
            found = self.alias(name, path, line)
            self.count(found.size, path, line, name)
            if keep and self.lines:  # the lines inside it are the alias's, where it is used
                self.doc.lines_read[path] = line
            return found.value, found.key, found.size, line
        self.count(1, path, line)
        anchor = event.anchor  # type: ignore[attr-defined]
        if anchor is not None:
            self.new_anchor(anchor, path, line)
        if keep and self.lines:
            self.doc.lines_read[path] = line
        if kind is not yaml.ScalarEvent:
            if len(self.stack) >= self.limits.depth:
                raise self.too_deep(path, line)
            empty: list[Value] | dict[str, Value] = [] if kind is yaml.SequenceStartEvent else {}
            self.stack.append(_Open(empty, path, keep, anchor, line))
            return None
        text = event.value  # type: ignore[attr-defined]
        if len(text) > self.limits.text:
            raise self.too_long(path, line, len(text))
        plain = not event.style  # type: ignore[attr-defined]
        value = None if plain and text in _NULLS else text
        if anchor is not None:
            self.anchors[anchor] = _Anchor(value, text, 1)
        return value, text, 1, line

    def where(self) -> tuple[Place, bool]:
        """The path of the value about to be read, and whether its lines are kept: not for a
        key (its line is kept with its value's) nor under a refused key."""
        parent = self.stack[-1] if self.stack else None
        if parent is None:
            return (), True
        if isinstance(parent.value, list):
            return (*parent.path, len(parent.value)), parent.keep
        if isinstance(parent.key, str):
            return (*parent.path, parent.key), parent.keep
        return parent.path, False

    def place(self, parent: _Open, value: Value, key: str | None, size: int, line: int) -> None:
        """Put a complete value into its sequence or mapping (as the key of the next value,
        when one is due)."""
        parent.size += size
        if isinstance(parent.value, list):
            parent.value.append(value)
        elif parent.key is _NO_KEY:
            self.take_key(parent, key, line)
        else:
            if isinstance(parent.key, str):
                parent.value[parent.key] = value
                # Problems about an entry point at its key, where one looks.
                if parent.keep and (self.lines or len(parent.path) < SHALLOW):
                    self.doc.lines_read[(*parent.path, parent.key)] = parent.key_line
            parent.key = _NO_KEY

    def count(self, size: int, path: Place, line: int, alias: str | None = None) -> None:
        """Count ``size`` more values; refuse the document past the limit."""
        self.total += size
        if self.total > self.limits.values:
            raise self.too_many(path, line, alias, size)

    def take_key(self, parent: _Open, key: str | None, line: int) -> None:
        """``key`` (None: not a scalar) is the key of ``parent``'s next value."""
        assert isinstance(parent.value, dict)
        parent.key, parent.key_line = _SKIP, line
        if key is None:
            if parent.keep:
                self.doc.problems.append(Problem(parent.path, "keys must be plain names", line))
        elif key in parent.value:  # the first wins
            if parent.keep:
                problem = Problem((*parent.path, key), f"duplicate key {quote(key)}", line)
                self.doc.problems.append(problem)
        else:
            parent.key = key

    def new_anchor(self, name: str, path: Place, line: int) -> None:
        if name in self.anchors or any(f.anchor == name for f in self.stack):
            message = f"YAML syntax error: anchor &{name} is defined twice"
            raise RosterError([Problem(path, message, line)])

    def alias(self, name: str, path: Place, line: int) -> _Anchor:
        found = self.anchors.get(name)
        if found is not None:
            return found
        if any(f.anchor == name for f in self.stack):
            message = (
                f"the alias *{name} stands for the value that holds it (a recursive alias), "
                "which has no end; write the value out"
            )
        else:
            message = f"YAML syntax error: found undefined alias *{name}"
        raise RosterError([Problem(path, message, line)])

    def too_many(
        self, path: Place, line: int, alias: str | None = None, size: int = 0
    ) -> RosterError:
        cap = f"{self.limits.values:,}"
        if alias is not None:
            message = (
                f"the alias *{alias} stands for {size:,} values, which takes the document past "
                f"the limit of {cap} values (aliases of aliases multiply); write the values out, "
                "or use fewer aliases"
            )
        else:
            message = f"more than {cap} values in the document; is it the right file?"
        return RosterError([Problem(path, message, line)])

    def too_deep(self, path: Place, line: int) -> RosterError:
        message = f"nested more than {self.limits.depth} levels deep; is it the right file?"
        return RosterError([Problem(path, message, line)])

    def too_long(self, path: Place, line: int, length: int) -> RosterError:
        message = (
            f"a value of {length:,} characters, over the limit of {self.limits.text:,}; "
            "is it in the right place?"
        )
        return RosterError([Problem(path, message, line)])
