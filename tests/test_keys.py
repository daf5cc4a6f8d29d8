"""Key format (API.md §1): `cs_live_` + 34 random base62 + 6-char base62 CRC32 checksum,
and only a hash of the secret is stored."""

import hashlib
import re
import zlib

import pytest
from django.apps import apps
from django.db import connection
from rest_framework.test import APIClient

from apikeys import keys
from apikeys.models import APIKey
from tests.urls import api_url

# digits, then lower case, then upper case (the order of string.digits + string.ascii_letters)
ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
KEY_RE = re.compile(r"^cs_live_[0-9A-Za-z]{40}$")


def to_base62(number: int, width: int) -> str:
    """Independent of apikeys.keys: most significant digit first, zero-padded."""
    out = ""
    while number > 0:
        number, digit = divmod(number, 62)
        out = ALPHABET[digit] + out
    return out.rjust(width, ALPHABET[0])


def expected_checksum(random_part: str) -> str:
    return to_base62(zlib.crc32(random_part.encode()), 6)


def with_valid_checksum(random_part: str) -> str:
    return f"cs_live_{random_part}{expected_checksum(random_part)}"


def test_own_base62_helper_is_sane():
    assert to_base62(0, 6) == "000000"
    assert to_base62(10, 1) == "a"
    assert to_base62(36, 1) == "A"
    assert to_base62(61, 2) == "0Z"
    assert to_base62(62, 2) == "10"
    assert to_base62(2**32 - 1, 6) == "4GFfc3"  # crc32 fits in 6 base62 digits (62**6 > 2**32)


@pytest.mark.parametrize("_", range(50))
def test_generated_key_format_and_checksum(_):
    raw = keys.generate_key()
    assert KEY_RE.match(raw), raw
    assert len(raw) == len("cs_live_") + 40
    body = raw.removeprefix("cs_live_")
    random_part, check = body[:34], body[34:]
    assert len(random_part) == 34
    assert check == expected_checksum(random_part)


def test_generated_keys_are_unique_and_random():
    generated = [keys.generate_key() for _ in range(2000)]
    assert len(set(generated)) == len(generated)
    assert len({k[8:16] for k in generated}) == len(generated)  # lookup prefixes differ too
    # every base62 character shows up somewhere in the random parts (not a reduced alphabet)
    assert set("".join(k[8:42] for k in generated)) == set(ALPHABET)


def test_is_well_formed_accepts_generated_and_independently_built_keys():
    for _ in range(100):
        assert keys.is_well_formed(keys.generate_key())
    assert keys.is_well_formed(with_valid_checksum("A" * 34))
    assert keys.is_well_formed(with_valid_checksum("0" * 34))
    assert keys.is_well_formed(with_valid_checksum("z9" * 17))


def _flip(char: str) -> str:
    return "b" if char == "a" else "a"


def malformed_keys() -> list[tuple[str, str]]:
    good = with_valid_checksum("Ab3" * 11 + "x")
    body = good.removeprefix("cs_live_")
    random_part, check = body[:34], body[34:]
    return [
        ("empty", ""),
        ("prefix only", "cs_live_"),
        ("wrong prefix test", "cs_test_" + body),
        ("wrong prefix case", "CS_LIVE_" + body),
        ("no prefix", body),
        ("one char short", good[:-1]),
        ("one char long", good + "a"),
        ("random part short", with_valid_checksum(random_part[:-1])),
        ("random part long", with_valid_checksum(random_part + "a")),
        ("dash in random part", "cs_live_" + "-" + random_part[1:] + check),
        ("underscore in random part", "cs_live_" + "_" + random_part[1:] + check),
        ("non-ascii letter", "cs_live_" + "é" + random_part[1:] + check),
        ("space inside", "cs_live_" + random_part[:10] + " " + random_part[11:] + check),
        ("bad checksum last char", good[:-1] + _flip(good[-1])),
        ("bad checksum first char", good[:-6] + _flip(good[-6]) + good[-5:]),
        ("random part altered", "cs_live_" + _flip(random_part[0]) + random_part[1:] + check),
        ("checksum lowercase of valid", "cs_live_" + random_part + check.swapcase()),
    ]


@pytest.mark.parametrize(("case", "raw"), malformed_keys(), ids=[c for c, _ in malformed_keys()])
def test_is_well_formed_refuses(case, raw):
    if case == "checksum lowercase of valid" and raw.endswith(expected_checksum(raw[8:42])):
        pytest.fail("test data error: swapcase produced the same checksum")
    assert keys.is_well_formed(raw) is False


def test_lookup_prefix_and_hash():
    raw = keys.generate_key()
    assert keys.lookup_prefix(raw) == raw[:16]
    assert keys.hash_key(raw) == hashlib.sha256(raw.encode()).hexdigest()


def _all_text_in_database() -> str:
    """Every value of every row of every table, as text (raw SQL, no model in between)."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview | bytes):
                        value = bytes(value).decode("latin-1")
                    chunks.append(str(value))
    return "\n".join(chunks)


def test_raw_key_is_not_stored_only_its_sha256(workspace):
    key, raw = APIKey.objects.create_key(
        workspace=workspace, name="storage probe", scopes=["campaigns:read", "leads:all"]
    )
    random_part = raw[8:42]
    secret_tail = raw[16:]  # everything after the displayable lookup prefix
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    assert client.get(api_url("me")).status_code == 200  # usage is written too

    row = APIKey.objects.get(pk=key.pk)
    assert row.last_used_at is not None
    assert row.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert row.prefix == raw[:16]
    for field in APIKey._meta.concrete_fields:
        value = str(field.value_from_object(row))
        assert raw not in value, field.name
        assert random_part not in value, field.name
        assert secret_tail not in value, field.name

    for model in apps.get_models():
        if not model._meta.managed:  # e.g. django_rq's dashboard: no table behind it
            continue
        for obj in model._default_manager.all():
            for field in model._meta.concrete_fields:
                value = str(field.value_from_object(obj))
                assert raw not in value, (model, field.name)
                assert random_part not in value, (model, field.name)

    dump = _all_text_in_database()
    assert row.key_hash in dump  # the dump really contains the api key row
    assert raw not in dump
    assert random_part not in dump
    assert secret_tail not in dump
