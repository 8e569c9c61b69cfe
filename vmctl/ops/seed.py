"""After first boot the host keeps no guest private key.

The NoCloud seed of a new VM carries the guest's private SSH host key (vmctl makes
the key so it can pin it). Once the guest has booted and taken it (its console
showed the fingerprint, or SSH authenticated against the pinned key), the seed
volume ``NAME-seed.iso`` is replaced by ``NAME-cidata.iso``: the same instance-id,
hostname and user-data without any private key. The CD-ROM's media is changed to
it (live and in the config) and the old volume deleted. Keeping a seed with the
same instance-id matters: cloud-init that finds no seed at the next boot takes it
for a new instance and makes new host keys, which the pinned key would refuse.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from vmctl.errors import Busy
from vmctl.libvirtxml.edits import disk_with_source
from vmctl.libvirtxml.facts import parse_domain
from vmctl.libvirtxml.storage import volume_xml
from vmctl.local.testhooks import checkpoint
from vmctl.ops.safety.operation import Operation
from vmctl.ops.resolve import seed_volume_name
from vmctl.spec.volumes import clean_seed_volume
from vmctl.virt import domains
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool

def clean_seed_volume_name(vm: str) -> str:
    return clean_seed_volume(vm)


def has_secret_seed(volumes: tuple[str, ...], name: str) -> bool:
    return seed_volume_name(name) in volumes


def retire_seed_secret(host: Host, pool: Pool, name: str, *, within: Operation | None = None) -> bool:
    """Swap the secret seed for a clean one; False if there was nothing to do. ``within``:
    the caller's operation (it holds the lock, and records the new volume); without it a
    busy VM is left for a later call."""
    if within is not None:
        return _retire(host, pool, name, within)
    try:
        with Operation(host, pool, "seed-retire", name) as op:
            return _retire(host, pool, name, op)
    except Busy:
        return False


def _retire(host: Host, pool: Pool, name: str, op: Operation) -> bool:
    """Each step can be interrupted and redone: the clean volume is recorded as the VM's
    own before it is made, the secret one forgotten only after it is gone."""
    from vmctl.ops.vms import update_meta

    dom = domains.lookup(host, name)
    volumes = parse_domain(dom.xml(inactive=True)).meta.volumes
    secret, clean = seed_volume_name(name), clean_seed_volume_name(name)
    if secret not in volumes:
        return False
    if pool.has_volume(secret):
        if clean not in volumes:
            volumes = update_meta(dom, volumes=(*volumes, clean)).volumes
        iso = _clean_seed(pool, secret)
        if op.op == "create":  # an interrupted create must take this one away too
            op.will("volume", clean)
        if pool.has_volume(clean):  # left by an interrupted retirement: it holds no secret
            pool.delete_volume(clean)
        pool.create_volume(volume_xml(clean, len(iso), "raw"))
        if op.op == "create":
            op.on_undo(pool.delete_volume, clean)
        pool.upload(clean, iso)
        checkpoint("seed-retire:uploaded")
        # The seed CD-ROM is found by its file: its bus and target depend on the template.
        seeds = (f"{pool.path}/{secret}", f"{pool.path}/{clean}")
        dom.update_device(disk_with_source(dom.xml(inactive=True), seeds, f"{pool.path}/{clean}"))
        checkpoint("seed-retire:swapped")
        pool.delete_volume(secret)
    update_meta(dom, volumes=tuple(v for v in volumes if v != secret))
    return True


def _clean_seed(pool: Pool, secret_volume: str) -> bytes:
    """The seed's files with every private key dropped, as a new ISO."""
    import yaml

    from vmctl.guest.seed import build_seed_iso, read_seed_iso

    with tempfile.TemporaryDirectory(prefix="vmctl-seed-") as tmp:
        old = Path(tmp) / "old.iso"
        old.write_bytes(pool.download(secret_volume))
        old.chmod(0o600)
        files = read_seed_iso(old)
        meta = yaml.safe_load(files.get("meta-data", "")) or {}
        user_data = yaml.safe_load(files.get("user-data", "")) or {}
        keys = {k: v for k, v in (user_data.get("ssh_keys") or {}).items() if not k.endswith("_private")}
        if keys:
            user_data["ssh_keys"] = keys
        else:
            user_data.pop("ssh_keys", None)
        network = yaml.safe_load(files["network-config"]) if "network-config" in files else None
        new = build_seed_iso(Path(tmp) / "seed.iso", instance_id=str(meta["instance-id"]),
                             hostname=str(meta.get("local-hostname", "")), user_data=user_data,
                             network_config=network)
        return new.read_bytes()


def holds_private_key(iso: Path) -> bool:
    """Whether a seed ISO (e.g. one in a backup) still carries a private SSH host key."""
    import yaml

    from vmctl.errors import VmctlError
    from vmctl.guest.seed import read_seed_iso

    try:
        user_data = yaml.safe_load(read_seed_iso(iso).get("user-data", "")) or {}
    except (VmctlError, yaml.YAMLError, UnicodeDecodeError):
        return False  # not a seed vmctl wrote (an installer ISO, say)
    except Exception:  # noqa: BLE001 - an untrusted ISO the parser chokes on holds no seed of ours
        return False
    keys = user_data.get("ssh_keys") if isinstance(user_data, dict) else None
    return isinstance(keys, dict) and any(str(k).endswith("_private") for k in keys)
