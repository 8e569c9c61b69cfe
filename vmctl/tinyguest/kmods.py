"""Kernel modules for the initramfs: locate them, add dependencies, order them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

from vmctl.errors import OperationFailed
from vmctl.tinyguest.hosttools import run


def norm(name: str) -> str:
    """Module names treat '-' and '_' alike; use '_'."""
    return name.replace("-", "_")


def member_pattern(name: str) -> str:
    """A tar wildcard matching the module's file anywhere under lib/modules."""
    return "./lib/modules/*/" + re.sub(r"[-_]", "[-_]", norm(name)) + ".ko"


def index(modules_dir: Path, listing: str) -> dict[str, str]:
    """Module name -> path relative to ``modules_dir``, from modules.order/builtin."""
    table: dict[str, str] = {}
    text = (modules_dir / listing).read_text() if (modules_dir / listing).exists() else ""
    for rel in text.split():
        table[norm(Path(rel).name.split(".ko")[0])] = rel
    return table


def depends(ko: Path) -> list[str]:
    """A module's hard dependencies (``modinfo -F depends``)."""
    out = run(["modinfo", "-F", "depends", ko], what=f"modinfo {ko.name}").strip()
    return [norm(d) for d in out.split(",") if d]


def resolve(
    wanted: Iterable[str],
    modules_dir: Path,
    fetch: Callable[[list[str]], None],
) -> list[tuple[str, Path]]:
    """Wanted modules plus their dependencies, each after what it needs.

    ``fetch(names)`` must make those modules' files exist under ``modules_dir``
    (they are extracted from the kernel package on demand). Built-in modules
    are left out.
    """
    order = index(modules_dir, "modules.order")
    builtin = index(modules_dir, "modules.builtin")
    deps: dict[str, list[str]] = {}
    pending = [norm(n) for n in wanted]
    while pending:
        names = [n for n in dict.fromkeys(pending) if n not in deps and n not in builtin]
        pending = []
        unknown = [n for n in names if n not in order]
        if unknown:
            raise OperationFailed(
                "kernel modules not found in the kernel package: " + ", ".join(unknown),
                "fix the module list in vmctl/tinyguest/recipe.py",
            )
        fetch(names)
        for name in names:
            ko = modules_dir / order[name]
            if not ko.is_file():
                raise OperationFailed(f"kernel module {name} missing after extraction ({ko})")
            deps[name] = [d for d in depends(ko) if d not in builtin]
            pending.extend(deps[name])

    result: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in result or name in builtin:
            return
        if name in visiting:
            raise OperationFailed(f"kernel module dependency cycle at {name}")
        visiting.add(name)
        for dep in deps[name]:
            visit(dep)
        visiting.discard(name)
        result.append(name)

    for name in wanted:
        visit(norm(name))
    return [(name, modules_dir / order[name]) for name in result]
