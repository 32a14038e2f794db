"""Makes the helpers beside it importable (`import support`, `import gccprobe`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
