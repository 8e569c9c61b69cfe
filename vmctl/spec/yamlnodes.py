"""A YAML document read as nodes that know where they are (the file, the line, the key
path), so that every complaint about a user's file names all three:
``stack.yaml:12: vms.web.cpus: expected a positive integer, got 'two'``.

PyYAML's constructed data has lost its lines and silently keeps the last of two equal
keys; its node tree (``yaml.compose``) has both, so the checks walk the nodes and
construct each scalar themselves. Variables (``${VAR}``, ``${VAR:-default}``, ``$$`` for a
literal ``$``) are substituted in string scalars only, after parsing: never in keys and
never as text over the file, so a variable's value cannot change the file's structure.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from typing import Any

import yaml

from vmctl.errors import InvalidInput

STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
BOOL = "tag:yaml.org,2002:bool"
NULL = "tag:yaml.org,2002:null"
_VAR = re.compile(r"\$\$|\$\{(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\})?")
_TRUE, _FALSE = ("true", "yes", "on"), ("false", "no", "off")


class Document:
    """What every node of one file shares: its name for messages, the environment, and a
    constructor for scalars."""

    def __init__(self, source: str, env: Mapping[str, str]) -> None:
        self.source = source
        self.env = env
        self.constructor = yaml.constructor.SafeConstructor()


def compose(text: str, source: str, env: Mapping[str, str]) -> "Node":
    """The root node of ``text`` (one YAML document). Raises InvalidInput naming the line
    of a syntax error, an empty file, or an alias (``*name``: not supported, it would let
    one definition stand at several key paths)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise InvalidInput(f"{source}:{line}: not valid YAML: {problem}",
                           hint="check the indentation and quoting on that line and the one before") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source}: not valid YAML: {exc}", hint="check the file's syntax") from None
    if root is None:
        raise InvalidInput(f"{source}:1: the file is empty", hint="start it with `version: 1`")
    _refuse_aliases(root, source, "", set())
    return Node(Document(source, env), root, "", root.start_mark.line + 1)


def _refuse_aliases(node: yaml.Node, source: str, path: str, seen: set[int]) -> None:
    """Walk once: an alias makes the composer hand out the same node object twice."""
    if id(node) in seen:
        raise InvalidInput(f"{source}:{node.start_mark.line + 1}: {path or 'top level'}: the value anchored here "
                           "is used again through an alias (*NAME)",
                           hint="anchors and aliases are not supported in this file: write the value out")
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _refuse_aliases(value, source, join(path, key.value if isinstance(key, yaml.ScalarNode) else "?"), seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _refuse_aliases(item, source, f"{path}[{index}]", seen)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Node:
    """One value of the file, with its key path and the line to name in messages."""

    def __init__(self, doc: Document, node: yaml.Node, path: str, line: int) -> None:
        self.doc = doc
        self.node = node
        self.path = path
        self.line = line

    # -- complaints -------------------------------------------------------------------------
    def error(self, problem: str, hint: str) -> InvalidInput:
        """An InvalidInput naming the file, this node's line and key path (raise it)."""
        return InvalidInput(f"{self.doc.source}:{self.line}: {self.path or 'top level'}: {problem}", hint=hint)

    def shown(self) -> str:
        """The value as a message shows it: ``'two'``, ``3``, ``a mapping``, ``nothing``."""
        if isinstance(self.node, yaml.MappingNode):
            return "a mapping"
        if isinstance(self.node, yaml.SequenceNode):
            return "a list"
        if self.node.tag == NULL:
            return "nothing"
        return repr(self.node.value) if self.node.tag == STR else str(self.node.value)

    def expected(self, what: str, hint: str) -> InvalidInput:
        return self.error(f"expected {what}, got {self.shown()}", hint)

    # -- shapes -----------------------------------------------------------------------------
    @property
    def is_null(self) -> bool:
        return isinstance(self.node, yaml.ScalarNode) and self.node.tag == NULL

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.node, yaml.MappingNode)

    @property
    def is_sequence(self) -> bool:
        return isinstance(self.node, yaml.SequenceNode)

    def mapping(self, allowed: Collection[str] | None = None, *, what: str = "a mapping", hint: str = "",
                null_ok: bool = False) -> dict[str, "Node"]:
        """The children by key, in file order. Refuses another shape, a key that is not a
        plain scalar, a key given twice and (when ``allowed`` is given) an unknown key,
        suggesting the closest allowed one."""
        if null_ok and self.is_null:
            return {}
        if not isinstance(self.node, yaml.MappingNode):
            raise self.expected(what, hint or "write KEY: VALUE lines, indented under this key")
        children: dict[str, Node] = {}
        for key_node, value_node in self.node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in (STR, INT):
                raise Node(self.doc, key_node, self.path, line).error(
                    "a key must be a plain name", "write the key as a word, e.g. web:")
            key = str(key_node.value)
            child = Node(self.doc, value_node, join(self.path, key), line)
            if key in children:
                raise child.error(f"key given twice (first on line {children[key].line})",
                                  "YAML would keep only the last one: remove or merge one of them")
            if allowed is not None and key not in allowed:
                close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
                known = ", ".join(allowed)
                raise child.error(f"unknown key {key!r}",
                                  f"did you mean {close[0]!r}? (known keys: {known})" if close
                                  else f"known keys here: {known}")
            children[key] = child
        return children

    def sequence(self, *, what: str = "a list", hint: str = "") -> list["Node"]:
        """The items, each with its own line and ``path[i]``."""
        if not isinstance(self.node, yaml.SequenceNode):
            raise self.expected(what, hint or "write a list: [a, b] or one '- item' per line")
        return [Node(self.doc, item, f"{self.path}[{index}]", item.start_mark.line + 1)
                for index, item in enumerate(self.node.value)]

    # -- scalars ----------------------------------------------------------------------------
    def scalar(self) -> tuple[Any, bool]:
        """(value, whether a variable was substituted in it); strings have their
        variables substituted, other scalars are YAML's (int, bool, float, None)."""
        if not isinstance(self.node, yaml.ScalarNode):
            return None, False
        if self.node.tag == STR:
            return self._substitute(self.node.value)
        return self.doc.constructor.construct_object(self.node, deep=True), False

    def text(self, what: str, hint: str) -> str:
        """A string (after substitution)."""
        value, _ = self.scalar()
        if not isinstance(self.node, yaml.ScalarNode) or not isinstance(value, str):
            raise self.expected(what, hint)
        return value

    def literal(self, what: str, hint: str) -> str:
        """A scalar's text as written (variables substituted in strings): for values YAML
        would read as something else, like ``8080:80`` (a base-60 integer to YAML 1.1)."""
        if not isinstance(self.node, yaml.ScalarNode) or self.node.tag not in (STR, INT, FLOAT):
            raise self.expected(what, hint)
        return self.scalar()[0] if self.node.tag == STR else str(self.node.value)

    def integer(self, what: str, hint: str, low: int = 1, high: int | None = None) -> int:
        """An integer in ``[low, high]``; a string that is all digits after a variable was
        substituted counts (``cpus: ${CPUS:-2}``)."""
        value, substituted = self.scalar()
        if substituted and isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
            raise self.expected(what, hint)
        return value

    def boolean(self, what: str, hint: str) -> bool:
        """true/false (YAML's yes/no/on/off too, and those words after substitution)."""
        value, substituted = self.scalar()
        if substituted and isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            value = value.strip().lower() in _TRUE
        if not isinstance(value, bool):
            raise self.expected(what, hint)
        return value

    def _substitute(self, text: str) -> tuple[str, bool]:
        found = False

        def one(match: re.Match[str]) -> str:
            nonlocal found
            if match.group(0) == "$$":
                return "$"
            name, default = match["name"], match["default"]
            if name is None:
                raise self.error(f"a malformed variable in {text!r}",
                                 "write ${NAME} or ${NAME:-default}; $$ for a literal $")
            found = True
            value = self.doc.env.get(name)
            if default is not None and not value:
                return default
            if value is None:
                raise self.error(f"variable {name} is not set",
                                 f"set {name} in the environment, or give a default: ${{{name}:-VALUE}}")
            return value

        result = _VAR.sub(one, text)
        return result, found
