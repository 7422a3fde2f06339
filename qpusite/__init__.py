"""qpusite: the command-line front of the kit. Thin: it composes the other packages."""

__version__ = "0.1.0"
