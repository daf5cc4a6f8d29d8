"""A key row whose stored `scopes` is not a list of known scope names grants nothing: the key
lookup refuses it (401, logged with the key's prefix, never the raw key), and the model refuses
to save such a value (issue 12, finding 8)."""

import json
import logging

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from rest_framework.test import APIClient

from apikeys.models import APIKey
from tests.urls import api_url

MALFORMED = [
    "*",  # a string: iterating it once granted everything
    None,  # JSON null: made every request a 500
    "campaigns:all",
    {"*": True},
    [["*"]],
    [None],
    [1],
    ["*", "admin:all"],
    42,
]


def store_raw(key: APIKey, value: object) -> None:
    """Write `value` as the stored JSON around the model, as a bad script or migration might."""
    table = connection.ops.quote_name(APIKey._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET scopes = %s WHERE prefix = %s",
            [json.dumps(value), key.prefix],
        )


def client_for(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("value", MALFORMED, ids=repr)
def test_a_malformed_stored_value_is_refused_by_the_key_lookup(make_key, value, caplog):
    key, raw = make_key(["*"])
    store_raw(key, value)
    client = client_for(raw)
    with caplog.at_level(logging.INFO):
        for path in ("me", "campaigns", "leads"):
            response = client.get(api_url(path))
            assert response.status_code == 401, (path, response.content)
            assert response.json() == {"detail": "Invalid or revoked API key"}
            assert response["WWW-Authenticate"] == "ApiKey"
        response = client.post(api_url("campaigns"), {"name": "x"}, format="json")
        assert response.status_code == 401
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"API key {key.prefix} refused: malformed stored scopes" in logged
    assert raw not in logged


@pytest.mark.django_db
def test_a_malformed_value_written_with_queryset_update_is_refused(make_key):
    key, raw = make_key(["campaigns:read"])
    APIKey.objects.filter(pk=key.pk).update(scopes="*")
    assert client_for(raw).get(api_url("campaigns")).status_code == 401


@pytest.mark.django_db
def test_a_well_formed_stored_value_still_works(make_key):
    key, raw = make_key(["*"])
    store_raw(key, ["campaigns:read", "leads:all"])
    client = client_for(raw)
    assert client.get(api_url("me")).json()["scopes"] == ["campaigns:read", "leads:all"]
    assert client.get(api_url("campaigns")).status_code == 200
    assert client.post(api_url("campaigns"), {"name": "x"}, format="json").status_code == 403


@pytest.mark.django_db
def test_malformed_used_scopes_do_not_break_requests(make_key):
    key, raw = make_key(["*"])
    APIKey.objects.filter(pk=key.pk).update(used_scopes="campaigns:read")
    assert client_for(raw).get(api_url("campaigns")).status_code == 200
    key.refresh_from_db()
    assert key.used_scopes == ["campaigns:read"]


@pytest.mark.django_db
@pytest.mark.parametrize("value", MALFORMED, ids=repr)
def test_the_model_refuses_to_save_a_malformed_value(make_key, value):
    key, _ = make_key(["*"])
    key.scopes = value
    with pytest.raises(ValidationError) as refused:
        key.full_clean()
    assert "scopes" in refused.value.message_dict
    with pytest.raises(ValidationError):
        key.save()
    key.refresh_from_db()
    assert key.scopes == ["*"]


@pytest.mark.django_db
def test_a_new_key_with_a_malformed_value_is_not_created(workspace):
    with pytest.raises(ValidationError):
        APIKey(workspace=workspace, name="bad", scopes="*").save()
    assert not APIKey.objects.exists()
