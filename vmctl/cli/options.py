"""Options shared by several commands."""

from __future__ import annotations

import click
import typer

from vmctl.cli.complete import complete_image, complete_template
from vmctl.cli.state import remember_json, remember_quiet

JSON = typer.Option(False, "--json", help="Print JSON for scripts (errors too).", callback=remember_json)
QUIET = typer.Option(False, "--quiet", "-q", help="Print nothing on success (the exit status tells).",
                     callback=remember_quiet)
IMAGE = typer.Option(None, "--image", "-i", help="Base image (default: the embedded guest 'tiny').",
                     autocompletion=complete_image)
TEMPLATE = typer.Option(None, "--template", "-t", help="Template name or XML path (default: by image).",
                        autocompletion=complete_template)
CPUS = typer.Option(None, "--cpus", min=1, max=256, help="Virtual CPUs (default: the template's, built-in: 1).")
MEMORY = typer.Option(None, "--memory", "-m", help="Memory, e.g. 512M or 2G (bare number: MiB; default: the "
                      "template's, built-in: 512M).")
DROP = typer.Option(False, "--drop-unusable", help="Leave out template parts a new VM cannot use (second disks, "
                    "host devices, a non-pty serial port 0), and fit parts tied to another host (pinning to "
                    "CPUs it lacks dropped, graphics on 127.0.0.1, SPICE without TLS, chardevs connecting to "
                    "an absent server dropped) instead of refusing the template.")
DISK = typer.Option(None, "--disk", help="Disk size, e.g. 4G (default: the image's size).")
ACCEL = typer.Option(None, "--accel", help="kvm or tcg (default: detected, see `vmctl host info`).")
NESTED = typer.Option(False, "--nested", help="Expose vmx/svm to the guest (KVM only).")
USER = typer.Option(None, "--user", help="Login user in the guest (default: the image's).")
TIMEOUT = typer.Option(None, "--timeout", min=1, help="Seconds to wait (default scales with the accelerator).")
LABEL_FILTER = typer.Option(None, "--label", metavar="KEY=VALUE",
                            help="Only VMs carrying this label (repeat: all of them).")
INTERNET = typer.Option(False, "--internet", help="Give the guest a route out (QEMU's user-mode NAT; the host's "
                        "loopback is 10.0.2.2 in the guest). Default: no traffic leaves the guest but SSH.")
WAIT_CHOICES = ("none", "boot", "ssh")
WAIT = typer.Option("none", "--wait", click_type=click.Choice(WAIT_CHOICES),
                    help="none: return at once; boot: until the guest finished booting (its console says so); "
                         "ssh: until SSH answers too.")
