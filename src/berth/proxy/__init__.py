"""Pull-through cache: the upstream registry client and the pure naming rules (the service is services/proxy_cache.py)."""
