"""Posting a message to a chat incoming webhook (Slack, Microsoft Teams, Mattermost, Google Chat-compatible).

The body is ``{"text": …}``, which Slack's, Mattermost's and Teams' incoming
webhooks all accept. A webhook URL carries its secret in its path, so it is
never logged and never part of an error message: errors name the host only.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

TIMEOUT_SECONDS = 10


class ChatError(Exception):
    """The webhook did not take the message; the message names the host and the reason, never the path."""


def host_of(url: str) -> str:
    return urlsplit(url).hostname or "the chat webhook"


def post_message(url: str, text: str) -> None:
    """POST ``text`` to the webhook; raise :class:`ChatError` (without the URL) unless it answered 2xx."""
    host = host_of(url)
    try:
        response = requests.post(url, json={"text": text}, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as error:
        # requests' messages quote the whole URL: keep only the kind of failure.
        raise ChatError(f"{host}: {type(error).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise ChatError(f"{host} answered {response.status_code}")
