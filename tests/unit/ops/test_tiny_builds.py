"""Which images are builds of tiny/tinydisk (ops/tiny.py): by recorded recipe id, not by name."""

from dataclasses import replace

from vmctl.errors import NotFound
from vmctl.ops import tiny, tinydisk
from vmctl.spec.image import Image

OLD, NEW, DISK = "aaaaaaaa11111111", "bbbbbbbb22222222", "cccccccc33333333"


class FakeStore:
    """The part of ImageStore the build logic reads and removes through."""

    def __init__(self, *images: Image) -> None:
        self.images = {i.name: i for i in images}
        self.removed: list[str] = []

    def names(self):
        return sorted(self.images)

    def exists(self, name):
        return name in self.images

    def get(self, name):
        if name not in self.images:
            raise NotFound(f"no image named {name!r}")
        return self.images[name]

    def users(self, image, domains):
        return [d for d in domains if d == image.name]

    def remove(self, name, domains):
        self.removed.append(name)
        del self.images[name]


def image(name, recipe=""):
    return Image(name=name, format="qcow2", path=f"/pool/{name}.base.qcow2", virtual_size=1, recipe_id=recipe)


def store():
    current = image(f"tiny-{NEW[:8]}", NEW)
    return FakeStore(replace(current, name="tiny"), current, image(f"tiny-{OLD[:8]}", OLD),
                     image("tiny-debian"),                 # a user's image
                     image(f"tiny-{DISK[:8]}"),            # named like a build, but no recipe recorded
                     image("tiny-cafebabe", OLD),          # a recipe that is not its name's
                     image(f"tinydisk-{DISK[:8]}", DISK), image("tinydisk", DISK))


def test_builds_are_those_whose_description_records_their_recipe():
    s = store()
    assert tiny.builds_of(s, "tiny") == sorted([f"tiny-{NEW[:8]}", f"tiny-{OLD[:8]}"])
    assert tiny.builds_of(s, "tinydisk") == [f"tinydisk-{DISK[:8]}"]
    assert tiny.retired_builds(s) == [f"tiny-{OLD[:8]}"]
    assert tiny.retired_builds(s, "tinydisk") == []


def test_pruning_removes_retired_unused_builds_only():
    s = store()
    assert tiny.remove_unused_builds(s, []) == [f"tiny-{OLD[:8]}"]
    assert "tiny-debian" in s.images and "tiny-cafebabe" in s.images and f"tiny-{DISK[:8]}" in s.images


def test_a_used_retired_build_stays():
    s = store()
    assert tiny.unused_builds(s, [f"tiny-{OLD[:8]}"]) == []


def test_without_a_current_tiny_every_recognised_build_is_retired():
    s = FakeStore(image(f"tiny-{OLD[:8]}", OLD), image("tiny-debian"))
    assert tiny.retired_builds(s) == [f"tiny-{OLD[:8]}"]


def test_tinydisk_prunes_its_own_builds_by_recipe():
    old = image(f"tinydisk-{OLD[:8]}", OLD)
    s = FakeStore(old, image("tinydisk-mine"), image(f"tinydisk-{DISK[:8]}", DISK), image("tinydisk", DISK))
    assert tinydisk.unused_builds(s, []) == [f"tinydisk-{OLD[:8]}"]
