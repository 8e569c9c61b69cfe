#!/bin/sh
# vmctl tiny guest: busybox init "shutdown" action (poweroff, reboot, ACPI button).
PATH=/usr/sbin:/usr/bin:/sbin:/bin
for pidfile in /run/dropbear.pid /run/udhcpc.pid; do
    [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
done
killall acpid 2>/dev/null
sync
mount -o remount,ro / 2>/dev/null
sync
