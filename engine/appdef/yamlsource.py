"""Load YAML safely while remembering where every node stands, in a side index."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.errors import DefinitionError, Location

Path = tuple[str | int, ...]


@dataclass
class Source:
    """A parsed YAML document and the line/column of every node in it."""

    file: str
    data: Any
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    # Paths of parts (a field, a section) that broke the schema: reported, then left out.
    dropped: frozenset[Path] = frozenset()

    def locate(self, path: Path) -> Location:
        """The location of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path not in self.positions and path:
            path = path[:-1]
        line, column = self.positions.get(path, (1, 1))
        return Location(self.file, line, column)

    def error(self, path: Path, message: str) -> DefinitionError:
        shown = path[:-1] if path and path[-1] == "=" else path
        return DefinitionError(self.locate(path), dotted(shown), message)


def dotted(path: Path) -> str:
    """`entities.invoice.fields[2]` style rendering of a path."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _PositionLoader(yaml.SafeLoader):
    """SafeLoader that records the start of each node; refuses duplicate keys."""


def _construct(loader: _PositionLoader, node: yaml.Node, path: Path, index: dict) -> Any:
    index[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) or key is None:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                )
            key = str(key) if not isinstance(key, str) else key
            if key in result:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            result[key] = _construct(loader, value_node, (*path, key), index)
            # Point the key itself at the key's position: that is where an editor should jump.
            index[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            index[(*path, key, "=")] = (
                value_node.start_mark.line + 1,
                value_node.start_mark.column + 1,
            )
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, item, (*path, i), index) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_source(file: str, text: str) -> Source | DefinitionError:
    """Parse `text`; a syntax error comes back as a located DefinitionError."""
    try:
        loader = _PositionLoader(text)
    except yaml.reader.ReaderError as exc:  # a control character, found before parsing starts
        before = text[: exc.position]
        line, column = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
        return DefinitionError(
            Location(file, line, column),
            "",
            f"YAML syntax error: the character U+{exc.character:04X} is not allowed in YAML",
        )
    try:
        node = loader.get_single_node()
        index: dict[Path, tuple[int, int]] = {}
        data = _construct(loader, node, (), index) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or str(exc)
        if exc.context:
            problem = f"{exc.context}: {problem}"
        return DefinitionError(Location(file, line, column), "", f"YAML syntax error: {problem}")
    except yaml.YAMLError as exc:
        return DefinitionError(Location(file, 1, 1), "", f"YAML error: {exc}")
    finally:
        loader.dispose()
    return Source(file, data, index)
