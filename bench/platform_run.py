"""`make bench-platform`: the platform's scale figures (issue: correct under load and at scale).

    python -m bench.platform_run                 # the issue's sizes
    python -m bench.platform_run --quick         # smaller: 1,000 active jobs on DynamoDB, a 12-task burst

Prints one table; bench/README.md records a run and what limits each figure.
"""

from __future__ import annotations

import argparse

from bench import scale_platform, scale_store


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller sizes (a loaded 2-core machine)")
    p.add_argument("--runs", type=int, default=1, help="bursts of trivial tasks into the 3-slot pool")
    p.add_argument("--no-platform", action="store_true", help="only the in-process figures")
    a = p.parse_args(argv)
    figures = scale_store.run(quick=a.quick)
    if not a.no_platform:
        figures += scale_platform.run(runs=a.runs, size=12 if a.quick else 60, epochs=100 if a.quick else 300)
    print(f"| {'figure':<55} | {'measured':<28} | note |")
    print(f"|{'-' * 57}|{'-' * 30}|------|")
    for f in figures:
        print(f"| {f.name:<55} | {f.value:<28} | {f.note} |")


if __name__ == "__main__":
    main()
