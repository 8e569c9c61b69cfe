"""cp --stack and backup --stack over a stack's VMs (ops/stackfan.py), with fake copies
and backups: the per-VM jobs, a failing VM not stopping the others, DEST/VMNAME."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmctl.errors import Conflict, InvalidInput, NotFound
from vmctl.ops.backup import BackupResult
from vmctl.ops.stackfan import CopyJob, backup_many, copy_jobs, copy_many


def test_copy_jobs_to_the_guests_and_back_into_a_directory_per_vm():
    assert copy_jobs(["a", "b"], "./app.conf", ":/etc/app.conf") == [
        CopyJob("a", "./app.conf", "a:/etc/app.conf"), CopyJob("b", "./app.conf", "b:/etc/app.conf")]
    assert copy_jobs(["a"], ":/var/log/x.log", "logs") == [CopyJob("a", "a:/var/log/x.log", "logs/a", "logs/a")]


@pytest.mark.parametrize("src,dest", [("./a", "./b"), (":/a", ":/b"), ("web1:/a", "./b"), ("./a", "web1:/b"),
                                      ("./a", ":")])
def test_copy_jobs_refuse_anything_but_one_guest_side_written_colon_path(src, dest):
    with pytest.raises(InvalidInput):
        copy_jobs(["a"], src, dest)


def test_copy_many_goes_on_after_a_failing_vm_and_makes_the_per_vm_directories(tmp_path):
    calls: list[tuple[str, str]] = []

    def copy_one(src: str, dest: str) -> None:
        calls.append((src, dest))
        if src.startswith("b:"):
            raise NotFound("no /x in b", hint="")
    lines: list[str] = []
    summary = copy_many(copy_one, ["a", "b", "c"], ":/x", str(tmp_path / "out"), parallel=2, write=lines.append)
    assert sorted(calls) == [("a:/x", f"{tmp_path}/out/a"), ("b:/x", f"{tmp_path}/out/b"),
                             ("c:/x", f"{tmp_path}/out/c")]
    assert [(o.name, o.exit_status != 0, o.error) for o in summary.outcomes] == [
        ("a", False, None), ("b", True, "no /x in b"), ("c", False, None)]
    assert summary.exit_status != 0 and all((tmp_path / "out" / vm).is_dir() for vm in "abc")
    assert sorted(lines) == [f"a | copied a:/x -> {tmp_path}/out/a", f"c | copied c:/x -> {tmp_path}/out/c"]


def test_copy_from_the_guests_needs_a_directory(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(Conflict, match="not a directory"):
        copy_many(lambda s, d: None, ["a"], ":/x", str(tmp_path / "file"), parallel=1, write=print)


def test_backup_many_writes_dest_vmname_and_reports_each(tmp_path):
    def backup_one(vm: str, where: Path) -> BackupResult:
        if vm == "b":
            raise Conflict(f"{where} exists already", hint="")
        return BackupResult(vm, str(where), {"manifest.json": 10, "vda.qcow2": 3 << 20}, 1.5, True)
    lines: list[str] = []
    summary, done = backup_many(backup_one, ["a", "b"], tmp_path / "bak", parallel=2, write=lines.append)
    assert (tmp_path / "bak").is_dir() and list(done) == ["a"] and done["a"].path == f"{tmp_path}/bak/a"
    assert [o.error for o in summary.outcomes] == [None, f"{tmp_path}/bak/b exists already"]
    assert summary.exit_status != 0
    assert lines == [f"a | backed up to {tmp_path}/bak/a: 2 files, 3 MiB in 1.5 s (while running)"]


def test_backup_many_refuses_a_file_or_a_missing_parent(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(Conflict):
        backup_many(lambda vm, where: None, ["a"], tmp_path / "file", parallel=1, write=print)  # type: ignore
    with pytest.raises(NotFound):
        backup_many(lambda vm, where: None, ["a"], tmp_path / "no" / "bak", parallel=1, write=print)  # type: ignore
