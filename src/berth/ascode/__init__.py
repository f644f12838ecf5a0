"""Registry as code: the registry.yaml model, plan/apply/export, the linter and the compliance report (clients of the API)."""
