"""Domain templates: the built-in ones shipped with vmctl and the user's own.

User templates live in ``$XDG_CONFIG_HOME/vmctl/templates/NAME.xml`` or are given
by path; they are untrusted and parsed without DTDs, entities or network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import os
import tempfile

from vmctl.errors import Conflict, InvalidInput, NotFound, OperationFailed
from vmctl.libvirtxml.clone import clean_template, with_description
from vmctl.libvirtxml.domain import template_info
from vmctl.libvirtxml.safe import parse_untrusted
from vmctl.libvirtxml.templatefacts import drop_unusable, template_facts
from vmctl.policy.hostfit import host_unusable
from vmctl.spec.template import HostView, TemplateFacts, Unusable
from vmctl.spec.names import check_name
from vmctl.local.userfiles import read_user_file

MAX_TEMPLATE_BYTES = 256 * 1024


_PACKAGE = Path(__file__).resolve().parents[1]


def builtin_dir() -> Path:
    """The built-in templates: package data in a wheel, the repository's templates/ in a checkout."""
    packaged = _PACKAGE / "data" / "templates"
    return packaged if packaged.is_dir() else _PACKAGE.parent / "templates"


def user_dir() -> Path:
    from platformdirs import user_config_path

    return user_config_path("vmctl") / "templates"


@dataclass(frozen=True)
class Template:
    name: str
    path: Path
    description: str
    direct_boot: bool
    builtin: bool
    xml: bytes

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "path": str(self.path), "description": self.description,
                "direct_boot": self.direct_boot, "builtin": self.builtin}


def _read(path: Path, name: str, builtin: bool) -> Template:
    data = read_user_file(path, what="template", limit=MAX_TEMPLATE_BYTES,
                          hint="give the path of a domain XML template to --template")
    source = f"template {name!r}"
    info = template_info(parse_untrusted(data, source=source), source=source)
    return Template(name, path, info.description, info.direct_boot, builtin, data)


def list_templates() -> list[Template]:
    found: dict[str, Template] = {}
    for directory, builtin in ((builtin_dir(), True), (user_dir(), False)):
        if directory.is_dir():
            for path in sorted(directory.glob("*.xml")):
                found[path.stem] = _read(path, path.stem, builtin)  # user templates override
    return sorted(found.values(), key=lambda t: t.name)


def load_template(ref: str) -> Template:
    """A template by name (user dir, then built-in) or by path (contains '/' or ends in .xml)."""
    if "/" in ref or ref.endswith(".xml"):
        path = Path(ref).expanduser()
        return _read(path, path.stem, False)
    check_name(ref, "template")
    for directory, builtin in ((user_dir(), False), (builtin_dir(), True)):
        path = directory / f"{ref}.xml"
        if path.is_file():
            return _read(path, ref, builtin)
    raise NotFound(f"no template named {ref!r}", hint="see `vmctl template list`")


@dataclass(frozen=True)
class PreparedTemplate:
    """A template ready to render: cleaned (virt-clone semantics), with what a new VM
    cannot use dropped if that was asked for, and its facts."""

    template: Template
    xml: bytes
    facts: TemplateFacts
    dropped: tuple[Unusable, ...]


HostArg = HostView | Callable[[], HostView] | None


def prepare_template(template: Template, *, drop: bool = False, host: HostArg = None) -> PreparedTemplate:
    """Clean ``template``; refuse it, naming each part a new VM cannot use (a second
    disk, a host device, ...) and each part tied to a host that ``host`` cannot honour
    (pinning to CPUs it lacks, a listen address it lacks, SPICE TLS it has off, a
    server to connect to that is not there), unless ``drop`` leaves those parts out
    or fits them to the host. ``host`` may be a function, called only for a template
    with parts tied to a host (so that `template import` of others needs no libvirt)."""
    source = f"template {template.name!r}"
    cleaned = clean_template(template.xml, source=source)
    facts = template_facts(cleaned, source=source)
    if facts.ties and host is not None:
        view = host if isinstance(host, HostView) else host()
        unusable = facts.unusable + host_unusable(facts.ties, view)
    else:
        unusable = facts.unusable
    if not unusable:
        return PreparedTemplate(template, cleaned, facts, ())
    if not drop:
        by_reason: dict[str, list[str]] = {}
        for item in unusable:
            by_reason.setdefault(item.reason, []).append(item.element)
        raise InvalidInput(f"{source} cannot be used for a new VM: "
                           + "; ".join(f"{', '.join(els)}: {reason}" for reason, els in by_reason.items()),
                           hint=refusal_hint(unusable))
    dropped = drop_unusable(cleaned, unusable, source=source)
    return PreparedTemplate(template, dropped, template_facts(dropped, source=source), unusable)


def refusal_hint(unusable: tuple[Unusable, ...]) -> str:
    fixes = list(dict.fromkeys(u.fix for u in unusable if u.fix))
    if not fixes:
        return "remove those elements from the template, or pass --drop-unusable to leave them out"
    plain = ["remove the elements a new VM cannot use"] if any(not u.fix for u in unusable) else []
    fits = ", ".join(dict.fromkeys(u.summary for u in unusable))
    return "; ".join(plain + fixes) + f"; or pass --drop-unusable to fit the template to this host ({fits})"


def import_template(path: Path, name: str, *, drop: bool = False, replace: bool = False,
                    host: HostArg = None) -> PreparedTemplate:
    """Store a cleaned copy of the domain XML at ``path`` as the user template ``name``
    (checked against, and with ``drop`` fitted to, ``host``: the one create would use)."""
    check_name(name, "template")
    template = _read(Path(path).expanduser(), name, False)
    prepared = prepare_template(template, drop=drop, host=host)
    facts = prepared.facts
    description = template.description or (
        f"imported from {Path(path).name}: {facts.machine}, {'UEFI' if facts.efi else 'BIOS'}"
        + (", Secure Boot" if facts.secure_boot else ""))
    prepared = PreparedTemplate(prepared.template, with_description(prepared.xml, description), facts,
                                prepared.dropped)
    dest = user_dir() / f"{name}.xml"
    if dest.exists() and not replace:
        raise Conflict(f"a user template named {name!r} exists already ({dest})", hint="pick another --name or --replace")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".xml", dir=dest.parent)
        with os.fdopen(fd, "wb") as out:
            out.write(prepared.xml)
        os.replace(tmp, dest)
    except OSError as exc:
        raise OperationFailed(f"cannot write template {dest}: {exc.strerror}", hint="check the directory's permissions") from None
    stored = Template(name, dest, description, template.direct_boot, False, prepared.xml)
    return PreparedTemplate(stored, prepared.xml, prepared.facts, prepared.dropped)
