"""Pool volume names (spec/volumes.py): the names existing VMs and images carry, literally."""

from vmctl.spec import volumes as v


def test_vm_volume_names_are_those_existing_vms_carry():
    assert v.disk_volume("web1") == "web1-vda.qcow2"
    assert v.disk_volume("web1", "sdb") == "web1-sdb.qcow2"
    assert v.seed_volume("web1") == "web1-seed.iso"
    assert v.clean_seed_volume("web1") == "web1-cidata.iso"
    assert v.overlay_volume("web1", "vda", "s1") == "web1-vda.s1.qcow2"
    assert v.restored_boot_volume("web1", "kernel") == "web1.vmlinuz"
    assert v.restored_boot_volume("web1", "initrd") == "web1.initrd"


def test_image_volume_names():
    assert v.image_volume("tiny", "qcow2") == "tiny.base.qcow2"
    assert v.image_description("debian") == "debian.base.json"
    assert v.image_of_description("debian.base.json") == "debian"
    assert v.image_of_description("debian.base.qcow2") is None
    assert v.image_of_description("web1.intent.json") is None
    assert v.is_image_volume("tiny-4b0c6b74.base.vmlinuz") and not v.is_image_volume("web1-vda.qcow2")
    assert v.image_of_base_stem("tiny.base") == "tiny" and v.image_of_base_stem(".base") is None
    assert v.image_of_base_stem("web1-vda") is None
    assert v.image_lock("tiny") == "image:tiny"


def test_record_volume_names():
    assert v.intent_volume("web1") == "web1.intent.json"
    assert v.intent_volume("image:tiny") == "image:tiny.intent.json"
    assert v.intent_target("web1.intent.json") == "web1" and v.intent_target("web1-vda.qcow2") is None
    assert v.carry_volume("web1") == "web1.snapshots.json"


def test_builds_are_recognised_by_their_recorded_recipe_id_not_their_prefix():
    recipe = "4b0c6b74e1f2a3b4"
    assert v.build_image_name("tiny", recipe) == "tiny-4b0c6b74"
    assert v.build_image_name("tinydisk", recipe) == "tinydisk-4b0c6b74"
    assert v.is_build_of("tiny", "tiny-4b0c6b74", recipe)
    assert not v.is_build_of("tiny", "tiny-debian", "")          # a user's import records no recipe
    assert not v.is_build_of("tiny", "tiny-4b0c6b74", "")        # even named like a build
    assert not v.is_build_of("tiny", "tiny-debian", recipe)      # a recipe that is not its name's
    assert not v.is_build_of("tiny", "tinydisk-4b0c6b74", recipe)  # tinydisk's builds are not tiny's


def test_backup_partial_files():
    assert v.staged_backup_file("web1", "ab12cd34", "vda") == ".web1.partial-ab12cd34-vda.qcow2"
    assert v.is_partial(v.staged_backup_file("web1", "ab12cd34", "vda")) and v.is_partial(".bk.partial-x1y2")
    assert not v.is_partial("web1-vda.qcow2")


def test_legacy_vm_volumes_exclude_images_and_other_vms():
    assert v.is_legacy_vm_volume("web1", "web1-vda.qcow2")
    assert not v.is_legacy_vm_volume("web1", "web1.intent.json")
    assert not v.is_legacy_vm_volume("web1", "web1-x.base.qcow2")
    assert not v.is_legacy_vm_volume("web1", "web10-vda.qcow2")


def test_the_modules_that_name_volumes_use_this_one():
    from vmctl.ops import carry, images, resolve, seed, tiny, tinydisk
    from vmctl.ops.safety import intents

    assert resolve.disk_volume_name("a") == v.disk_volume("a") and resolve.seed_volume_name("a") == v.seed_volume("a")
    assert seed.clean_seed_volume_name("a") == v.clean_seed_volume("a")
    assert carry.carry_volume("a") == v.carry_volume("a") and intents.record_volume("a") == v.intent_volume("a")
    assert images.volume_name("a", "json") == v.image_description("a") and images.lock_name("a") == v.image_lock("a")
    assert tiny.build_name("0123456789") == "tiny-01234567" and tinydisk.build_name("0123456789") == "tinydisk-01234567"
