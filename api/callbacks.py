"""The upload's optional ``callback_url``: where the session's end is posted (a signed
webhook, queues.webhooks). Checked here so a bad one is refused (400) at upload, not
discovered at delivery; the deliveries check the destination again each time."""

from __future__ import annotations

import asyncio

from api.errors import CallbackRefused, WebhooksDisabled
from queues.destinations import DestinationRefused, check_destination, parse_url
from queues.settings import Settings

FIELD = "callback_url"


def callback_url(fields: dict[str, str], settings: Settings, analysis: str | None) -> str:
    """The session's callback ("" for none): the upload's field, syntax checked (cheap, so it
    runs as each form field arrives), else WEBHOOK_URL. The legacy routes (which fix the
    ``analysis``) answer with the results themselves and take none."""
    if analysis is not None:
        return ""
    url = fields.get(FIELD, "")
    if not url:
        return settings.webhook_url
    if not settings.webhook_secret:
        raise WebhooksDisabled("This server sends no webhooks (it has no WEBHOOK_SECRET); "
                               "send the upload without 'callback_url' and poll the status.")
    try:
        parse_url(url)
    except DestinationRefused as refused:
        raise CallbackRefused(f"'callback_url' refused: {refused}") from None
    return url


async def check_callback(url: str, fields: dict[str, str], settings: Settings) -> None:
    """Resolve the upload's callback host and refuse it if any address is not allowed.
    WEBHOOK_URL is the operator's and is not checked per upload (a DNS hiccup must not
    refuse uploads that did not ask for it); its deliveries check it all the same."""
    if not url or fields.get(FIELD) != url:
        return
    try:
        # getaddrinfo blocks (for seconds when DNS is slow): never on the event loop
        await asyncio.to_thread(check_destination, url, settings.webhook_allow_private)
    except DestinationRefused as refused:
        raise CallbackRefused(f"'callback_url' refused: {refused}") from None
