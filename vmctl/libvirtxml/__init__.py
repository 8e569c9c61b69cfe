"""The only package that uses lxml: libvirt XML in and out (domains, pools, volumes)."""
