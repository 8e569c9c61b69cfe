"""Write docs/api.md, the Python API reference, from vmctl.api's docstrings and signatures.

    python docs/gen_api.py            # rewrite docs/api.md
    python docs/gen_api.py --check    # exit 1 if docs/api.md is not what this would write

Stdlib only. Annotations are rendered as written in the source (the modules use
``from __future__ import annotations``, so they are strings); the types named in
return annotations are found through the defining module's imports (also those under
``if TYPE_CHECKING``), and the vmctl dataclasses among them are shown with their fields.
The output depends on the source only: no addresses, dates or paths of this machine.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import inspect
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "api.md"
WIDTH = 100

INTRO = """\
# Python API reference

Generated from the docstrings by `docs/gen_api.py`; do not edit by hand (run
`python docs/gen_api.py` after changing the API; `tests/unit/test_api_doc.py`
fails while this page is stale). For worked examples see
[scripts and CI jobs](scripting.md).

```python
from vmctl.api import Vmctl
from vmctl.errors import NotFound, VmctlError

with Vmctl() as v:                           # LIBVIRT_DEFAULT_URI, else qemu:///system
    vm = v.create("web1", memory="1G", wait_boot=True)
    print(vm.state, vm.ssh_port)
    v.delete("web1")

remote = Vmctl("qemu+ssh://root@hv2/system")  # any libvirt URI; one connection per object
```

- **Connection.** `Vmctl(uri)` takes a libvirt URI (default: `LIBVIRT_DEFAULT_URI`,
  else `qemu:///system`); the connection is opened on first use and closed by
  `close()` or the `with` block. Give each worker thread its own object (its own
  connection), as `exec_many` does.
- **Pool.** vmctl keeps its volumes and records in one libvirt storage pool on each
  host: `pool=` / `pool_path=`, else `VMCTL_POOL` / `VMCTL_POOL_PATH`, else the pool
  `vmctl` at `/var/lib/vmctl/pool` (for `qemu:///session`: `~/.local/share/vmctl/pool`),
  created on first use.
- **Errors.** Every method raises `vmctl.errors.VmctlError` subclasses (`NotFound`,
  `Conflict`, `Busy`, `MigrationFailed`, ...). Each has a one-line message (`str(e)`)
  and a `.hint`; the class decides the CLI's exit code (`vmctl.errors.EXIT_CODES`).
  The table of classes and exit codes is in [errors and exit codes](errors.md).
- **No printing.** The API never prints: warnings go to the `vmctl` logger, output of
  guest commands and progress to the callbacks a method takes (`out`, `err`, `write`,
  `on_event`, `on_stage`, `progress`).
"""


# --- finding the members ------------------------------------------------------

def public_members(cls: type) -> list[tuple[str, object, type]]:
    """(name, member, defining class) of ``cls``'s public callables and properties, in
    source order: the class's own first, then each base in MRO order."""
    seen: set[str] = set()
    found = []
    for owner in cls.__mro__:
        if owner is object:
            continue
        for name, member in vars(owner).items():
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            if isinstance(member, (property, staticmethod, classmethod)) or inspect.isfunction(member):
                found.append((name, member, owner))
    return found


def cached_attributes(cls: type) -> list[tuple[str, functools.cached_property]]:
    return [(name, member) for owner in reversed(cls.__mro__) for name, member in vars(owner).items()
            if isinstance(member, functools.cached_property) and not name.startswith("_")]


def decorators(member: object) -> list[str]:
    kinds = {property: "@property", staticmethod: "@staticmethod", classmethod: "@classmethod",
             functools.cached_property: "@cached_property"}
    return [text for kind, text in kinds.items() if isinstance(member, kind)]


def function_of(member: object):
    if isinstance(member, property):
        return member.fget
    if isinstance(member, (staticmethod, classmethod, functools.cached_property)):
        return member.__func__ if not isinstance(member, functools.cached_property) else member.func
    return member


# --- rendering signatures -----------------------------------------------------

def _default(value: object) -> str:
    text = repr(value)
    if " at 0x" in text:
        raise ValueError(f"a default without a stable repr: {text}")
    return text


def _annotation(annotation: object) -> str:
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def _parameters(signature: inspect.Signature) -> list[str]:
    parts: list[str] = []
    star_done = False
    params = list(signature.parameters.values())
    for i, p in enumerate(params):
        if p.kind is p.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        if p.kind is p.VAR_POSITIONAL:
            star_done = True
        text = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
        if p.annotation is not p.empty:
            text += f": {_annotation(p.annotation)}"
            if p.default is not p.empty:
                text += f" = {_default(p.default)}"
        elif p.default is not p.empty:
            text += f"={_default(p.default)}"
        parts.append(text)
        if p.kind is p.POSITIONAL_ONLY and (i + 1 == len(params) or params[i + 1].kind is not p.POSITIONAL_ONLY):
            parts.append("/")
    return parts


def render_def(name: str, function, *, indent: str = "", body: str = " ...") -> str:
    """``def name(...) -> R: ...`` on one line, or one parameter a line when too long."""
    signature = inspect.signature(function)
    returns = "" if signature.return_annotation is signature.empty else \
        f" -> {_annotation(signature.return_annotation)}"
    parts = _parameters(signature)
    line = f"{indent}def {name}({', '.join(parts)}){returns}:{body}"
    if len(line) <= WIDTH:
        return line
    inner = "".join(f"{indent}    {part},\n" for part in parts)
    return f"{indent}def {name}(\n{inner}{indent}){returns}:{body}"


def docstring(obj: object) -> str:
    doc = inspect.getdoc(obj) if not isinstance(obj, type) else obj.__dict__.get("__doc__")
    if not doc:
        return ""
    doc = inspect.cleandoc(doc)
    if isinstance(obj, type) and dataclasses.is_dataclass(obj) and doc.startswith(obj.__name__ + "("):
        return ""  # the signature dataclass puts there when the class has no docstring
    return re.sub(r":(?:meth|class|func|attr|mod):`~?([^`]+)`", r"`\1`", doc)


# --- the types named in return annotations ------------------------------------

def _names_in(annotation: str) -> list[str]:
    names: list[str] = []
    try:
        tree = ast.parse(annotation, mode="eval")
    except SyntaxError:
        return names
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.extend(_names_in(node.value))
    return names


@functools.lru_cache(maxsize=None)
def _imports_of(module_name: str) -> dict[str, tuple[str, str]]:
    """name -> (module, attribute) for every ``from X import Y`` in the module's source."""
    source = inspect.getsource(importlib.import_module(module_name))
    table = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                table[alias.asname or alias.name] = (node.module, alias.name)
    return table


def resolve(name: str, function) -> object | None:
    if name in function.__globals__:
        return function.__globals__[name]
    where = _imports_of(function.__module__).get(name)
    if where is None:
        return None
    return getattr(importlib.import_module(where[0]), where[1], None)


def returned_types(members: list[tuple[str, object, type]]) -> list[type]:
    """The vmctl classes named in the members' return annotations, first seen first."""
    found: list[type] = []
    for _name, member, _owner in members:
        function = function_of(member)
        annotation = inspect.signature(function).return_annotation
        if not isinstance(annotation, str):
            continue
        for name in _names_in(annotation):
            obj = resolve(name, function)
            if isinstance(obj, type) and obj.__module__.startswith("vmctl.") and obj not in found:
                found.append(obj)
    return found


def _field_lines(cls: type) -> list[str]:
    """The class body's annotated fields as written (with their end-of-line comments)."""
    lines, _start = inspect.getsourcelines(cls)
    source = textwrap.dedent("".join(lines))
    body = ast.parse(source).body[0]
    text = source.splitlines()
    out = []
    for node in body.body:  # type: ignore[attr-defined]
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.extend(line.rstrip() for line in text[node.lineno - 1:node.end_lineno])
    return out


def render_dataclass(cls: type) -> str:
    frozen = cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    code = ["@dataclass(frozen=True)" if frozen else "@dataclass", f"class {cls.__name__}:"]
    code += _field_lines(cls)
    for name, member, owner in public_members(cls):
        if owner is not cls:
            continue
        function = function_of(member)
        code.append("")
        code += [f"    {text}" for text in decorators(member)]
        doc = docstring(function)
        code.append(render_def(name, function, indent="    ", body="" if doc else " ..."))
        if doc:
            code.append(textwrap.indent(f'"""{doc}"""', " " * 8))
    parts = [f"### {cls.__name__}", "", f"`{cls.__module__}.{cls.__qualname__}`", ""]
    if doc := docstring(cls):
        parts += [doc, ""]
    parts += ["```python", *code, "```", ""]
    return "\n".join(parts)


def _summary(cls: type) -> str:
    doc = docstring(cls)
    first = doc.split("\n\n")[0].replace("\n", " ") if doc else ""
    return f"- `{cls.__name__}` (`{cls.__module__}`)" + (f": {first}" if first else "")


# --- the page -----------------------------------------------------------------

def render() -> str:
    import vmctl.api as api
    from vmctl.api import Vmctl

    members = public_members(Vmctl)
    out = [INTRO]
    out += ["## Vmctl", "", "```python", "class Vmctl:", render_def("__init__", Vmctl.__init__, indent="    "),
            "```", "", docstring(Vmctl), ""]
    attrs = ", ".join(f"`{name}`" for name, _m in cached_attributes(Vmctl))
    if attrs:
        out += [f"Cached on first use (the connection and the objects the methods are built on, "
                f"not documented further): {attrs}.", ""]
    for name, member, _owner in members:
        function = function_of(member)
        code = decorators(member) + [render_def(name, function)]
        out += [f"### Vmctl.{name}", "", "```python", *code, "```", ""]
        if doc := docstring(function):
            out += [doc, ""]
    types = returned_types(members)
    out += ["## Returned types", "",
            "The vmctl dataclasses named in the return annotations above (fields as written in the source).", ""]
    out += [render_dataclass(cls) for cls in types if dataclasses.is_dataclass(cls)]
    others = [cls for cls in types if not dataclasses.is_dataclass(cls)]
    if others:
        out += ["### Other returned objects", "", *[_summary(cls) for cls in others], ""]
    from vmctl.progress import Step

    out += ["## What progress callbacks get", "",
            "`progress=` takes any callable of one `Step` (`vmctl.progress.Report`).", "", render_dataclass(Step)]
    helpers = [getattr(api, name) for name in api.__all__ if inspect.isfunction(getattr(api, name))]
    out += ["## Helpers in vmctl.api", ""]
    for function in helpers:
        out += [f"### {function.__name__}", "", "```python", render_def(function.__name__, function), "```", ""]
        if doc := docstring(function):
            out += [doc, ""]
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))  # this checkout's vmctl, not an installed one
    text = render()
    if argv == ["--check"]:
        if not PAGE.is_file() or PAGE.read_text() != text:
            print("docs/api.md is stale: run `python docs/gen_api.py` and commit the result", file=sys.stderr)
            return 1
        return 0
    if argv:
        print("usage: python docs/gen_api.py [--check]", file=sys.stderr)
        return 2
    PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
