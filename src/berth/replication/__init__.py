"""Replication: adapters that talk to other registries (and, to come, policies, filters and the executor)."""
