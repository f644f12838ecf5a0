"""Signatures: cosign (tag scheme, Sigstore bundles) and Notation (JWS, COSE) parsed and verified
offline against a per-project trust policy (policy.py); key files and signing for `berth sign`."""
