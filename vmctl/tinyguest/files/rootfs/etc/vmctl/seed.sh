#!/bin/sh
# vmctl tiny guest: apply a NoCloud seed (CD-ROM labelled "cidata") once per
# instance-id: hostname, root's authorized_keys, the ed25519 SSH host key and
# the users of cloud-config "users:" (created, with their authorized_keys).
# Nothing read from the seed is ever evaluated as shell code.
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

# Same rule as cloud-config.awk: ^[a-z_][a-z0-9_-]{0,31}$, never root.
valid_user() {
    case $1 in
        "" | root | [!a-z_]* | *[!a-z0-9_-]*) return 1 ;;
    esac
    [ "${#1}" -le 32 ]
}

# Append one line to a passwd-style file atomically (copy, append, rename).
append_line() {
    rm -f "$1.vmctl-new"
    cp -p "$1" "$1.vmctl-new" || return 1
    [ -z "$(tail -c 1 "$1.vmctl-new")" ] || echo >>"$1.vmctl-new"
    printf '%s\n' "$2" >>"$1.vmctl-new" && mv -f "$1.vmctl-new" "$1"
}

# This busybox has no adduser/addgroup applets: add NAME to /etc/group,
# /etc/shadow and /etc/passwd like "adduser -D -s SHELL -h /home/NAME NAME"
# would (uid = gid = the first number from 1000 that neither file uses) and
# make its home. The password is "*": no password login, but not locked ("!"),
# which some dropbear builds refuse even for public key authentication.
create_user() {
    n=1000
    while cut -d : -f 3 /etc/passwd /etc/group | grep -qx "$n"; do
        n=$((n + 1))
        [ "$n" -lt 60000 ] || return 1
    done
    days=$(($(date +%s) / 86400))
    append_line /etc/group "$1:x:$n:" &&
        append_line /etc/shadow "$1:*:$days:0:99999:7:::" &&
        append_line /etc/passwd "$1:x:$n:$n:$1:/home/$1:$2" || return 1
    mkdir -p /home
    chmod 755 /home
    [ -d "/home/$1" ] || mkdir -m 755 "/home/$1" || return 1
    chown "$n:$n" "/home/$1"
}

# A locked or empty password ("!", "!!", "") becomes "*"; a real hash is kept.
unlock_user() {
    rm -f /etc/shadow.vmctl-new
    (umask 077 && awk -F : -v OFS=: -v n="$1" \
        '$1 == n && ($2 == "" || $2 == "!" || $2 == "!!") { $2 = "*" } { print }' \
        /etc/shadow >/etc/shadow.vmctl-new) &&
        mv -f /etc/shadow.vmctl-new /etc/shadow
}

# Install OUT/user.NAME.authorized_keys as ~NAME/.ssh/authorized_keys.
install_user_keys() {
    name=$1 uid=$2 gid=$3 home=$4
    # No user process runs yet; still, never write through links the user made.
    if [ -L "$home/.ssh" ] || { [ -e "$home/.ssh" ] && [ ! -d "$home/.ssh" ]; }; then
        rm -f "$home/.ssh"
    fi
    mkdir -p "$home/.ssh"
    chown "$uid:$gid" "$home/.ssh"
    chmod 700 "$home/.ssh"
    rm -f "$home/.ssh/authorized_keys.new"
    cp "$OUT/user.$name.authorized_keys" "$home/.ssh/authorized_keys.new" || return 1
    chown "$uid:$gid" "$home/.ssh/authorized_keys.new"
    chmod 600 "$home/.ssh/authorized_keys.new"
    mv -f "$home/.ssh/authorized_keys.new" "$home/.ssh/authorized_keys"
}

# The users listed in OUT/users by cloud-config.awk: create the missing ones,
# unlock them for key login and install their keys. An existing account is
# only changed if it looks like one made here (uid >= 1000, home /home/NAME).
apply_users() {
    [ -s "$OUT/users" ] || return 0
    while read -r name; do
        if ! valid_user "$name"; then
            echo "vmctl-guest: warning skipping an invalid user name"
            continue
        fi
        shell=/bin/sh
        if [ -s "$OUT/user.$name.shell" ]; then
            want=$(head -n 1 "$OUT/user.$name.shell")
            case $want in
                /*) grep -qxF -e "$want" /etc/shells && shell=$want ;;
            esac
            [ "$shell" = "$want" ] ||
                echo "vmctl-guest: warning the shell of user $name is not in /etc/shells: using /bin/sh"
        fi
        if ! grep -q "^$name:" /etc/passwd; then
            if grep -q "^$name:" /etc/group; then
                echo "vmctl-guest: warning group $name exists: user $name not created"
                continue
            fi
            if ! create_user "$name" "$shell"; then
                echo "vmctl-guest: warning cannot create user $name"
                continue
            fi
        fi
        entry=$(grep "^$name:" /etc/passwd | head -n 1)
        uid=$(echo "$entry" | cut -d : -f 3)
        gid=$(echo "$entry" | cut -d : -f 4)
        home=$(echo "$entry" | cut -d : -f 6)
        case $uid in
            "" | *[!0-9]*) uid=0 ;;
        esac
        if [ "$uid" -lt 1000 ] || [ "$home" != "/home/$name" ]; then
            echo "vmctl-guest: warning user $name is a system account: not changed"
            continue
        fi
        unlock_user "$name" || echo "vmctl-guest: warning cannot unlock user $name"
        [ -d "$home" ] || { mkdir -p "$home" && chown "$uid:$gid" "$home"; }
        chmod go-w "$home"
        if [ -s "$OUT/user.$name.authorized_keys" ]; then
            install_user_keys "$name" "$uid" "$gid" "$home" ||
                echo "vmctl-guest: warning cannot install the keys of user $name"
        fi
    done <"$OUT/users"
}

dev=$(findfs LABEL=cidata 2>/dev/null)
[ -n "$dev" ] || { [ -b /dev/sr0 ] && dev=/dev/sr0; }
[ -n "$dev" ] || exit 0
mkdir -p "$MNT"
mount -t iso9660 -o ro "$dev" "$MNT" 2>/dev/null || exit 0

iid=$(yaml_value instance-id "$MNT/meta-data")
last=$(cat "$STATE/instance-id" 2>/dev/null)
# Same instance-id: nothing is applied again. In particular a later seed
# without ssh_keys (a "secret-free" re-seed that keeps the instance-id) keeps
# the host key already on disk, and root's keys and the users stay as they are.
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

apply_users </dev/null

# A new instance gets the injected host key, or else a freshly generated one.
# This runs only for a new instance-id (see above): re-seeding with the same
# instance-id and no ssh_keys never replaces the key on disk.
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
