"""Random pseudonyms: the only name by which staff pages and logs refer to a testimony."""

from __future__ import annotations

import secrets

# Crockford's base32 without I, L, O, U: easy to read aloud and to type, no look-alikes.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_pseudonym() -> str:
    """A pseudonym like `T-7K3M-Q9XD`: 40 random bits, unrelated to anything submitted."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"T-{raw[:4]}-{raw[4:]}"


def new_storage_id() -> str:
    """The random folder name of a testimony in the store, unrelated to its pseudonym."""
    return secrets.token_hex(16)
