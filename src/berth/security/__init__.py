"""Security primitives below the services: password hashing and rules, the secret box and token keys,
Harbor's roles and permission tables. Pure, and importing nothing of berth (docs/architecture.md)."""
