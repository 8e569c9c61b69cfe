"""`vmctl port` on the real tiny guest: a forward added to a running VM answers at
once on the host's loopback, survives a restart (it is in the definition), is refused
when it clashes, and is gone after `port rm`. Only 127.0.0.1 is dialled."""

from __future__ import annotations

import json
import socket
import urllib.request

from vmctl.cli.app import run
from vmctl.testing.sshserver import free_port


def serve_http(api, name: str, port: int) -> None:
    script = 'mkdir -p /tmp/www && echo "hello from $1" > /tmp/www/index.html && httpd -p "$2" -h /tmp/www'
    assert api.exec(name, ["sh", "-c", script, "sh", name, str(port)], out=lambda _d: None,
                    err=lambda _d: None, timeout=30) == 0


def fetch(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as reply:
        return reply.read().decode().strip()


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
    except OSError:
        return True
    return False


def test_forwards_live_persistent_and_removed(api, tiny, vm_name, capsys):
    api.create(vm_name, wait_boot=True, wait_ssh=True)
    host_port = free_port()
    serve_http(api, vm_name, 8080)
    capsys.readouterr()
    assert run(["port", "add", vm_name, f"{host_port}:8080", "--json"]) == 0
    change = json.loads(capsys.readouterr().out)
    assert change["live"] and change["action"] == "added" and change["host_addr"] == "127.0.0.1"
    assert fetch(host_port) == f"hello from {vm_name}"  # at once, no restart

    listed = {(f.forward.host_port, f.forward.guest_port, f.ssh) for f in api.port_list(vm_name)}
    assert (host_port, 8080, False) in listed and any(ssh for *_, ssh in listed)

    # refused: the same host port again, a guest SSH forward, an exposed address without --expose
    assert run(["port", "add", vm_name, f"{host_port}:9090", "--json"]) == 5
    assert "forwards 127.0.0.1:" in json.loads(capsys.readouterr().out)["error"]["message"]
    assert run(["port", "add", vm_name, f"{free_port()}:22"]) == 3
    assert run(["port", "add", vm_name, f"0.0.0.0:{free_port()}:80"]) == 3
    ssh_port = api.info(vm_name).ssh_port
    assert run(["port", "rm", vm_name, str(ssh_port)]) == 5  # vmctl's SSH forward stays
    capsys.readouterr()

    # persistent: after a power cycle the forward is there again
    api.destroy(vm_name)
    api.start(vm_name, wait_boot=True)
    api.wait(vm_name, until="ssh")
    serve_http(api, vm_name, 8080)
    assert fetch(host_port) == f"hello from {vm_name}"

    assert run(["port", "rm", vm_name, str(host_port), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["live"]
    assert refused(host_port)
    assert host_port not in {f.forward.host_port for f in api.port_list(vm_name)}
    assert run(["port", "rm", vm_name, str(host_port)]) == 4


def test_forwards_of_a_shut_off_vm_are_read_from_its_definition(api, tiny, vm_name):
    api.create(vm_name, start=False)
    assert [f.ssh for f in api.port_list(vm_name)] == [True]  # defined, not running: the definition is read
