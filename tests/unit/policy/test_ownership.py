"""Who else uses a volume, and is it the recorded one (policy/ownership.py): literal inputs."""

from vmctl.policy.ownership import (Actual, DomainRefs, Expected, Use, delete_decision, describe_users,
                                    identity_problem, users)

POOL = "/pool"
VOLS = {f"{POOL}/web1-vda.qcow2": "web1-vda.qcow2", f"{POOL}/web1-seed.iso": "web1-seed.iso"}


def ref(name, *paths, host="A", label="this host", here=True):
    return DomainRefs(host, label, name, frozenset(paths), here)


def test_the_domain_being_deleted_is_not_a_user_of_its_own_disks():
    refs = [ref("web1", f"{POOL}/web1-vda.qcow2", f"{POOL}/web1-seed.iso", "/pool/tiny.base.qcow2")]
    assert users(VOLS, refs, [], besides="web1") == {}


def test_the_same_name_on_another_host_is_another_user():
    """What `migrate --keep-source` on shared storage leaves: same name, same UUID, another host."""
    refs = [ref("web1", f"{POOL}/web1-vda.qcow2"),
            ref("web1", f"{POOL}/web1-vda.qcow2", host="B", label="lab2", here=False)]
    assert users(VOLS, refs, [], besides="web1") == {"web1-vda.qcow2": [Use("VM web1 on lab2", elsewhere=True)]}


def test_backing_chains_snapshots_and_overlays_count():
    refs = [ref("db", "/pool/db-vda.qcow2", f"{POOL}/web1-vda.qcow2")]  # web1's disk in db's backing chain
    backed = [("web1-vda.snap1.qcow2", f"{POOL}/web1-vda.qcow2"), ("other.qcow2", "/pool/tiny.base.qcow2"),
              ("web1-seed.iso", None)]
    used = users(VOLS, refs, backed, besides="web1")
    assert used == {"web1-vda.qcow2": [Use("VM db"), Use("volume web1-vda.snap1.qcow2 (backed by it)")]}
    assert describe_users(used) == "web1-vda.qcow2 is used by VM db, volume web1-vda.snap1.qcow2 (backed by it)"


def test_a_volume_backed_by_another_of_the_set_is_not_a_user():
    backed = [("web1-vda.qcow2", f"{POOL}/web1-seed.iso")]  # both go together
    assert users(VOLS, [], backed) == {}


def test_each_user_is_named_once():
    refs = [ref("db", f"{POOL}/web1-vda.qcow2"), ref("db", f"{POOL}/web1-vda.qcow2")]
    assert users(VOLS, refs, []) == {"web1-vda.qcow2": [Use("VM db")]}


def test_delete_keeps_volumes_only_other_hosts_use_and_refuses_on_any_local_user():
    there = {"web1-vda.qcow2": [Use("VM web1 on lab2", True)]}
    assert delete_decision({}) == ({}, {})
    assert delete_decision(there) == ({}, there)
    assert delete_decision(there, keep_shared=False) == (there, {})
    mixed = {**there, "web1-seed.iso": [Use("VM db")]}
    assert delete_decision(mixed) == (mixed, {})
    both = {"web1-vda.qcow2": [Use("VM web1 on lab2", True), Use("volume x (backed by it)")]}
    assert delete_decision(both) == (both, {})


def test_the_recorded_volume():
    exp = Expected("/pool/a.base.qcow2", 1 << 30, 1000.5)
    assert identity_problem(exp, Actual("/pool/a.base.qcow2", 1 << 30, 1000.5)) is None
    assert identity_problem(exp, Actual("/pool/a.base.qcow2", 1 << 30, 999.0)) is None
    assert identity_problem(exp, Actual("/pool/a.base.qcow2", 1 << 30, None)) is None  # a driver without timestamps
    assert "size is 5 bytes" in identity_problem(exp, Actual("/pool/a.base.qcow2", 5, 1000.0))
    assert "written after" in identity_problem(exp, Actual("/pool/a.base.qcow2", 1 << 30, 1000.6))
    assert "the record names /pool/a.base.qcow2" in identity_problem(exp, Actual("/other/a.base.qcow2", 1 << 30))
    assert identity_problem(Expected("/pool/k"), Actual("/pool/k", 7, 5e9)) is None  # nothing more recorded


def test_keep_disks_keeps_every_own_volume_but_the_cdroms():
    from vmctl.policy.ownership import kept_disks

    own = ["w-vda.qcow2", "w-vda.s1.qcow2", "w-seed.iso", "w.vmlinuz", "w-vdb.qcow2"]
    assert kept_disks(own, {"w-seed.iso"}) == ["w-vda.qcow2", "w-vda.s1.qcow2", "w.vmlinuz", "w-vdb.qcow2"]
    assert kept_disks(["w-vda.qcow2"], set()) == ["w-vda.qcow2"]
    assert kept_disks([], {"w-seed.iso"}) == []
