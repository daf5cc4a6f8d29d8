"""The public links of a message (API.md §8): no key, no cookie, no CSRF token; the signed
token is the credential. A forged or altered token is a 404 that records nothing."""

import base64

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from delivery.tokens import click_link, open_message, unsubscribe_message
from inbound import services
from leads.models import Lead

# The smallest transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def pixel_response() -> HttpResponse:
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    message_pk = open_message(token)
    if message_pk is None:
        raise Http404
    services.record_open(message_pk)
    return pixel_response()


@never_cache
@require_GET
def click(request: HttpRequest, token: str) -> HttpResponse:
    signed = click_link(token)
    target = signed and services.link_target(*signed)
    if not target:
        raise Http404
    message, url = target
    services.record_click(message, signed[1], url)
    return HttpResponseRedirect(url)


@never_cache
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a page with one button and changes nothing (mail scanners fetch every link);
    for a lead already unsubscribed it says so instead. POST, from that button or a mail
    client's RFC 8058 one-click, unsubscribes."""
    message_pk = unsubscribe_message(token)
    message = services.sent_message(message_pk) if message_pk is not None else None
    if message is None:
        raise Http404
    if request.method == "GET":
        done = Lead.objects.filter(pk=message.lead_id, status=Lead.Status.UNSUBSCRIBED).exists()
        return render(request, "inbound/unsubscribe.html", {"done": done})
    services.unsubscribe(message_pk)
    return render(request, "inbound/unsubscribe.html", {"done": True})
