"""`registry.yaml`: read, validated against its JSON Schema, with the line and column of every node
kept so that an error (and a lint finding) can point into the file (docs/registry-as-code.md)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

#: a path into the document: mapping keys and sequence indexes
Path_ = tuple[str | int, ...]
#: the kinds of the file, in the order they are applied (deletions go the other way)
KINDS = ("registries", "usergroups", "labels", "projects", "robots", "replication_policies", "scanners")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\$")
MAX_BYTES = 4 * 1024 * 1024


class DocumentError(ValueError):
    """The file is not a valid registry.yaml: where (file:line:column, 1-based) and why, one line."""

    def __init__(self, source: str, line: int | None, column: int | None, reason: str) -> None:
        where = source if line is None else f"{source}:{line}:{column}"
        super().__init__(f"{where}: {reason}")
        self.source, self.line, self.column, self.reason = source, line, column, reason


@dataclass
class Document:
    """The file's data (plain dicts and lists, `${VAR}` not yet replaced) and where each node is."""

    data: dict[str, Any]
    source: str = "registry.yaml"
    marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path_) -> tuple[int, int] | None:
        """(line, column) of the node at `path`, or of its nearest ancestor the file has."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.marks:
                return self.marks[path[:end]]
        return None


@cache
def schema() -> dict[str, Any]:
    """The published JSON Schema of the file (made by scripts/gen-ascode-schema)."""
    return json.loads(resources.files("berth.ascode").joinpath("registry.schema.json").read_text())


def load_file(path: str | Path) -> Document:
    """Read and validate a registry.yaml; `-` is standard input. DocumentError when it is not valid."""
    if str(path) == "-":
        import sys

        return load_text(sys.stdin.read(), "<stdin>")
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise DocumentError(str(path), None, None, exc.strerror or str(exc)) from None
    if len(raw) > MAX_BYTES:
        raise DocumentError(str(path), None, None, f"larger than {MAX_BYTES // 1024 // 1024} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(str(path), None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return load_text(text, str(path))


def load_text(text: str, source: str = "registry.yaml") -> Document:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise DocumentError(source, 1, 1, "the file is empty: it needs at least `version: 1`")
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = " ".join(p for p in (exc.context, exc.problem) if p) or "not valid YAML"
        raise DocumentError(source, mark.line + 1 if mark else None, mark.column + 1 if mark else None,
                            f"YAML: {reason}") from None
    except yaml.YAMLError as exc:
        raise DocumentError(source, None, None, f"YAML: {exc}") from None
    finally:
        loader.dispose()
    marks: dict[Path_, tuple[int, int]] = {}
    _mark(node, (), marks)
    document = Document(data=data, source=source, marks=marks)
    validate(document)
    return document


def _mark(node: yaml.Node, path: Path_, marks: dict[Path_, tuple[int, int]]) -> None:
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):  # an object is where its key is
                _mark(value, path + (key.value,), marks)
                marks[path + (key.value,)] = (key.start_mark.line + 1, key.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _mark(item, path + (index,), marks)


def validate(document: Document) -> None:
    """Against the JSON Schema; the first error in file order, with its line and column."""
    data = document.data
    if not isinstance(data, Mapping):
        raise DocumentError(document.source, 1, 1, "the file must be a mapping of kinds (version, projects, …)")
    validator = jsonschema.Draft202012Validator(schema())
    errors = list(validator.iter_errors(data))
    if not errors:
        return

    def position(error: jsonschema.ValidationError) -> tuple[int, int]:
        return document.where(tuple(error.absolute_path)) or (0, 0)

    error = min(errors, key=lambda e: (position(e), -len(e.absolute_path)))
    line, column = position(error)
    where = "/".join(str(p) for p in error.absolute_path)
    reason = _reason(error)
    raise DocumentError(document.source, line or None, column or None, f"{where}: {reason}" if where else reason)


def _reason(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(str(k) for k in error.instance if k not in allowed)
        if unknown:
            known = ", ".join(sorted(allowed)) or "none"
            return f"unknown field {', '.join(unknown)} (known: {known})"
    if error.validator == "oneOf" and error.schema.get("description", "").startswith("ProjectMember"):
        return "a member is either member_user (username) or member_group (group_name), not both or neither"
    message = error.message
    return message if len(message) <= 300 else message[:297] + "..."


def interpolate(value: Any, environ: Mapping[str, str] | None = None, path: Path_ = (),
                source: str = "registry.yaml") -> Any:
    """`${NAME}` in every string replaced by the environment variable (`$$` is a literal `$`);
    a variable that is not set is a DocumentError naming it and the field."""
    env = os.environ if environ is None else environ
    if isinstance(value, str):
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name = match.group(1)
            if name not in env:
                where = "/".join(str(p) for p in path)
                raise DocumentError(source, None, None,
                                    f"{where}: the environment variable {name} is not set")
            return env[name]

        return _VARIABLE.sub(replace, value)
    if isinstance(value, dict):
        return {k: interpolate(v, env, path + (k,), source) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, path + (i,), source) for i, v in enumerate(value)]
    return value
