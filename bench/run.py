"""`python -m bench.run [--duration S] [--models N] [--budget-models M] [--keep]`

Generates the gRPC code if needed (the suite imports it), then runs bench.suite.
"""

from __future__ import annotations

from predictor import build_proto


def main(argv: list[str] | None = None) -> None:
    build_proto.build()
    from bench import suite  # imports predictor.generated

    suite.main(argv)


if __name__ == "__main__":
    main()
