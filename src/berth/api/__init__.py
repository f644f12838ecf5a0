"""The Harbor REST API front at /api/v2.0 (FastAPI routers, one module per swagger tag)."""
