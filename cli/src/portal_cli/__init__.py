"""``portal``: the command-line client of Platform Portal, over its public REST API only (docs/cli.md)."""

__version__ = "0.1.0"
