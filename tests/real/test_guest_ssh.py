"""SSH on the real tiny guest: exec, cp, provisioning with a reboot, resume,
host-key pinning, literal arguments, fan-out, readiness stages."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from vmctl.cli.app import run
from vmctl.errors import GuestError, HostKeyMismatch, Timeout


@pytest.fixture
def ready_vm(api, tiny, vm_name):
    api.create(vm_name, wait_boot=True, wait_ssh=True)
    return vm_name


def capture(api, name, argv, **kw):
    out, err = bytearray(), bytearray()
    status = api.exec(name, argv, out=out.extend, err=err.extend, **kw)
    return status, bytes(out), bytes(err)


def test_exit_codes_and_streams(api, ready_vm):
    assert capture(api, ready_vm, ["true"])[0] == 0
    status, out, err = capture(api, ready_vm, ["sh", "-c", "echo to-out; echo to-err >&2; exit 3"])
    assert (status, out, err) == (3, b"to-out\n", b"to-err\n")
    status, out, _ = capture(api, ready_vm, ["sh", "-c", "echo $GREETING; cat"], env={"GREETING": "hi there"},
                             stdin=b"from stdin\n")
    assert (status, out) == (0, b"hi there\nfrom stdin\n")


def test_exec_output_returns_what_the_command_did(api, ready_vm):
    result = api.exec_output(ready_vm, ["sh", "-c", "echo to-out; echo to-err >&2; exit 3"])
    assert (result.exit_status, result.stdout, result.stderr) == (3, b"to-out\n", b"to-err\n")
    assert result.argv == ("sh", "-c", "echo to-out; echo to-err >&2; exit 3") and result.duration > 0
    ok = api.exec_output(ready_vm, ["sh", "-c", 'printf "%s" "$K"; cat'], env={"K": "v w"}, stdin=b"in", check=True)
    assert (ok.exit_status, ok.stdout) == (0, b"v win")
    with pytest.raises(GuestError) as failed:
        api.exec_output(ready_vm, ["sh", "-c", "echo why-it-failed; exit 4"], check=True)
    assert "exited with status 4" in failed.value.message and "why-it-failed" in failed.value.hint


def test_arguments_arrive_literally(api, ready_vm, tmp_path):
    marker = tmp_path / "should-not-exist"
    args = ["a;b", "$(touch /tmp/pwned)", "`id`", "it's", 'say "hi"', "two  words", "*", "x\ny", str(marker)]
    status, out, _ = capture(api, ready_vm, ["printf", "%s\\n", *args])
    assert status == 0 and out.decode().split("\n")[:-1] == "\n".join(args).split("\n")
    assert capture(api, ready_vm, ["test", "-e", "/tmp/pwned"])[0] == 1
    assert not marker.exists()


def test_cli_exec_propagates_exit_status(ready_vm, capfd):
    assert run(["exec", "-n", ready_vm, "--", "sh", "-c", "echo out; echo err >&2; exit 7"]) == 7
    captured = capfd.readouterr()
    assert "out" in captured.out and "err" in captured.err and "err" not in captured.out
    # stdin is streamed, never read up front: a pipe that stays open holds up nothing,
    # and what is written reaches the guest while the writer still holds the pipe
    cli = [sys.executable, "-m", "vmctl", "exec", ready_vm, "--"]
    with subprocess.Popen([*cli, "true"], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        assert proc.wait(timeout=60) == 0  # (the pipe is still open here)
    with subprocess.Popen([*cli, "head", "-n1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        proc.stdin.write(b"one line\n")
        proc.stdin.flush()
        assert proc.wait(timeout=60) == 0 and proc.stdout.read() == b"one line\n"


def test_cp_round_trip_with_checksums_and_modes(api, ready_vm, tmp_path):
    payload = os.urandom(1 << 20)
    src = tmp_path / "blob.bin"
    src.write_bytes(payload)
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "run.sh").write_text("#!/bin/sh\necho ok\n")
    (tree / "run.sh").chmod(0o755)
    (tree / "sub" / "secret").write_text("s3cret")
    (tree / "sub" / "secret").chmod(0o600)

    assert run(["cp", str(src), f"{ready_vm}:/root/blob.bin"]) == 0
    assert run(["cp", "-r", str(tree), f"{ready_vm}:/root/tree"]) == 0
    status, out, _ = capture(api, ready_vm, ["sha256sum", "/root/blob.bin"])
    assert out.split()[0].decode() == hashlib.sha256(payload).hexdigest()
    assert capture(api, ready_vm, ["/root/tree/run.sh"])[1] == b"ok\n"

    back = tmp_path / "back"
    back.mkdir()
    assert run(["cp", f"{ready_vm}:/root/blob.bin", str(back)]) == 0
    assert run(["cp", "-r", f"{ready_vm}:/root/tree", str(back / "tree")]) == 0
    assert (back / "blob.bin").read_bytes() == payload
    assert (back / "tree" / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (back / "tree" / "sub" / "secret").stat().st_mode & 0o777 == 0o600
    assert (back / "tree" / "sub" / "secret").read_text() == "s3cret"


def test_provisioning_with_reboot_and_resume(api, ready_vm, tmp_path, capsys):
    (tmp_path / "setup.sh").write_text("#!/bin/sh\necho \"$1\" > /root/script-ran\n")
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "steps:\n"
        "  - name: write\n    run: [sh, -c, 'date +%s > /root/step1']\n"
        "  - name: reboot\n    reboot: {}\n"
        "  - name: script\n    script: setup.sh\n    args: [after reboot]\n"
        "  - name: check\n    run: [sh, -c, 'test -e /root/step1 && ! test -e /run/marker-from-before']\n"
        "  - name: conf\n    copy: {src: app.conf, dest: /etc/app.conf}\n"
        "  - name: file\n    wait_file: /etc/app.conf\n    timeout: 30\n"
        "  - name: port\n    wait_port: 22\n    timeout: 30\n"
    )
    (tmp_path / "app.conf").write_text("setting=1\n")
    api.exec(ready_vm, ["touch", "/run/marker-from-before"])
    result = api.provision(ready_vm, plan)
    assert result.ran == ["write", "reboot", "script", "check", "conf", "file", "port"] and result.skipped == []
    assert capture(api, ready_vm, ["cat", "/root/script-ran"])[1] == b"after reboot\n"
    assert capture(api, ready_vm, ["cat", "/etc/app.conf"])[1] == b"setting=1\n"
    assert len(api.vms.info_meta(ready_vm).provisioned) == 7

    again = api.provision(ready_vm, plan)  # everything done: nothing runs
    assert again.ran == [] and len(again.skipped) == 7

    plan.write_text(plan.read_text() + "  - name: fails\n    run: [sh, -c, 'echo boom >&2; exit 4']\n")
    assert run(["provision", ready_vm, str(plan), "--json"]) == 11
    outcome = json.loads(capsys.readouterr().out)[0]
    assert outcome["exit_status"] == 11 and "exited with status 4" in outcome["error"]
    assert len(api.vms.info_meta(ready_vm).provisioned) == 7  # the first seven stay done


def test_changed_host_key_is_refused(api, ready_vm, capsys):
    key = "/etc/dropbear/dropbear_ed25519_host_key"
    assert api.exec(ready_vm, ["sh", "-c", f"rm -f /tmp/k && dropbearkey -t ed25519 -f /tmp/k >/dev/null "
                                           f"&& mv /tmp/k {key} && sync"]) == 0
    api.stop(ready_vm, force=True)
    api.start(ready_vm, wait_boot=True)
    with pytest.raises(HostKeyMismatch, match="host key mismatch"):
        api.exec(ready_vm, ["true"])
    assert run(["exec", "-n", ready_vm, "--", "true"]) == 255  # exec: vmctl's failures are 255 ...
    assert run(["exec", "--json", "-n", ready_vm, "--", "true"]) == 255  # ... the specific code in JSON
    error = json.loads(capsys.readouterr().out)["error"]
    assert (error["vmctl_exit_code"], error["code"]) == (12, "host-key-mismatch")


def test_wait_names_the_stage_on_timeout(api, tiny, vm_name):
    api.create(vm_name)  # no wait: the guest is still booting
    with pytest.raises(Timeout, match="waiting for"):
        api.wait(vm_name, until="boot", timeout=0.5)
    stages = api.wait(vm_name, until="boot")["stages"]
    assert list(stages) == ["domain running", "address known", "port open", "SSH banner", "authenticated",
                            "boot finished"]


def test_fan_out_exec(api, tiny, vm_name, capfd):
    second = f"{vm_name}-2"
    try:
        api.create(vm_name, wait_boot=True, wait_ssh=True)
        api.create(second, wait_boot=True, wait_ssh=True)
        status = run(["exec", "-n", f"{vm_name},{second}", "--", "sh", "-c", "hostname; test $(hostname) = " + second])
        err = capfd.readouterr().err
        assert status == 1
        assert f"{vm_name} | {vm_name}" in err and f"{second} | {second}" in err
        assert "exit 1" in err and "ok" in err
    finally:
        if second in api.running_vm_names() or any(v.name == second for v in api.list()):
            api.delete(second)
