"""How long ``python -c "import pymmap"`` takes, against ``python -c "import mmap"``.

    python benchmarks/import_time.py            # 40 runs of each, alternating
    python benchmarks/import_time.py --runs 100

Whole processes, as a user starts them: the interpreter's own start-up is in
both numbers (it is also printed alone, as ``python -c pass``).  The best of
the runs is kept for each, and the ratio is pymmap's over the stdlib's
(issue 28's target: at most 2.0).  pymmap is imported from this checkout.
"""

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def best_of(code, runs, env):
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=ROOT)
    times = {code: float("inf") for code in ("pass", "import mmap", "import pymmap")}
    for _ in range(args.runs // 5):  # (alternating, five at a time)
        for code in times:
            times[code] = min(times[code], best_of(code, 5, env))
    print(f"import time -- {sys.implementation.name} {sys.version.split()[0]}, best of {args.runs} processes each")
    for code, seconds in times.items():
        print(f"  python -c {code!r:18s} {seconds * 1000:7.1f} ms")
    print(f"  ratio pymmap / mmap: {times['import pymmap'] / times['import mmap']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
