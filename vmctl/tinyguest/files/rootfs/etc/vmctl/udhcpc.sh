#!/bin/sh
# vmctl tiny guest: apply a busybox udhcpc lease ($1 is the event).
case "$1" in
    deconfig)
        ip -4 addr flush dev "$interface"
        ip link set "$interface" up
        ;;
    bound|renew)
        if ! ip -4 addr show dev "$interface" | grep -q "inet $ip/${mask:-24} "; then
            ip -4 addr flush dev "$interface"
            ip addr add "$ip/${mask:-24}" ${broadcast:+broadcast "$broadcast"} dev "$interface"
        fi
        for gw in $router; do
            ip route replace default via "$gw" dev "$interface"
            break
        done
        : >/etc/resolv.conf.new
        [ -n "$domain" ] && echo "search $domain" >>/etc/resolv.conf.new
        for ns in $dns; do
            echo "nameserver $ns" >>/etc/resolv.conf.new
        done
        mv -f /etc/resolv.conf.new /etc/resolv.conf
        echo "$ip" >/run/vmctl/lease
        ;;
esac
exit 0
