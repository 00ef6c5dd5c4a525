"""Read YAML config files so that every error names its file and line.

PyYAML's plain `safe_load` forgets where each value came from and silently keeps the
last of two duplicate keys. Here the file is composed into nodes first; the nodes give
a plain dict/list tree plus a map from each path, e.g. ("categories", 3, "sla", "high",
"respond"), to its line. Pydantic's errors carry the same paths, so each one becomes
`file:line: path: message`, one line per problem.

Validators that check several fields at once raise `ConfigIssues` with paths relative
to the model they validate, so a dangling reference is reported at the offending item's
line and not at the top of the file.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

if TYPE_CHECKING:
    from services.config.estate import EstateConfig

__all__ = [
    "ConfigError",
    "ConfigIssues",
    "ConfigProblem",
    "Loc",
    "YamlDocument",
    "format_path",
    "load_config",
    "load_model",
    "parse_config",
    "parse_model",
    "read_yaml",
]

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_SEXAGESIMAL_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def format_path(path: Sequence[str | int]) -> str:
    """("categories", 3, "sla", "high") -> "categories[3].sla.high"."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config file; `line` is 1-based, None when unknown."""

    source: str
    line: int | None
    path: Loc
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        if self.path:
            return f"{where}: {format_path(self.path)}: {self.message}"
        return f"{where}: {self.message}"


class ConfigError(Exception):
    """A config file that cannot be used; str() is one `file:line: path: message` per line."""

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        unique = dict.fromkeys(problems)  # aliases can report the same node twice
        self.problems: tuple[ConfigProblem, ...] = tuple(
            sorted(unique, key=lambda p: (p.line is None, p.line or 0))
        )
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigIssues(ValueError):
    """Raised by validators: problems at paths relative to the model being validated."""

    def __init__(self, issues: Iterable[tuple[Loc, str]]) -> None:
        self.issues: tuple[tuple[Loc, str], ...] = tuple(issues)
        super().__init__(
            "; ".join(f"{format_path(path)}: {msg}" if path else msg for path, msg in self.issues)
        )


@dataclass(frozen=True)
class YamlDocument:
    """A YAML file as plain data plus the line of every mapping key and list item."""

    source: str
    data: Any
    lines: Mapping[Loc, int]

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """The line of `path`, or of its nearest ancestor that is in the file."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


def read_yaml(text: str, source: str) -> YamlDocument:
    """Parse one YAML document; raise ConfigError for syntax errors and duplicate keys."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        builder = _Builder(loader, source)
        data = builder.build(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_problem(exc, source)]) from None
    except yaml.YAMLError as exc:
        # ReaderError (a control character, say) has a position instead of a mark.
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
        raise ConfigError([ConfigProblem(source, line, (), f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if builder.problems:
        raise ConfigError(builder.problems)
    return YamlDocument(source, data, builder.lines)


def parse_model(model: type[M], text: str, source: str = "<string>") -> M:
    """Validate YAML text as `model`; every problem becomes a line of one ConfigError."""
    doc = read_yaml(text, source)
    if doc.data is None:
        raise ConfigError([ConfigProblem(source, None, (), "the file is empty")])
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, doc, model)) from None


def load_model(model: type[M], path: str | Path) -> M:
    """Read and validate a YAML file; errors name the path as given."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError([ConfigProblem(source, None, (), f"cannot read: {reason}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        problem = ConfigProblem(source, line, (), "not valid UTF-8 text")
        raise ConfigError([problem]) from None
    return parse_model(model, text, source)


def load_config(path: str | Path) -> EstateConfig:
    """Load the estate configuration (deploy/estate.example.yaml shows every section)."""
    from services.config.estate import EstateConfig  # estate imports this module

    return load_model(EstateConfig, path)


def parse_config(text: str, source: str = "<string>") -> EstateConfig:
    """Validate estate configuration given as YAML text (tests, the admin page)."""
    from services.config.estate import EstateConfig

    return parse_model(EstateConfig, text, source)


# --- YAML nodes -> data + line map ---------------------------------------------------


def _syntax_problem(exc: yaml.MarkedYAMLError, source: str) -> ConfigProblem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    what = exc.problem or exc.context or "syntax error"
    context = ""
    if exc.context and exc.problem and exc.context_mark is not None:
        context = f" ({exc.context} at line {exc.context_mark.line + 1})"
    return ConfigProblem(source, line, (), f"invalid YAML: {what}{context}")


class _Builder:
    """Turns composed nodes into dicts, lists and scalars, recording lines on the way."""

    def __init__(self, loader: yaml.SafeLoader, source: str) -> None:
        self.loader = loader
        self.source = source
        self.lines: dict[Loc, int] = {}
        self.problems: list[ConfigProblem] = []
        self._stack: set[int] = set()  # node ids being built, to stop recursive aliases

    def build(self, root: Node) -> Any:
        self.lines[()] = root.start_mark.line + 1
        return self._node(root, ())

    def _problem(self, node: Node, path: Loc, message: str) -> None:
        self.problems.append(ConfigProblem(self.source, node.start_mark.line + 1, path, message))

    def _node(self, node: Node, path: Loc) -> Any:
        if id(node) in self._stack:
            self._problem(node, path, "recursive alias")
            return None
        self._stack.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            if isinstance(node, SequenceNode):
                return self._sequence(node, path)
            return self._scalar(node)
        finally:
            self._stack.discard(id(node))

    def _scalar(self, node: Node) -> Any:
        # YAML 1.1 reads 8:30 as the base-60 integer 510; nobody means that in a config.
        if node.tag in _SEXAGESIMAL_TAGS and ":" in str(node.value):
            return str(node.value)
        return self.loader.construct_object(node)

    def _sequence(self, node: SequenceNode, path: Loc) -> list[Any]:
        if node.tag != _SEQ_TAG:
            self._problem(node, path, f"unsupported YAML tag {node.tag}")
        items: list[Any] = []
        for index, item in enumerate(node.value):
            self.lines[(*path, index)] = item.start_mark.line + 1
            items.append(self._node(item, (*path, index)))
        return items

    def _mapping(self, node: MappingNode, path: Loc) -> dict[Any, Any]:
        if node.tag != _MAP_TAG:
            self._problem(node, path, f"unsupported YAML tag {node.tag}")
        result: dict[Any, Any] = {}
        # `<<: *defaults` first; the mapping's own keys then override, as YAML specifies.
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self._merge(value_node, path, result)
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode):
                self._problem(key_node, path, "a key must be a plain value, not a list or map")
                continue
            key = self._scalar(key_node)
            try:
                seen = first_line.get(key)
            except TypeError:
                self._problem(key_node, path, f"unusable key {key!r}")
                continue
            if seen is not None:
                self._problem(key_node, (*path, key), f"duplicate key (first at line {seen})")
                continue
            first_line[key] = line
            self.lines[(*path, key)] = line
            result[key] = self._node(value_node, (*path, key))
        return result

    def _merge(self, value: Node, path: Loc, into: dict[Any, Any]) -> None:
        sources = value.value if isinstance(value, SequenceNode) else [value]
        # Earlier sources win, so apply them last.
        for source in reversed(sources):
            if not isinstance(source, MappingNode):
                self._problem(source, path, "`<<` must merge a map or a list of maps")
                continue
            into.update(self._node(source, path))


# --- pydantic errors -> problems ------------------------------------------------------


def _problems(
    exc: ValidationError, doc: YamlDocument, model: type[BaseModel]
) -> Iterator[ConfigProblem]:
    for err in exc.errors():
        path = _clean(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigIssues):
            for relative, message in cause.issues:
                full = (*path, *relative)
                yield ConfigProblem(doc.source, doc.line_of(full), full, message)
            continue
        shown, message = _describe(err, path, model)
        yield ConfigProblem(doc.source, doc.line_of(path), shown, message)


def _clean(loc: Sequence[str | int]) -> Loc:
    # Drop pydantic's synthetic steps ("[key]", "function-after[...]"); keep data paths.
    return tuple(p for p in loc if not (isinstance(p, str) and "[" in p))


def _describe(err: ErrorDetails, path: Loc, model: type[BaseModel]) -> tuple[Loc, str]:
    kind = err["type"]
    value = err.get("input")
    if kind == "missing" and path:
        return path[:-1], f"missing required key '{path[-1]}'"
    if kind == "extra_forbidden" and path:
        message = f"unknown key '{path[-1]}'"
        allowed = _fields_at(model, path[:-1])
        close = difflib.get_close_matches(str(path[-1]), allowed, n=1)
        if close:
            message += f" (did you mean '{close[0]}'?)"
        elif allowed:
            message += f" (allowed: {', '.join(allowed)})"
        return path[:-1], message
    message = err["msg"].removeprefix("Value error, ")
    # pydantic's own messages rarely quote the input; ours do (validators, "duration").
    if isinstance(value, str | int | float | bool) and not _mentions(message, value):
        message += f" (got {value!r})"
    return path, message


def _mentions(message: str, value: str | float | bool) -> bool:
    if isinstance(value, str):
        return f"'{value}'" in message
    return re.search(rf"(?<![\w.]){re.escape(str(value))}(?![\w.])", message) is not None


def _fields_at(model: type[BaseModel], path: Loc) -> list[str]:
    """Field names of the model found at `path` under `model`, for "did you mean"."""
    current: Any = model
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) in (list, tuple) and isinstance(part, int):
            current = typing.get_args(current)[0]
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X; Annotated[X, ...] -> X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation
