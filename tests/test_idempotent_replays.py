"""A retry with an Idempotency-Key is a request like any other: the key's checks come first.
It counts against the rate limit (429, with the usual headers) and is refused with the exact
403 body when the key no longer holds the operation's scope (API.md §3)."""

from django.test import override_settings

from apikeys.models import APIKey
from campaigns.models import Campaign
from tests.urls import api_url

BODY = {"name": "Spring outreach"}


def create(client, key: str = "retry-1", body: dict = BODY):
    return client.post(api_url("campaigns"), body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@override_settings(RATE_LIMITS={"default": "2/minute", "import": "30/minute"})
def test_replays_count_against_the_rate_limit(make_client):
    client = make_client(["*"])
    first = create(client)
    assert first.status_code == 201
    replay = create(client)
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert (replay["X-RateLimit-Limit"], replay["X-RateLimit-Remaining"]) == ("2", "0")
    refused = create(client)
    assert refused.status_code == 429
    retry_after = int(refused["Retry-After"])
    assert refused.json() == {"detail": f"Rate limit exceeded. Retry after {retry_after} seconds."}
    assert "Idempotent-Replayed" not in refused
    assert refused["X-RateLimit-Remaining"] == "0"
    assert Campaign.objects.count() == 1


@override_settings(RATE_LIMITS={"default": "1/minute", "import": "30/minute"})
def test_a_reused_key_and_an_in_progress_retry_are_rate_limited_too(make_client):
    client = make_client(["*"])
    assert create(client).status_code == 201
    assert create(client, body={"name": "Other"}).status_code == 429  # not the 422


def test_a_replay_is_refused_when_the_key_lost_the_scope(make_key, client):
    key, raw = make_key(["campaigns:create", "campaigns:read"])
    client.credentials = None
    headers = {"HTTP_X_API_KEY": raw, "HTTP_IDEMPOTENCY_KEY": "retry-2"}
    first = client.post(api_url("campaigns"), BODY, content_type="application/json", **headers)
    assert first.status_code == 201
    APIKey.objects.filter(pk=key.pk).update(scopes=["campaigns:read"])
    replay = client.post(api_url("campaigns"), BODY, content_type="application/json", **headers)
    assert replay.status_code == 403
    assert replay.json() == {
        "detail": "Missing required scopes: campaigns:create",
        "required": ["campaigns:create"],
        "granted": ["campaigns:read"],
    }
    assert "Idempotent-Replayed" not in replay
    # another body under the same key: the scope still comes first (403, not 422)
    other = client.post(
        api_url("campaigns"), {"name": "Other"}, content_type="application/json", **headers
    )
    assert other.status_code == 403
    # the scope given back, the kept answer is replayed again: the refusal stored nothing
    APIKey.objects.filter(pk=key.pk).update(scopes=["campaigns:create"])
    again = client.post(api_url("campaigns"), BODY, content_type="application/json", **headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert Campaign.objects.count() == 1


def test_a_replay_to_a_revoked_key_is_401(make_key, client):
    key, raw = make_key(["*"])
    headers = {"HTTP_X_API_KEY": raw, "HTTP_IDEMPOTENCY_KEY": "retry-3"}
    assert client.post(api_url("campaigns"), BODY, content_type="application/json",
                       **headers).status_code == 201  # fmt: skip
    key.revoke()
    replay = client.post(api_url("campaigns"), BODY, content_type="application/json", **headers)
    assert replay.status_code == 401
    assert replay.json() == {"detail": "Invalid or revoked API key"}


def test_every_post_route_answers_retries_after_its_checks():
    """Table-driven from the routes: a new POST route cannot skip the replay hook (without it
    the middleware would answer a retry before the key's checks, as it once did)."""
    from rest_framework.schemas.generators import EndpointEnumerator

    from coldsend.api.idempotency import IdempotentReplay
    from coldsend.api.throttling import APIKeyRateThrottle

    posts = [
        (path, callback.cls)
        for path, method, callback in EndpointEnumerator().get_api_endpoints()
        if method == "POST" and path.startswith("/api/public/v1/")
    ]
    assert len(posts) >= 6
    for path, view in posts:
        throttles = list(view.throttle_classes)
        assert throttles[-2:] == [APIKeyRateThrottle, IdempotentReplay], path
