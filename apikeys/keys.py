"""Key format: `cs_live_` + 34 random base62 characters + a 6-character base62 CRC32
checksum of the random part (like GitHub's tokens), so a malformed key is refused
without touching the database and secret scanners can recognise a leaked one."""

import hashlib
import secrets
import string
import zlib

KEY_PREFIX = "cs_live_"
RANDOM_LENGTH = 34  # 34 * log2(62) ≈ 202 bits
CHECKSUM_LENGTH = 6
LOOKUP_LENGTH = 8  # random characters kept in clear, indexed, to find the row
KEY_LENGTH = len(KEY_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH

BASE62 = string.digits + string.ascii_letters
_BASE62_SET = frozenset(BASE62)


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rem = divmod(number, 62)
        digits.append(BASE62[rem])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode("ascii")), CHECKSUM_LENGTH)


def generate_key() -> str:
    random_part = "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    return f"{KEY_PREFIX}{random_part}{checksum(random_part)}"


def is_well_formed(raw: str) -> bool:
    """Shape and checksum only; needs no database."""
    if len(raw) != KEY_LENGTH or not raw.startswith(KEY_PREFIX):
        return False
    body = raw[len(KEY_PREFIX) :]
    if not _BASE62_SET.issuperset(body):
        return False
    random_part, check = body[:RANDOM_LENGTH], body[RANDOM_LENGTH:]
    return secrets.compare_digest(checksum(random_part), check)


def lookup_prefix(raw: str) -> str:
    """The displayable, indexed part of a key: `cs_live_` + its first 8 random characters."""
    return raw[: len(KEY_PREFIX) + LOOKUP_LENGTH]


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("ascii")).hexdigest()
