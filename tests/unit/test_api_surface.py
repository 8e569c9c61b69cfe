"""The Python API is finished: every public member documented and annotated, create's
options explicit, and the package marked typed (PEP 561)."""

from __future__ import annotations

import inspect
from pathlib import Path

from vmctl.api import Vmctl


def _public():
    for name, member in inspect.getmembers(Vmctl):
        if name.startswith("_"):
            continue
        function = member.fget if isinstance(member, property) else member
        if callable(function):
            yield name, member, function


def test_every_public_member_has_a_docstring_and_a_return_type():
    undocumented = [n for n, _m, f in _public() if not (f.__doc__ or "").strip()]
    unannotated = [n for n, m, f in _public() if not isinstance(m, property)
                   and inspect.signature(f).return_annotation is inspect.Signature.empty]
    assert undocumented == [] and unannotated == []


def test_create_takes_explicit_typed_keywords():
    params = inspect.signature(Vmctl.create).parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in params.values())
    for option in ("image", "template", "cpus", "memory", "disk", "accel", "nested", "start", "wait_boot", "wait_ssh",
                   "timeout", "user", "ssh_key", "user_data", "network", "internet", "drop_unusable", "labels",
                   "insecure"):
        assert params[option].kind is params[option].KEYWORD_ONLY and params[option].annotation is not \
            inspect.Parameter.empty, option


def test_the_package_is_marked_typed():
    import vmctl

    assert (Path(vmctl.__file__).parent / "py.typed").is_file()  # shipped: the wheel takes the whole package
