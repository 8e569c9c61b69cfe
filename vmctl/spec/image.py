"""A base image as vmctl describes it: where its disk (and kernel) lives, how it boots."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vmctl.spec.volumes import image_volume

CLOUD_INIT_MARKER = r"Cloud-init v\. \S+ finished at"
TINY = "tiny"  # the embedded default guest


@dataclass(frozen=True)
class Image:
    name: str
    format: str
    path: str
    virtual_size: int
    boot: str = "disk"  # "disk" or "direct"
    kernel: str = ""
    initrd: str = ""
    cmdline: str = ""
    default_user: str = ""
    boot_marker: str = CLOUD_INIT_MARKER
    source: str = ""
    recipe_id: str = ""
    created: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, fields: dict[str, object]) -> "Image":
        """From a stored description; fields of newer or older vmctl versions are ignored."""
        return cls(**{k: v for k, v in fields.items() if k in cls.__dataclass_fields__})  # type: ignore[arg-type]


def placeholder_image(name: str, pool_path: str, *, direct: bool) -> Image:
    """An image description for previews when the real image is not built yet."""
    def path(suffix: str) -> str:
        return f"{pool_path}/{image_volume(name, suffix)}"
    if direct:
        return Image(name=name, format="qcow2", path=path("qcow2"), virtual_size=0, boot="direct",
                     kernel=path("vmlinuz"), initrd=path("initrd"), cmdline="console=ttyS0 root=/dev/vda rw",
                     default_user="root")
    return Image(name=name, format="qcow2", path=path("qcow2"), virtual_size=0)
