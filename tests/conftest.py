"""Make the tests folder importable (the regression helper lives here)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
