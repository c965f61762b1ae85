"""One core per run: CPU time over wall time of the default run, and its wall time with a
second run beside it against its time alone.

    python benchmarks/bench_threads.py [SCENARIO]

Threads are not pinned in the environment: the loop must hold itself to one (threadpoolctl).
On a 2-core machine a run that takes one core is slowed little by a second one beside it.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def start(scenario: str, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "optimiser", "run", scenario, "--out",
                             str(out), "-q", "--allow-unconverged"])  # fmt: skip


def main() -> None:
    scenario = sys.argv[1] if len(sys.argv) > 1 else "korea-2020"
    root = Path(tempfile.mkdtemp(prefix="bench-threads-"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    if start(scenario, root / "alone").wait() != 0:
        sys.exit("the run failed")
    alone = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    t0 = time.perf_counter()
    pair = [start(scenario, root / f"beside-{i}") for i in range(2)]
    ends = []
    for p in pair:
        if p.wait() != 0:
            sys.exit("a run beside another failed")
        ends.append(time.perf_counter() - t0)
    print(f"{scenario}: alone {alone:.1f} s wall, {cpu:.1f} s CPU (CPU / wall {cpu / alone:.2f})")
    print(f"two side by side: {ends[0]:.1f} s and {ends[1]:.1f} s "
          f"(slowest / alone {max(ends) / alone:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
