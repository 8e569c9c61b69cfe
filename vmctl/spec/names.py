"""Names vmctl accepts for VMs, images, templates, users and networks (one allowlist)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from vmctl.errors import InvalidInput

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
MAC_RE = re.compile(r"^52:54:00(:[0-9a-f]{2}){3}$")


def check_name(name: str, what: str = "VM") -> str:
    """Return ``name`` if it matches the allowlist, else raise InvalidInput."""
    if not isinstance(name, str) or not NAME_RE.match(name) or name.endswith((".", "-")):
        raise InvalidInput(
            f"invalid {what} name {name!r}",
            hint="names are 1-63 characters: lowercase letters, digits, '.', '_' and '-', "
            "starting with a letter or digit",
        )
    return name


# Labels: key=value facts a user (or a tool: the test harness, later stacks) attaches to a VM.
# Keys follow the name allowlist ("vmctl." prefixed keys are vmctl's own tools'); values
# are 0-63 letters, digits, '.', '_', '-' or ':' (no XML or shell metacharacters).
LABEL_VALUE_RE = re.compile(r"^[A-Za-z0-9_.:-]{0,63}$")
MAX_LABELS = 32
_LABEL_HINT = ("a label is KEY=VALUE: KEY like a VM name (lowercase letters, digits, '.', '_', '-'), "
               "VALUE up to 63 letters, digits, '.', '_', '-' or ':'")


def check_label(key: str, value: str) -> tuple[str, str]:
    """``(key, value)`` if both match the label allowlist, else raise InvalidInput."""
    if not isinstance(key, str) or not NAME_RE.match(key) or key.endswith((".", "-")):
        raise InvalidInput(f"invalid label key {key!r}", hint=_LABEL_HINT)
    if not isinstance(value, str) or not LABEL_VALUE_RE.match(value):
        raise InvalidInput(f"invalid value {value!r} for label {key}", hint=_LABEL_HINT)
    return key, value


def parse_label(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` (as given on the command line) as a checked pair."""
    key, eq, value = text.partition("=")
    if not eq:
        raise InvalidInput(f"invalid label {text!r}: no '='", hint=_LABEL_HINT)
    return check_label(key, value)


def check_labels(labels: "Mapping[str, str] | tuple[tuple[str, str], ...] | None") -> tuple[tuple[str, str], ...]:
    """Labels as sorted ``(key, value)`` pairs, each checked; one value per key."""
    pairs = list(labels.items()) if isinstance(labels, Mapping) else list(labels or ())
    keys = [key for key, _value in pairs]
    if len(set(keys)) != len(keys):
        raise InvalidInput("a label key is given twice", hint="give each label key once")
    if len(pairs) > MAX_LABELS:
        raise InvalidInput(f"{len(pairs)} labels: at most {MAX_LABELS}", hint="use fewer labels")
    return tuple(sorted(check_label(key, value) for key, value in pairs))
