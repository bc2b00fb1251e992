import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab"
