#!/bin/sh
# vmctl tiny guest: apply a NoCloud seed (CD-ROM labelled "cidata") once per
# instance-id: hostname, root's authorized_keys and the ed25519 SSH host key.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
STATE=/var/lib/vmctl
HOSTKEY=/etc/dropbear/dropbear_ed25519_host_key
MNT=/run/vmctl/seed
OUT=/run/vmctl/cloud-config

# First value of a top-level "key: value" line of a YAML file, unquoted.
yaml_value() {
    sed -n "s/^$1:[ ]*//p" "$2" | head -n 1 | sed -e "s/[ ]*\$//" \
        -e "s/^'\(.*\)'\$/\1/" -e "s/''/'/g" -e 's/^"\(.*\)"$/\1/'
}

dev=$(findfs LABEL=cidata 2>/dev/null)
[ -n "$dev" ] || { [ -b /dev/sr0 ] && dev=/dev/sr0; }
[ -n "$dev" ] || exit 0
mkdir -p "$MNT"
mount -t iso9660 -o ro "$dev" "$MNT" 2>/dev/null || exit 0

iid=$(yaml_value instance-id "$MNT/meta-data")
last=$(cat "$STATE/instance-id" 2>/dev/null)
if [ -z "$iid" ] || [ "$iid" = "$last" ]; then
    umount "$MNT"
    exit 0
fi

rm -rf "$OUT"
mkdir -p "$OUT"
chmod 700 "$OUT"
host=$(yaml_value local-hostname "$MNT/meta-data")
if [ -f "$MNT/user-data" ]; then
    awk -v OUT="$OUT" -f /etc/vmctl/cloud-config.awk "$MNT/user-data"
fi
umount "$MNT"

[ -s "$OUT/hostname" ] && host=$(cat "$OUT/hostname")
[ -n "$host" ] && echo "$host" >/etc/hostname

if [ -s "$OUT/authorized_keys" ]; then
    mkdir -p /root/.ssh
    chown 0:0 /root /root/.ssh
    chmod 700 /root /root/.ssh
    cp "$OUT/authorized_keys" /root/.ssh/authorized_keys.new
    chmod 600 /root/.ssh/authorized_keys.new
    mv -f /root/.ssh/authorized_keys.new /root/.ssh/authorized_keys
fi

# A new instance gets the injected host key, or else a freshly generated one.
mkdir -p /etc/dropbear
chmod 700 /etc/dropbear
rm -f "$HOSTKEY.new"
if [ -s "$OUT/ed25519_private" ]; then
    if dropbearconvert openssh dropbear "$OUT/ed25519_private" "$HOSTKEY.new" >/dev/null 2>&1; then
        want=$(cut -d ' ' -f 2 "$OUT/ed25519_public" 2>/dev/null)
        got=$(dropbearkey -y -f "$HOSTKEY.new" 2>/dev/null | sed -n 's/^ssh-ed25519 \([^ ]*\).*/\1/p')
        if [ -n "$want" ] && [ "$want" != "$got" ]; then
            echo "vmctl-guest: warning ed25519_public does not match ed25519_private"
        fi
    else
        echo "vmctl-guest: warning cannot convert the seed's ed25519 host key"
        rm -f "$HOSTKEY.new"
    fi
fi
[ -s "$HOSTKEY.new" ] || dropbearkey -t ed25519 -f "$HOSTKEY.new" >/dev/null 2>&1
chmod 600 "$HOSTKEY.new"
mv -f "$HOSTKEY.new" "$HOSTKEY"
rm -rf "$OUT"

echo "$iid" >"$STATE/instance-id.new"
mv -f "$STATE/instance-id.new" "$STATE/instance-id"
sync
