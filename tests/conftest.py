import os
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "data" / "golden"
os.environ.setdefault("VMCTL_TEST", "1")


@pytest.fixture
def data_dir() -> Path:
    return ROOT / "tests" / "data"


@pytest.fixture
def golden() -> Callable[[str, str], None]:
    """``golden(relative_path, xml)``: compare canonicalised XML with the expected file.

    ``VMCTL_REGENERATE=1`` writes the file instead (also when it does not exist yet);
    review the diff before committing it."""
    from vmctl.libvirtxml.safe import canonical

    def check(relative: str, xml: str) -> None:
        path = GOLDEN / relative
        if os.environ.get("VMCTL_REGENERATE"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(xml)
        assert path.is_file(), f"missing golden file {path}: run with VMCTL_REGENERATE=1 to write it"
        assert canonical(xml) == canonical(path.read_text()), f"{relative} differs (VMCTL_REGENERATE=1 rewrites it)"
    return check
