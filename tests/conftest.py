"""Makes the helpers beside it importable (`import support`, `import gccprobe`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def pytest_addoption(parser):  # type: ignore[no-untyped-def]
    parser.addoption(
        "--bless",
        action="store_true",
        help="rewrite the golden specs in tests/golden/ from the current compiler",
    )
