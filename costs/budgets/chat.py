"""Posting a message to a chat incoming webhook (Slack, Microsoft Teams, Mattermost, Google Chat-compatible).

The body is ``{"text": …}``, which Slack's, Mattermost's and Teams' incoming
webhooks all accept. A webhook URL is typed by whoever may set a budget, so it
goes through :mod:`providers.outbound` under :func:`webhook_policy`, when it
is saved (:func:`webhook_refusal`, the form's or the API's error) and again
when a worker posts to it (a URL saved before a rule, or a name that resolves
elsewhere now, is refused then): ``https`` only, no user name or password,
public addresses only (unless ``PORTAL_COSTS_CHAT_WEBHOOK_PRIVATE_NETWORKS``
opens a network), only the hosts of ``PORTAL_COSTS_CHAT_WEBHOOK_HOSTS`` when
that is set, no redirects, ten seconds and 64 KiB at most.

What the chat service answered is never shown to the person who set the
webhook (a status code or a connection error would make the portal a port
scanner): :class:`ChatError` carries a generic message for the page and the
detail (host and reason, never the URL's path, which is its secret) for the log.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from providers.outbound import (
    OutboundFailed,
    OutboundPolicy,
    UnsafeURL,
    check_url,
    parse_hosts,
    parse_networks,
    post_json,
)

NOT_DELIVERED = "Not delivered: the chat webhook did not take the message (the portal's log says why)."
NOT_ALLOWED = "Not delivered: the chat webhook's address is not allowed; set a new webhook URL for this budget."


class ChatError(Exception):
    """The message was not posted.

    ``public`` is what the budget page may show (generic), ``detail`` what
    the log gets (host and reason, never the path); ``permanent`` is true
    when trying again cannot help (the address is refused).
    """

    def __init__(self, detail: str, *, public: str = NOT_DELIVERED, permanent: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.public = public
        self.permanent = permanent


def host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or "the chat webhook"
    except ValueError:
        return "the chat webhook"


def webhook_policy() -> OutboundPolicy:
    """The rules every chat webhook URL is held to, from the settings (read at each call, so tests may change them)."""
    return OutboundPolicy(
        allowed_hosts=parse_hosts(settings.COSTS_CHAT_WEBHOOK_HOSTS),
        private_networks=parse_networks(settings.COSTS_CHAT_WEBHOOK_PRIVATE_NETWORKS),
    )


def webhook_refusal(url: str) -> str | None:
    """Why the portal would not post to ``url``, in a sentence for the form or the API; None when it would."""
    try:
        check_url(url, policy=webhook_policy())
    except UnsafeURL as refused:
        return f"This webhook URL cannot be used: {refused.message}."
    return None


def post_message(url: str, text: str) -> None:
    """POST ``text`` to the webhook; raise :class:`ChatError` unless it answered 2xx."""
    try:
        post_json(url, {"text": text}, policy=webhook_policy())
    except UnsafeURL as refused:
        raise ChatError(f"{host_of(url)}: refused: {refused.message}", public=NOT_ALLOWED, permanent=True) from None
    except OutboundFailed as failed:
        raise ChatError(failed.detail) from None
