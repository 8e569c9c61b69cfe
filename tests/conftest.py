import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("VMCTL_TEST", "1")


@pytest.fixture
def data_dir() -> Path:
    return ROOT / "tests" / "data"
