"""A client of the Harbor API v2.0 (berth and Harbor alike): see docs/registry-as-code.md."""
