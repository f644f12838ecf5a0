"""berth: a Harbor-compatible OCI registry that runs as one process."""

__version__ = "0.1.0"
