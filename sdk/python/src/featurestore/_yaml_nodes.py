"""A YAML document as the nodes serde_yaml_ng's loader builds: PyYAML's
events (libyaml's positions) composed into scalars, sequences, mappings and
aliases, stopping where the YAML is broken as serde_yaml does, with
libyaml's wording of parse errors. ``spec`` reads the nodes with the
rules in ``_spec_yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from featurestore.errors import SpecError


@dataclass
class Mark:
    line: int
    column: int
    index: int

    def __str__(self) -> str:
        if self.line or self.column:
            return f"line {self.line + 1} column {self.column + 1}"
        return f"position {self.index}"


class ReadError(Exception):
    """A serde error: its message, and where (set once, by the innermost
    reader that knows)."""

    def __init__(self, message: str, mark: Mark | None = None, located: bool = False):
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.path: str | None = None
        self.located = located

    def locate(self, mark: Mark | None, path: str) -> ReadError:
        if not self.located:
            self.located, self.mark, self.path = True, mark, path
        return self

    def __str__(self) -> str:
        text = self.message
        if self.path is not None and self.path != ".":
            text = f"{self.path}: {text}"
        if self.mark is not None and (self.mark.line or self.mark.column):
            text += f" at {self.mark}"
        return text


@dataclass
class Scalar:
    text: str
    style: str  # "" plain, "'" or '"' quoted, "|" literal, ">" folded
    tag: str | None
    mark: Mark

    @property
    def plain(self) -> bool:
        return self.style == ""


@dataclass
class Seq:
    items: list
    tag: str | None
    mark: Mark


@dataclass
class Map:
    entries: list  # (key node, value node) pairs
    tag: str | None
    mark: Mark


@dataclass
class Alias:
    target: Any


@dataclass
class Broken:
    """Where the YAML stopped parsing: reading it raises the parse error."""

    error: ReadError


@dataclass
class Void:
    """An empty document."""

    mark: Mark


NODES = (Scalar, Seq, Map, Alias, Broken, Void)


def _mark(mark: Any) -> Mark:
    return Mark(mark.line, mark.column, mark.index) if mark is not None else Mark(0, 0, 0)


def _yaml_error(error: Exception) -> ReadError:
    """A PyYAML error as libyaml (hence fsctl) words it."""
    problem = getattr(error, "problem", None)
    if problem is None:
        return ReadError(str(error), located=True)
    text = problem
    problem_mark = getattr(error, "problem_mark", None)
    if problem_mark is not None and (problem_mark.line or problem_mark.column):
        text += f" at {_mark(problem_mark)}"
    context = getattr(error, "context", None)
    context_mark = getattr(error, "context_mark", None)
    if context:
        text += f", {context}"
        if (
            context_mark is not None
            and (context_mark.line or context_mark.column)
            and (
                problem_mark is None
                or (context_mark.line, context_mark.column)
                != (problem_mark.line, problem_mark.column)
            )
        ):
            text += f" at {_mark(context_mark)}"
    return ReadError(text, located=True)


class Composer:
    """Builds the first document's nodes from PyYAML's events, stopping
    where the YAML is broken like serde_yaml's loader does."""

    def __init__(self, yaml: Any, text: str) -> None:
        self.yaml = yaml
        loader = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader
        self.events = yaml.parse(text, Loader=loader)
        self.anchors: dict[str, Any] = {}
        self.count = 0  # events of the document (bounds alias repetition)
        self.failed = False

    def next(self) -> Any:
        return next(self.events)

    def document(self) -> tuple[Any, ReadError | None, bool]:
        """(root node, an error found after the root, whether another
        document follows)."""
        yaml = self.yaml
        try:
            event = self.next()
            while isinstance(event, (yaml.StreamStartEvent, yaml.DocumentStartEvent)):
                event = self.next()
            if isinstance(event, yaml.StreamEndEvent):
                return Void(_mark(event.start_mark)), None, False
        except yaml.YAMLError as e:
            return Broken(_yaml_error(e)), None, False
        root = self.node(event)
        if self.failed:
            return root, None, False
        try:
            event = self.next()
        except yaml.YAMLError as e:
            return root, _yaml_error(e), False
        try:
            if isinstance(event, yaml.DocumentEndEvent):
                event = self.next()
        except yaml.YAMLError:
            return root, None, True  # a broken second document
        return root, None, not isinstance(event, yaml.StreamEndEvent)

    def node(self, event: Any) -> Any:
        yaml = self.yaml
        self.count += 1
        mark = _mark(event.start_mark)
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                self.failed = True
                return Broken(ReadError("unknown anchor", mark, located=True))
            return Alias(self.anchors[event.anchor])
        if isinstance(event, yaml.ScalarEvent):
            node = Scalar(event.value, event.style or "", event.tag, mark)
        elif isinstance(event, yaml.SequenceStartEvent):
            node = Seq([], event.tag, mark)
        else:
            node = Map([], event.tag, mark)
        if event.anchor is not None:
            self.anchors[event.anchor] = node
        if isinstance(node, Seq):
            self.children(node.items, yaml.SequenceEndEvent, pairs=False)
        elif isinstance(node, Map):
            self.children(node.entries, yaml.MappingEndEvent, pairs=True)
        return node

    def children(self, out: list, end: type, pairs: bool) -> None:
        """Reads a collection's children into ``out`` (key and value pairs
        for a mapping); a parse error ends it with a broken node."""
        while not self.failed:
            try:
                event = self.next()
            except self.yaml.YAMLError as e:
                self.failed = True
                broken = Broken(_yaml_error(e))
                out.append((broken, None) if pairs else broken)
                return
            if isinstance(event, end):
                self.count += 1
                return
            child = self.node(event)
            if not pairs:
                out.append(child)
            elif self.failed:
                out.append((child, None))
            else:
                out.append((child, self.value()))

    def value(self) -> Any:
        """The node of a mapping value."""
        try:
            return self.node(self.next())
        except self.yaml.YAMLError as e:
            self.failed = True
            return Broken(_yaml_error(e))


def import_yaml() -> Any:
    """PyYAML, imported when a YAML spec is read."""
    try:
        import yaml
    except ImportError:
        raise SpecError(
            "reading a YAML spec needs PyYAML: pip install 'featurestore[yaml]'"
        ) from None
    return yaml
