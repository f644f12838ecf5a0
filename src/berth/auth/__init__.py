"""Authentication and authorization: RBAC decisions (token service, providers and robots to come)."""
