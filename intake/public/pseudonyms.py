"""Random pseudonyms: the only name by which staff pages and logs refer to a testimony."""

from __future__ import annotations

import secrets

# Crockford's base32 without I, L, O, U: easy to read aloud and to type, no look-alikes.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_pseudonym() -> str:
    """A pseudonym like `T-7K3M-Q9XD`: 40 random bits, unrelated to anything submitted."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"T-{raw[:4]}-{raw[4:]}"


_TYPED = str.maketrans("۰۱۲۳۴۵۶۷۸۹OIL", "0123456789011")


def normalise(typed: str) -> str:
    """A pseudonym as a person types it, in the form it is stored: `t-7k3m-q9xd`, with
    spaces around it, Persian digits, or O, I and L for 0, 1 and 1 (Crockford's reading),
    is `T-7K3M-Q9XD`."""
    text = typed.strip().upper()
    if text.startswith("T-"):
        return "T-" + text[2:].translate(_TYPED)
    return text.translate(_TYPED)


def new_storage_id() -> str:
    """The random folder name of a testimony in the store, unrelated to its pseudonym."""
    return secrets.token_hex(16)
