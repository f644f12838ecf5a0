"""The OCI distribution-spec front at /v2 (also Docker's registry API v2)."""
