"""A few seconds of the fuzz targets (tests/fuzz/fuzz_targets.py) in a subprocess of their own,
so that a crash fails this test instead of the run."""
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent / "fuzz" / "fuzz_targets.py"


def test_fuzz_targets_find_no_crash_and_no_unexpected_error(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--seconds", "4"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "0 crashes, 0 unexpected errors" in proc.stdout
    examples = int(proc.stdout.split("fuzz: ")[1].split()[0])
    assert examples >= 200
