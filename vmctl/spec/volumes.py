"""Every name vmctl gives a volume in its pool, in one place (pure).

VMs, images, locks and carried snapshots share one pool, so a name says what a
volume is and whose it is:

    VM NAME      NAME-vda.qcow2 (a disk, by target), NAME-seed.iso (first-boot seed,
                 holds the private host key), NAME-cidata.iso (the seed without it),
                 NAME-vda.SNAP.qcow2 (an external snapshot's overlay),
                 NAME.vmlinuz / NAME.initrd (a restored VM's kernel and initrd)
    image NAME   NAME.base.json (its description, written last), NAME.base.qcow2|raw,
                 NAME.base.vmlinuz, NAME.base.initrd
    builds       tiny-RECIPE8, tinydisk-RECIPE8 (image names; recognised by the recipe
                 id their description records, never by the prefix alone)
    records      TARGET.intent.json (an operation's lock and record; an image's
                 target is ``image:NAME``), TARGET.intent-new-TOKEN.json (a record
                 being written, before libvirt makes the record from it),
                 TARGET.intent-claim-N.json (a repair's claim on a dead record),
                 NAME.snapshots.json (snapshots carried by a migration)

These names are what existing VMs carry: changing one orphans their volumes.
"""

from __future__ import annotations

BASE = ".base"
IMAGE_DESCRIPTION_SUFFIX = f"{BASE}.json"
INTENT_SUFFIX = ".intent.json"
CARRY_SUFFIX = ".snapshots.json"
IMAGE_LOCK_PREFIX = "image:"
PARTIAL_MARK = ".partial-"


# --- VMs -----------------------------------------------------------------------
def disk_volume(vm: str, target: str = "vda") -> str:
    return f"{vm}-{target}.qcow2"


def seed_volume(vm: str) -> str:
    """The first-boot seed (it holds the guest's private host key)."""
    return f"{vm}-seed.iso"


def clean_seed_volume(vm: str) -> str:
    """The seed once the guest took its host key: the same instance, no private key."""
    return f"{vm}-cidata.iso"


def cdrom_volume(vm: str, target: str) -> str:
    """A CD-ROM other than the seed (a restored VM's second ISO)."""
    return f"{vm}-{target}.iso"


def overlay_volume(vm: str, target: str, snapshot: str) -> str:
    """An external (disk-only) snapshot's overlay for disk ``target``."""
    return f"{vm}-{target}.{snapshot}.qcow2"


def restored_boot_volume(vm: str, role: str) -> str:
    """A restored VM's own copy of its kernel (``role`` "kernel") or initrd."""
    return f"{vm}.{'vmlinuz' if role == 'kernel' else 'initrd'}"


def staged_backup_file(vm: str, token: str, target: str) -> str:
    """A push backup's file for disk ``target`` while QEMU writes it, next to the VM's
    disks in the pool (hidden, not a volume vmctl lists; repair removes it by its
    ``.partial-`` mark)."""
    return f".{vm}{PARTIAL_MARK}{token}-{target}.qcow2"


def is_partial(file_name: str) -> bool:
    """A killed backup's unfinished file or directory (staged file, backup directory)."""
    return PARTIAL_MARK in file_name


def is_legacy_vm_volume(vm: str, volume: str) -> bool:
    """VMs of vmctl versions before the ownership record: their volumes were the
    pool's ``VM-...`` files that are not image files."""
    return volume.startswith(f"{vm}-") and not is_image_volume(volume)


# --- images -----------------------------------------------------------------------
def image_volume(image: str, suffix: str) -> str:
    """``suffix``: json (the description), qcow2/raw (the disk), vmlinuz, initrd."""
    return f"{image}{BASE}.{suffix}"


def image_description(image: str) -> str:
    return image_volume(image, "json")


def image_of_description(volume: str) -> str | None:
    """The image a description volume describes; None for any other volume."""
    return volume[: -len(IMAGE_DESCRIPTION_SUFFIX)] if volume.endswith(IMAGE_DESCRIPTION_SUFFIX) else None


def is_image_volume(volume: str) -> bool:
    return f"{BASE}." in volume


def image_of_base_stem(stem: str) -> str | None:
    """``NAME.base`` (a file name without its last suffix) -> NAME."""
    return stem[: -len(BASE)] if stem.endswith(BASE) and len(stem) > len(BASE) else None


def image_lock(image: str) -> str:
    """Images and VMs share the pool: an image's lock has a name no VM can have."""
    return f"{IMAGE_LOCK_PREFIX}{image}"


def build_image_name(kind: str, recipe_id: str) -> str:
    """A build of an embedded guest (``kind`` tiny or tinydisk) of recipe ``recipe_id``."""
    return f"{kind}-{recipe_id[:8]}"


def is_build_of(kind: str, image_name: str, recipe_id: str) -> bool:
    """Whether an image is a build vmctl made of ``kind``: its description records a
    recipe id (user imports record none) and its name is that recipe's build name."""
    return bool(recipe_id) and image_name == build_image_name(kind, recipe_id)


# --- records -------------------------------------------------------------------------
def intent_volume(target: str) -> str:
    return f"{target}{INTENT_SUFFIX}"


def intent_target(volume: str) -> str | None:
    """The target whose intent record ``volume`` is; None for any other volume."""
    return volume[: -len(INTENT_SUFFIX)] if volume.endswith(INTENT_SUFFIX) else None


STAGE_MARK = ".intent-new-"
CLAIM_MARK = ".intent-claim-"


def staging_volume(target: str, token: str) -> str:
    """A record being written (libvirt makes ``TARGET.intent.json`` from it in one call)."""
    return f"{target}{STAGE_MARK}{token}.json"


def staging_target(volume: str) -> str | None:
    """The target whose record ``volume`` stages; None for any other volume."""
    head, mark, tail = volume.rpartition(STAGE_MARK)
    return head if mark and head and tail.endswith(".json") else None


def claim_volume(target: str, number: int) -> str:
    """A repair's claim number ``number`` on ``target``'s dead record."""
    return f"{target}{CLAIM_MARK}{number}.json"


def claim_number(target: str, volume: str) -> int | None:
    """N of ``target``'s claim volume N; None for any other volume."""
    prefix = f"{target}{CLAIM_MARK}"
    if not volume.startswith(prefix) or not volume.endswith(".json"):
        return None
    digits = volume[len(prefix):-len(".json")]
    return int(digits) if digits.isdigit() and len(digits) <= 9 else None


def is_record_volume(volume: str) -> bool:
    """A record, a record being written, or a claim: what a repair sweep looks at."""
    return intent_target(volume) is not None or STAGE_MARK in volume or CLAIM_MARK in volume


def carry_volume(vm: str) -> str:
    """The snapshots a migration of ``vm`` carries (their XML, while the metadata is lifted)."""
    return f"{vm}{CARRY_SUFFIX}"
