"""Shared types, key names, interfaces, the real-time runtime and the `robot` CLI.

Nothing in `robot/` (except the CLI) imports another project package.
"""

__version__ = "0.1.0"
