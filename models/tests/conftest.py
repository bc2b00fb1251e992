import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The NAB traces the repository ships (data/nab/SOURCES.md).
NAB = Path(__file__).resolve().parents[2] / "data" / "nab"
