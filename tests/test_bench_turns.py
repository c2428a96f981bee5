"""The benchmark's workers taking their measurements in turns (fastmlp/bench/turns.py): real
processes sharing a rotation, in the order they must keep; the coordinator stopping the others
when one fails."""
import os
import subprocess
import sys

import pytest

from fastmlp.bench import turns
from fastmlp.bench.cli import run_together

pytestmark = pytest.mark.skipif(not turns.supported(), reason="turns need POSIX file locks")

WORKER = """
import sys, time
from pathlib import Path
from fastmlp.bench.turns import Turns
state, index, count, delay, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
settled = []
rotation = Turns(Path(state), index, settle=lambda: settled.append(1))
time.sleep(delay)
with open(log, "a") as f:
    f.write(f"ready {index} {time.time()}\\n")
rotation.ready()
try:
    for k in range(count):
        with rotation.turn():
            with open(log, "a") as f:
                f.write(f"turn {index} {time.time()} {len(settled)}\\n")
            time.sleep(0.01)
finally:
    rotation.finish()
"""


def rotate(tmp_path, counts, delays=None):
    state = turns.create(tmp_path, len(counts))
    log = tmp_path / "log.txt"
    # started outside the source tree, so that they import the installed fastmlp
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(state), str(i), str(n),
                               str((delays or {}).get(i, 0.0)), str(log)], cwd=tmp_path)
             for i, n in enumerate(counts)]
    assert [p.wait(timeout=60) for p in procs] == [0] * len(counts)
    lines = [line.split() for line in log.read_text().splitlines()]
    return ([(int(w[1]), float(w[2]), int(w[3])) for w in lines if w[0] == "turn"],
            {int(w[1]): float(w[2]) for w in lines if w[0] == "ready"})


def test_workers_take_their_turns_in_rotation_and_one_that_ends_leaves_it(tmp_path):
    taken, _ = rotate(tmp_path, [4, 4, 2])
    assert [i for i, _, _ in taken] == [0, 1, 2, 0, 1, 2, 0, 1, 0, 1]
    # each worker settled once a turn, before its block
    for index in range(3):
        assert [s for i, _, s in taken if i == index] == list(range(1, [4, 4, 2][index] + 1))


def test_no_turn_is_handed_out_before_every_worker_is_ready(tmp_path):
    taken, ready = rotate(tmp_path, [2, 2], delays={1: 0.5})
    assert taken[0][0] == 0 and taken[0][1] >= ready[1]
    assert [i for i, _, _ in taken] == [0, 1, 0, 1]


def test_run_together_stops_the_others_when_one_fails(tmp_path):
    # the other worker would write its mark after 60 s: stopped, it never does
    mark = tmp_path / "finished"
    sleeper = f"import time, pathlib; time.sleep(60); pathlib.Path({str(mark)!r}).write_text('x')"
    code = run_together([[sys.executable, "-c", sleeper],
                         [sys.executable, "-c", "import sys; sys.exit(3)"]], dict(os.environ))
    assert code == 3
    assert not mark.exists()


def test_run_together_waits_for_all():
    code = run_together([[sys.executable, "-c", "import time; time.sleep(0.3)"],
                         [sys.executable, "-c", "pass"]], dict(os.environ))
    assert code == 0


def test_alone_takes_every_turn_at_once():
    alone = turns.Alone()
    alone.ready()
    with alone.turn():
        pass
    alone.finish()
