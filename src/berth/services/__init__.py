"""Domain logic shared by every front (OCI, Harbor API, CLI, jobs): no HTTP, no SQL strings."""
