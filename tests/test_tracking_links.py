"""Open pixel and click links (API.md §8): messages of a campaign tracking opens go out as text
+ HTML with the pixel, tracked links are rewritten; the public links record OPENED / CLICKED
once per 10 seconds, and a forged, altered or borrowed token is a 404 that records nothing."""

from datetime import timedelta

import pytest

from delivery.tokens import sign
from tests.tracking_support import lead_of, links_in, parts, send_campaign, stats_of

pytestmark = pytest.mark.usefixtures("delivery_settings")

BODY = (
    "Hi {{first_name}},\nsee https://shop.example.com/pricing?a=1&b=2 and "
    "https://docs.example.com/start.\nTom & <Jerry>"
)
TRACK_ALL = {"opens": True, "clicks": True}


def only_received(sink) -> dict[str, str]:
    [received] = sink.received
    return parts(received)


def sent_with(client, sink, tracking, body=BODY) -> tuple[str, dict[str, str]]:
    steps = [{"subject": "Hello", "body": body, "delay_days": 0}]
    campaign_id = send_campaign(client, sink, tracking=tracking, steps=steps)
    return campaign_id, only_received(sink)


def test_without_tracking_the_message_is_plain_text_with_its_links(client_all, sink, clock):
    _, received = sent_with(client_all, sink, {"opens": False, "clicks": False})

    assert list(received) == ["text/plain"]
    assert "https://shop.example.com/pricing?a=1&b=2" in received["text/plain"]
    assert links_in(received["text/plain"], "c") == []


def test_tracked_opens_add_an_html_part_with_escaped_text_links_and_the_pixel(
    client_all, sink, clock
):
    _, received = sent_with(client_all, sink, {"opens": True, "clicks": False})

    html = received["text/html"]
    assert "Hi Ann,<br>" in html
    assert "Tom &amp; &lt;Jerry&gt;" in html  # escaped
    assert "<Jerry>" not in html
    assert 'href="https://shop.example.com/pricing?a=1&amp;b=2"' in html
    assert '<a href="https://docs.example.com/start">https://docs.example.com/start</a>.' in html
    [pixel] = links_in(html, "o")
    assert pixel.endswith(".gif")
    assert "Unsubscribe: https://cold.example.com/u/" in received["text/plain"]
    assert set(links_in(html, "u")) == set(links_in(received["text/plain"], "u"))


def test_the_pixel_records_one_open_per_ten_seconds(client, client_all, sink, clock):
    campaign_id, received = sent_with(client_all, sink, {"opens": True, "clicks": False})
    [pixel] = links_in(received["text/html"], "o")

    first, again = client.get(pixel), client.get(pixel)
    clock.shift(timedelta(seconds=9.9))
    within = client.get(pixel)

    for response in (first, again, within):
        assert response.status_code == 200
        assert response["Content-Type"] == "image/gif"
        assert response["Cache-Control"] == "no-store"
        assert response.content.startswith(b"GIF89a")
        assert "Set-Cookie" not in response
    assert stats_of(client_all, campaign_id)["opened"] == 1

    clock.shift(timedelta(seconds=10))
    client.get(pixel)
    client.get(pixel)
    clock.shift(timedelta(seconds=11))
    client.get(pixel)

    stats = stats_of(client_all, campaign_id)
    assert stats["opened"] == 3
    assert stats["open_rate"] == 1.0
    assert lead_of(client_all, campaign_id, "ann@example.com")["engagement"]["opened"] == 3


def test_opens_are_not_recorded_when_the_campaign_does_not_track_them(client, client_all, sink):
    campaign_id = send_campaign(client_all, sink, tracking={"opens": False, "clicks": True})
    from delivery.models import Message

    message = Message.objects.get(campaign_id=campaign_id)

    response = client.get(f"/o/{sign('open', message.pk)}.gif")

    assert response.status_code == 200
    assert stats_of(client_all, campaign_id)["opened"] == 0


def test_a_click_redirects_to_the_link_as_sent_and_is_recorded(client, client_all, sink, clock):
    campaign_id, received = sent_with(client_all, sink, TRACK_ALL)
    text = received["text/plain"]
    first, second = links_in(text, "c")
    assert "shop.example.com" not in text  # both links rewritten
    assert links_in(received["text/html"], "c") == [first, second]

    response = client.get(first)
    assert response.status_code == 302
    assert response["Location"] == "https://shop.example.com/pricing?a=1&b=2"
    assert client.get(second)["Location"] == "https://docs.example.com/start"
    assert client.get(first + "?next=https://evil.example.net")["Location"] == (
        "https://shop.example.com/pricing?a=1&b=2"
    )

    stats = stats_of(client_all, campaign_id)
    assert (stats["clicked"], stats["click_rate"]) == (2, 1.0)  # the repeat within 10 s: once
    assert lead_of(client_all, campaign_id, "ann@example.com")["engagement"]["clicked"] == 2


def test_the_unsubscribe_link_is_never_rewritten(client_all, sink, clock):
    _, received = sent_with(client_all, sink, TRACK_ALL)

    assert len(links_in(received["text/plain"], "u")) == 1
    assert len(links_in(received["text/plain"], "c")) == 2


def altered(token: str) -> str:
    last = token[-1]
    return token[:-1] + ("A" if last != "A" else "B")


def test_forged_altered_truncated_and_borrowed_tokens_are_404_and_record_nothing(
    client, client_all, sink, clock
):
    campaign_id, received = sent_with(client_all, sink, TRACK_ALL)
    [pixel] = links_in(received["text/html"], "o")
    click = links_in(received["text/plain"], "c")[0]
    [unsubscribe] = links_in(received["text/plain"], "u")
    open_token = pixel.removeprefix("/o/").removesuffix(".gif")
    click_token = click.removeprefix("/c/")
    unsubscribe_token = unsubscribe.removeprefix("/u/")
    value, _, signature = click_token.partition(".")
    message_hex, _, extra = value.partition("-")

    attempts = [
        f"/o/{altered(open_token)}.gif",
        f"/o/{open_token[:-5]}.gif",
        f"/o/{open_token.partition('.')[0]}.gif",  # the message id without a signature
        f"/o/{click_token}.gif",  # another kind's token
        f"/o/{unsubscribe_token}.gif",
        f"/c/{altered(click_token)}",
        f"/c/{click_token[:20]}",
        f"/c/{open_token}",
        f"/c/{unsubscribe_token}",
        f"/c/{message_hex}-1-{extra.partition('-')[2]}.{signature}",  # another link index
        f"/c/{message_hex}-0-0123456789abcdef.{signature}",  # another target
        "/c/https%3A%2F%2Fevil.example.net",
        f"/u/{altered(unsubscribe_token)}",
        f"/u/{open_token}",
    ]
    for path in attempts:
        assert client.get(path).status_code == 404, path
    assert client.post(f"/u/{altered(unsubscribe_token)}").status_code == 404

    stats = stats_of(client_all, campaign_id)
    assert (stats["opened"], stats["clicked"], stats["unsubscribed"]) == (0, 0, 0)
    assert lead_of(client_all, campaign_id, "ann@example.com")["status"] == "COMPLETED"


def test_a_token_of_another_message_opens_only_that_message(client, client_all, sink, clock):
    campaign_id = send_campaign(
        client_all, sink, emails=("ann@example.com", "bob@example.com"), tracking=TRACK_ALL
    )
    [ann_pixel] = links_in(parts(sink.to("ann@example.com")[0])["text/html"], "o")

    client.get(ann_pixel)

    assert lead_of(client_all, campaign_id, "ann@example.com")["engagement"]["opened"] == 1
    assert lead_of(client_all, campaign_id, "bob@example.com")["engagement"]["opened"] == 0
    assert stats_of(client_all, campaign_id)["open_rate"] == 0.5


def test_links_stay_valid_after_a_secret_key_rotation(client, client_all, sink, clock, settings):
    campaign_id, received = sent_with(client_all, sink, TRACK_ALL)
    [pixel] = links_in(received["text/html"], "o")
    click = links_in(received["text/plain"], "c")[0]
    old = settings.SECRET_KEY

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-brand-new-secret-key", [old]
    assert client.get(pixel).status_code == 200
    assert client.get(click).status_code == 302

    settings.SECRET_KEY_FALLBACKS = []  # the old key dropped: its links stop working
    clock.shift(timedelta(seconds=30))
    assert client.get(pixel).status_code == 404
    assert client.get(click).status_code == 404
    stats = stats_of(client_all, campaign_id)
    assert (stats["opened"], stats["clicked"]) == (1, 1)
