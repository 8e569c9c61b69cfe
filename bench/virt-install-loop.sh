#!/bin/bash
# The hand-written baseline of bench/stacks.py: the same VMs `vmctl up` makes, from the
# same base image, the way an admin would script it with virt-install and a shell loop.
#
#   virt-install-loop.sh DIR BASE KERNEL INITRD CMDLINE NAME:PORT...
#
# For each VM: a qcow2 overlay on BASE (qemu-img create -b), a NoCloud seed (root's
# authorized key and a pinned ed25519 host key, as vmctl's seed carries), then
# `virt-install --import --noautoconsole` (direct kernel boot, 512 MiB, 1 vCPU, TCG, the
# same user-mode NIC with SSH forwarded to 127.0.0.1:PORT that vmctl gives). All are
# started first, then each is waited for until `ssh ... true` succeeds with the host key
# checked strictly (what `vmctl create --wait ssh` and `vmctl up` wait for). Bounded:
# 300 s for all. Files stay in DIR; bench/stacks.py undefines the VMs and removes DIR.
set -euo pipefail
dir=$1 base=$2 kernel=$3 initrd=$4 cmdline=$5
shift 5

ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key" <<<y >/dev/null
: >"$dir/known_hosts"
for vm in "$@"; do
    name=${vm%%:*} port=${vm##*:}
    qemu-img create -q -f qcow2 -F qcow2 -b "$base" "$dir/$name.qcow2"
    ssh-keygen -q -t ed25519 -N '' -C '' -f "$dir/$name-hostkey" <<<y >/dev/null
    echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/$name-hostkey.pub")" >>"$dir/known_hosts"
    mkdir -p "$dir/$name-seed"
    printf 'instance-id: %s\nlocal-hostname: %s\n' "$name" "$name" >"$dir/$name-seed/meta-data"
    {
        echo '#cloud-config'
        echo 'ssh_authorized_keys:'
        echo "- $(cat "$dir/client_key.pub")"
        echo 'ssh_keys:'
        echo '  ed25519_private: |'
        sed 's/^/    /' "$dir/$name-hostkey"
        echo "  ed25519_public: $(cat "$dir/$name-hostkey.pub")"
    } >"$dir/$name-seed/user-data"
    xorriso -as mkisofs -quiet -V cidata -J -r -o "$dir/$name-seed.iso" "$dir/$name-seed" 2>/dev/null
    virt-install -q --connect qemu:///system --name "$name" --import --noautoconsole \
        --virt-type qemu --osinfo generic --memory 512 --vcpus 1 --graphics none --controller usb,model=none \
        --disk "path=$dir/$name.qcow2,format=qcow2,bus=virtio" \
        --disk "path=$dir/$name-seed.iso,device=cdrom" \
        --boot "kernel=$kernel,initrd=$initrd,kernel_args=$cmdline" \
        --network none \
        --qemu-commandline="-netdev user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22 -device virtio-net-pci,netdev=n0,bus=pci.0,addr=0x10"
done

deadline=$((SECONDS + 300))
for vm in "$@"; do
    port=${vm##*:}
    until ssh -q -F none -i "$dir/client_key" -p "$port" -o IdentitiesOnly=yes -o BatchMode=yes \
        -o UserKnownHostsFile="$dir/known_hosts" -o GlobalKnownHostsFile=/dev/null \
        -o StrictHostKeyChecking=yes -o ConnectTimeout=5 root@127.0.0.1 true </dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || { echo "no SSH from ${vm%%:*} within 300 s" >&2; exit 1; }
        sleep 0.2
    done
done
