"""The `trainyard` command line (`trainyard = "sdk.cli:main"`): one module per command group."""

from sdk.cli.app import main, make_app

__all__ = ["main", "make_app"]
