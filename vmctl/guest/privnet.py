"""The guest's side of a stack's private networks: each NIC found by its MAC gets its
static address, and ``/etc/hosts`` gets vmctl's block of the stack's names. One fixed
script (POSIX sh, busybox or coreutils), run with the values as its arguments: nothing
the user wrote becomes shell code. Idempotent: `vmctl up` runs it on every VM each time.

The addresses also come back at every boot: the script keeps them in
``/etc/vmctl/privnet.conf`` and installs ``/etc/vmctl/boot.d/privnet``, which the tiny
guest's boot runs, and on systemd guests a oneshot unit ``vmctl-privnet.service``
(``/etc/hosts`` itself persists)."""

from __future__ import annotations

BEGIN = "# vmctl stack: begin (vmctl up rewrites this block)"
END = "# vmctl stack: end"

SCRIPT = r"""set -eu
begin=$1 end=$2 hosts=$3
shift 3
mkdir -p /etc/vmctl/boot.d
conf=/etc/vmctl/privnet.conf
: >"$conf.tmp"
while [ "$#" -ge 2 ]; do
    printf '%s %s\n' "$1" "$2" >>"$conf.tmp"
    shift 2
done
mv "$conf.tmp" "$conf"
cat >/etc/vmctl/boot.d/privnet.tmp <<'APPLY'
#!/bin/sh
# vmctl: a stack's private network addresses (from /etc/vmctl/privnet.conf, which
# `vmctl up` writes), set at every boot and by every `vmctl up`.
set -eu
while read -r mac cidr; do
    dev=
    for path in /sys/class/net/*; do
        [ "$(cat "$path/address" 2>/dev/null)" = "$mac" ] && dev=${path##*/}
    done
    if [ -z "$dev" ]; then
        echo "vmctl privnet: no network interface has MAC $mac" >&2
        exit 3
    fi
    ip link set dev "$dev" up
    if ! ip -4 addr show dev "$dev" | grep -qF "inet $cidr "; then
        ip -4 addr flush dev "$dev"
        ip addr add "$cidr" dev "$dev"
    fi
done </etc/vmctl/privnet.conf
APPLY
chmod 0755 /etc/vmctl/boot.d/privnet.tmp
mv /etc/vmctl/boot.d/privnet.tmp /etc/vmctl/boot.d/privnet
if [ -d /run/systemd/system ]; then
    cat >/etc/systemd/system/vmctl-privnet.service <<'UNIT'
[Unit]
Description=vmctl: a stack's private network addresses
After=systemd-udev-settle.service network-pre.target
Before=network.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/etc/vmctl/boot.d/privnet
[Install]
WantedBy=multi-user.target
UNIT
    mkdir -p /etc/systemd/system/multi-user.target.wants
    ln -sf /etc/systemd/system/vmctl-privnet.service /etc/systemd/system/multi-user.target.wants/
fi
/etc/vmctl/boot.d/privnet
tmp=/etc/.hosts.vmctl.$$
awk -v b="$begin" -v e="$end" '$0 == b {skip = 1; next} $0 == e {skip = 0; next} !skip' /etc/hosts >"$tmp" || :
printf '%s\n%s\n%s\n' "$begin" "$hosts" "$end" >>"$tmp"
cat "$tmp" >/etc/hosts
rm -f "$tmp"
"""


def configure_argv(nics: list[tuple[str, str]], hosts: list[str], *, sudo: bool) -> list[str]:
    """The command that applies ``nics`` (MAC, address/prefix) and the ``hosts`` lines;
    ``sudo`` for a guest user other than root (cloud images' default user)."""
    argv = ["sh", "-c", SCRIPT, "vmctl-privnet", BEGIN, END, "\n".join(hosts)]
    for mac, cidr in nics:
        argv += [mac, cidr]
    return ["sudo", "-n", *argv] if sudo else argv
