#!/bin/sh
# vmctl tiny guest boot script (busybox init "sysinit"): mounts, network,
# NoCloud seed, dropbear, ACPI; then prints the vmctl-guest console lines.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
umask 022

HOSTKEY=/etc/dropbear/dropbear_ed25519_host_key

mounted() { grep -q " $1 " /proc/mounts 2>/dev/null; }

# Uptime-stamped progress in /run/vmctl/boot.log (for debugging slow boots).
stamp() {
    read -r up _ </proc/uptime
    echo "$up $*" >>/run/vmctl/boot.log
}

mount -t proc proc /proc
mounted /sys || mount -t sysfs sysfs /sys
mounted /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mkdir -p /run/vmctl /var/lib/vmctl /var/log
ln -sf /proc/self/fd /dev/fd 2>/dev/null
# Built by a non-root user, the files belong to that uid: give them to root once.
if [ "$(stat -c %u /bin/busybox)" != 0 ]; then
    chown -R -h 0:0 /bin /sbin /usr /lib /lib64 /etc /root /var
fi
stamp "mounts done"

# ACPI power button -> /etc/acpi/PWRF/00000080 -> poweroff.
acpid -l /run/vmctl/acpid.log

ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
    udhcpc -i eth0 -s /etc/vmctl/udhcpc.sh -b -t 10 -T 1 -A 3 -p /run/udhcpc.pid \
        >/run/vmctl/udhcpc.log 2>&1 &
fi

stamp "network started"
/etc/vmctl/seed.sh
stamp "seed done"
# vmctl's own guest-side configuration that must come back at every boot (a stack's
# private network addresses: /etc/vmctl/boot.d/privnet, written by `vmctl up`).
for hook in /etc/vmctl/boot.d/*; do
    [ -x "$hook" ] && "$hook" >>/run/vmctl/boot.log 2>&1
done
stamp "boot.d done"
hostname -F /etc/hostname 2>/dev/null || hostname tiny

if [ ! -s "$HOSTKEY" ]; then
    mkdir -p /etc/dropbear
    chmod 700 /etc/dropbear
    dropbearkey -t ed25519 -f "$HOSTKEY" >/dev/null 2>&1
    sync
fi

stamp "host key ready"
# Root login by key only: -s disables password logins entirely.
dropbear -s -r "$HOSTKEY" -p 22 -P /run/dropbear.pid

# Wait (bounded) until port 22 is listening, and for the first DHCP lease.
i=0
while [ "$i" -lt 100 ]; do
    if cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q ':0016 [0-9A-F:]* 0A '; then
        break
    fi
    sleep 0.05
    i=$((i + 1))
done
stamp "sshd listening"
i=0
while [ -e /sys/class/net/eth0 ] && [ ! -e /run/vmctl/lease ] && [ "$i" -lt 100 ]; do
    sleep 0.05
    i=$((i + 1))
done

stamp "network ready"
keyinfo=$(dropbearkey -y -f "$HOSTKEY" 2>/dev/null)
pub=$(echo "$keyinfo" | sed -n 's/^\(ssh-ed25519 [A-Za-z0-9+/=]*\).*/\1/p')
fp=$(echo "$keyinfo" | sed -n 's/^Fingerprint: //p')
# A newline first: firmware leaves escape sequences without one on the console.
echo
echo "vmctl-guest: hostkey $pub"
echo "vmctl-guest: hostkey-fingerprint $fp"
: >/run/vmctl-boot-finished
echo "vmctl-guest: boot-finished"
stamp "boot finished"
