"""A fixed number of fuzz examples (tests/fuzz/fuzz_targets.py: 3 rounds, 300 examples, the
same ones every run, however busy the machine) in a subprocess of their own, so that a crash
fails this test instead of the run."""
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent / "fuzz" / "fuzz_targets.py"


def test_fuzz_targets_find_no_crash_and_no_unexpected_error(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--rounds", "3"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "0 crashes, 0 unexpected errors" in proc.stdout
    examples = int(proc.stdout.split("fuzz: ")[1].split()[0])
    assert examples == 3 * 2 * 50
