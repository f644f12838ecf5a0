"""Passwords and secrets: Harbor's rules, argon2id hashes at rest, constant-time checks."""

from __future__ import annotations

import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: Harbor's wording, so scripts that match on it keep working
PASSWORD_RULES = (
    "the password or secret must be 8-128, inclusively, characters long with at least "
    "1 uppercase letter, 1 lowercase letter and 1 number"
)
#: characters Harbor refuses in user names and real names
ILLEGAL_NAME_CHARS = ',"~#%$'

# argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane). The library's default
# (RFC 9106's low-memory profile: 64 MiB, 3 passes, 4 lanes) made every check allocate 64 MiB: a
# burst of logins (or of wrong passwords) multiplied the process's memory, and the check at
# import put a 64 MiB spike into every start. Hashes made with other parameters still verify
# and are remade with these at the next login (needs_rehash).
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# a real hash of a random password: verifying against it costs what a real check costs, so an
# unknown user name cannot be told from a wrong password by timing
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def password_problem(password: str) -> str | None:
    """Why `password` breaks Harbor's rules, or None when it follows them."""
    ok = (
        8 <= len(password) <= 128
        and any(c.islower() and c.isascii() for c in password)
        and any(c.isupper() and c.isascii() for c in password)
        and any(c.isdigit() and c.isascii() for c in password)
    )
    return None if ok else PASSWORD_RULES


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; argon2 compares in constant time. A missing hash costs the same."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with other parameters than today's (rehash at next login)."""
    return _hasher.check_needs_rehash(stored_hash)


def generate_secret(length: int = 32) -> str:
    """A random secret that satisfies Harbor's rules (robot secrets, generated admin passwords)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if password_problem(candidate) is None:
            return candidate


def name_problem(name: str, what: str = "username") -> str | None:
    """Harbor's check for user and real names: 1-255 characters, none of ,"~#%$."""
    if not 1 <= len(name) <= 255:
        return f"{what} with illegal length"
    if any(c in ILLEGAL_NAME_CHARS for c in name):
        return f"{what} contains illegal characters"
    return None
