"""lt toolkit: the library behind the `lt` command (usable without the CLI)."""

__version__ = "0.3.0"
