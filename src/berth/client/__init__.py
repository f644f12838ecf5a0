"""A client of the Harbor API v2.0 (berth and Harbor alike): see docs/registry-as-code.md."""

from berth.client.core import HarborClient, HarborError, created_id, next_link

__all__ = ["HarborClient", "HarborError", "created_id", "next_link"]
