"""A test module using vmctl's pytest plugin (`pip install 'vmctl[pytest]'`).

    pytest docs/examples/test_with_vmctl.py --vmctl-artifacts ./vmctl-artifacts

The session boots one VM and checkpoints it; `vmctl_clean_vm` puts it back to
that checkpoint before the test; `vmctl_vm` hands it over as earlier tests left
it; `vmctl_vm_factory` makes VMs of the test's own. vmctl's own test suite runs
this module (tests/real/test_pytest_plugin.py): the second and third tests prove
the reset, so keep them in this order.
"""

import time


def tmpfs_mount(vm) -> str:
    """A tmpfs the guest has mounted (its contents live only in guest memory)."""
    for line in vm.exec("cat", "/proc/mounts").stdout.splitlines():
        device, mount_point, fs_type, *_ = line.split()
        if fs_type == "tmpfs" and mount_point in ("/dev/shm", "/run", "/tmp"):
            return mount_point
    raise AssertionError("the guest has no tmpfs mounted")


def test_the_guest_runs_linux(vmctl_vm):
    assert vmctl_vm.exec("uname", "-s").stdout.strip() == "Linux"


def test_a_test_may_leave_a_mess(vmctl_clean_vm):
    vm = vmctl_clean_vm
    vm.sh("echo dirty > /root/marker")
    vm.sh("setsid sleep 1000 </dev/null >/dev/null 2>&1 &")  # its own session: outlives the SSH channel
    vm.exec("sh", "-c", 'echo x > "$1/vmctl-marker"', "sh", tmpfs_mount(vm))
    assert vm.exec("pidof", "sleep").exit_status == 0


def test_a_clean_vm_has_none_of_it(vmctl_clean_vm):
    vm = vmctl_clean_vm
    assert vm.exec("test", "-e", "/root/marker", check=False).exit_status == 1
    assert vm.exec("pidof", "sleep", check=False).exit_status == 1
    assert vm.exec("test", "-e", f"{tmpfs_mount(vm)}/vmctl-marker", check=False).exit_status == 1
    guest_clock = int(vm.exec("date", "+%s").stdout)
    assert abs(guest_clock - time.time()) < 3, "the guest clock was not set after the reset"


def test_a_vm_of_its_own(vmctl_vm_factory, tmp_path):
    vm = vmctl_vm_factory(memory="256M")
    (tmp_path / "greeting").write_text("hello\n")
    vm.put(tmp_path / "greeting", "/root/greeting")
    assert vm.exec("cat", "/root/greeting").stdout == "hello\n"
    vm.get("/root/greeting", tmp_path / "back")
    assert (tmp_path / "back").read_text() == "hello\n"
