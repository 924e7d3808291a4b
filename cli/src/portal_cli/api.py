"""The portal's REST API as ``portal`` calls it: one httpx client, retries by tenacity, errors as exit codes.

Every answer that is not a success becomes a :class:`PortalError` carrying the exit code scripts read
(:class:`ExitCode`) and the API's structured error (``{"error": {status, code, message, fields}, "request_id"}``)
put in words. Transient failures are tried again with jittered exponential backoff: a connection that could not
be made, a gateway's 502/503/504, a 429 ``throttled`` (after its ``Retry-After``), and a 409 ``in_progress`` of an
action whose first attempt with the same ``Idempotency-Key`` is still running. A request that may have reached the
server is sent again only when it is safe to: a GET, or a POST carrying an ``Idempotency-Key``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import click
import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from portal_cli import __version__

USER_AGENT = f"portal-cli/{__version__}"
# Connect and read limits of one HTTP request (the waits of --wait are the commands' own).
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
ATTEMPTS = 4
LONGEST_RETRY_AFTER = 30.0
TRANSIENT_STATUSES = frozenset({502, 503, 504})
# An API field's name as the option of ``portal`` that sets it, so a refusal says what to change.
FIELD_OPTIONS = {
    "name": "--name",
    "team": "--team",
    "template": "--template",
    "cluster": "--cluster",
    "size": "--size",
    "ttl_hours": "--ttl-hours",
    "hours": "--hours",
    "reason": "--reason",
    "verdict": "approve or reject",
    "scope": "--scope",
    "username": "--username",
    "password": "--password",
    "code": "--code",
    "role": "--role",
    "expires_at": "--days",
    "Idempotency-Key": "--idempotency-key",
}
UNSPECIFIC_FIELDS = frozenset({"non_field_errors", "detail", "__all__"})


class ExitCode(enum.IntEnum):
    """What ``portal`` exits with; docs/cli.md lists them for scripts."""

    OK = 0
    REFUSED = 1  # the portal refused the request: validation, policy, a conflict
    USAGE = 2  # the command line itself is wrong (click's own code)
    NOT_SIGNED_IN = 3  # no credentials, or they are not valid, or they do not allow this
    NOT_FOUND = 4  # no such object, or not one the caller may see
    WAIT_FAILED = 5  # --wait followed the environment to an end other than the one waited for
    TIMEOUT = 6  # --wait gave up after --timeout
    UNREACHABLE = 7  # the portal could not be reached, or answered with a server error
    INTERRUPTED = 130  # stopped by Ctrl-C (SIGINT), as a shell reports it: 128 + the signal's number 2


class PortalError(click.ClickException):
    """A failure ``portal`` reports in words on stderr (and, with ``--json``, the API's error body on stdout)."""

    def __init__(
        self,
        message: str,
        exit_code: ExitCode,
        *,
        details: list[str] | None = None,
        body: Any = None,
        request_id: str = "",
    ) -> None:
        super().__init__(message)
        self.exit_code = int(exit_code)  # type: ignore[misc]  # click reads it per error: ours differ
        self.details = details or []
        self.body = body
        self.request_id = request_id
        self.json_output = False

    def format_message(self) -> str:
        lines = [self.message, *(f"  - {detail}" for detail in self.details)]
        if self.request_id:
            lines.append(f"(request id {self.request_id}: quote it when you ask the portal's operators)")
        return "\n".join(lines)

    def show(self, file: Any = None) -> None:
        if self.json_output and self.body is not None:
            click.echo(json.dumps(self.body, indent=2))
        click.echo(f"Error: {self.format_message()}", err=True)


class Interrupted(click.ClickException):
    """Ctrl-C: one line on stderr and exit 130, not a traceback. What the portal was already asked goes on there."""

    exit_code = int(ExitCode.INTERRUPTED)

    def __init__(self) -> None:
        super().__init__(
            "Interrupted: the command stopped here; anything the portal had already been asked to do goes on there."
        )

    def show(self, file: Any = None) -> None:
        click.echo(f"\n{self.message}", err=True)


class _Transient(Exception):
    """An answer worth asking again for; ``response`` is what to report when the attempts run out."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response
        self.retry_after = _retry_after(response)


def _retry_after(response: httpx.Response) -> float | None:
    given = response.headers.get("Retry-After", "")
    return min(float(given), LONGEST_RETRY_AFTER) if given.isdigit() else None


def _field_label(name: str) -> str:
    return FIELD_OPTIONS.get(name, name.replace("_", " "))


def _flatten(problems: Any) -> Iterator[str]:
    if isinstance(problems, str):
        yield problems
    elif isinstance(problems, list):
        for problem in problems:
            yield from _flatten(problem)
    elif isinstance(problems, dict):
        for name, nested in problems.items():
            for problem in _flatten(nested):
                yield f"{_field_label(str(name))}: {problem}"
    elif problems is not None:
        yield str(problems)


def _error_of(response: httpx.Response) -> tuple[Any, str, str, list[str], str]:
    """(body, code, message, details, request id) of an error answer, whatever its shape."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return body, "", "", [], ""
    details = []
    for name, problems in (error.get("fields") or {}).items():
        for problem in _flatten(problems):
            details.append(problem if name in UNSPECIFIC_FIELDS else f"{_field_label(str(name))}: {problem}")
    return (
        body,
        str(error.get("code") or ""),
        str(error.get("message") or ""),
        details,
        str(body.get("request_id") or ""),
    )


def error_for(response: httpx.Response, *, url: str) -> PortalError:
    """The :class:`PortalError` of an answer that is not a success."""
    status = response.status_code
    body, code, message, details, request_id = _error_of(response)
    if status == 400 or status == 409 or status == 422:
        if message == "The request is not valid." and details:
            message = "The portal refused the request:"
        exit_code, message = ExitCode.REFUSED, message or "The portal refused the request."
    elif status == 401:
        exit_code = ExitCode.NOT_SIGNED_IN
        message = f"Not signed in to {url}: {message or 'the credentials were refused.'}"
        if code not in ("mfa_code_required", "mfa_code_incorrect", "authentication_failed"):
            details.append("Sign in again with `portal login`, or set PORTAL_TOKEN to a valid API token.")
    elif status == 403:
        exit_code = ExitCode.NOT_SIGNED_IN
        message = f"Not allowed: {message or 'you do not have permission to perform this action.'}"
    elif status == 404:
        exit_code, message = ExitCode.NOT_FOUND, f"Not found: {message or 'no such object at ' + str(response.url)}"
    elif status == 429:
        locked = code == "sign_in_locked"
        exit_code = ExitCode.NOT_SIGNED_IN if locked else ExitCode.UNREACHABLE
        message = message or "The portal asks to slow down; try again later."
    elif status >= 500:
        exit_code = ExitCode.UNREACHABLE
        message = f"The portal at {url} answered with a server error ({status}). {message}".strip()
    else:
        exit_code, message = ExitCode.REFUSED, message or f"The portal answered {status}."
    return PortalError(message, exit_code, details=details, body=body, request_id=request_id)


@dataclass
class Revalidated:
    """A GET answer with its ``ETag``: asked again with it, an unchanged answer is a bodiless 304."""

    data: Any
    etag: str


class Client:
    """One portal, one API token (or none, for signing in). Paths are relative to the portal's address."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        json_output: bool = False,
        attempts: int = ATTEMPTS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.json_output = json_output
        self.attempts = attempts
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=HTTP_TIMEOUT, transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- calls -----------------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | list[tuple[str, str]] | None = None) -> Any:
        return self._json(self._send("GET", path, params=params))

    def get_revalidated(self, path: str, previous: Revalidated | None) -> Revalidated:
        """GET ``path``, answering ``previous`` again when the portal says it has not changed (304)."""
        headers = {"If-None-Match": previous.etag} if previous and previous.etag else None
        response = self._send("GET", path, headers=headers, expect=(304,))
        if response.status_code == 304 and previous is not None:
            return previous
        return Revalidated(self._json(response), response.headers.get("ETag", ""))

    def get_all(self, path: str, params: Mapping[str, Any] | None = None, *, limit: int | None = None) -> list[Any]:
        """Every item of a list endpoint (its pages followed), or the first ``limit``."""
        items: list[Any] = []
        query = dict(params or {})
        query.setdefault("page_size", min(limit or 500, 500))
        page = self.get(path, query)
        while True:
            if isinstance(page, list):  # an unpaginated list
                items.extend(page)
                break
            items.extend(page.get("results", []))
            following = page.get("next")
            if not following or (limit is not None and len(items) >= limit):
                break
            page = self._json(self._send("GET", following))
        return items[:limit] if limit is not None else items

    def post(self, path: str, body: Any = None, *, idempotency_key: str | None = None) -> Any:
        return self._json(self._post(path, body, idempotency_key=idempotency_key))

    def post_answer(self, path: str, body: Any = None, *, idempotency_key: str | None = None) -> httpx.Response:
        """The whole answer of a POST (its status says created or replayed)."""
        return self._post(path, body, idempotency_key=idempotency_key)

    def delete(self, path: str) -> Any:
        return self._json(self._send("DELETE", path))

    def patch(self, path: str, body: Any) -> Any:
        """Change the fields ``body`` names (a PATCH is not sent again: it may have reached the portal)."""
        return self._json(self._send("PATCH", path, json=body))

    def _post(self, path: str, body: Any, *, idempotency_key: str | None) -> httpx.Response:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._send("POST", path, json=body if body is not None else {}, headers=headers)

    # --- plumbing --------------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, expect: tuple[int, ...] = (), **options: Any) -> httpx.Response:
        headers = options.get("headers") or {}
        # Sent again only if the portal cannot act twice on it: a read, or an action with an Idempotency-Key.
        repeatable = method in ("GET", "HEAD") or "Idempotency-Key" in headers

        def transient(error: BaseException) -> bool:
            if isinstance(error, _Transient):
                return True
            if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
                return True  # nothing reached the portal
            return repeatable and isinstance(error, httpx.TransportError)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, _Transient) and error.retry_after is not None:
                return error.retry_after
            return float(wait_random_exponential(multiplier=0.25, max=5)(state))

        try:
            for attempt in Retrying(
                retry=retry_if_exception(transient), stop=stop_after_attempt(self.attempts), wait=wait, reraise=True
            ):
                with attempt:
                    response = self.http.request(method, path, **options)
                    if self._is_transient(response, repeatable=repeatable):
                        raise _Transient(response)
        except _Transient as gave_up:
            response = gave_up.response
        except httpx.TransportError as error:
            raise self._raise(
                PortalError(
                    f"Cannot reach the portal at {self.url}: {error or type(error).__name__}.",
                    ExitCode.UNREACHABLE,
                    details=["Check the address (--url or PORTAL_URL) and that the portal is running."],
                )
            ) from error
        if response.is_success or response.status_code in expect:
            return response
        raise self._raise(error_for(response, url=self.url))

    def _is_transient(self, response: httpx.Response, *, repeatable: bool) -> bool:
        status = response.status_code
        if status in TRANSIENT_STATUSES:
            return repeatable
        if status == 429:
            return _code_of(response) == "throttled"
        return status == 409 and repeatable and _code_of(response) == "in_progress"

    def _raise(self, error: PortalError) -> PortalError:
        error.json_output = self.json_output
        return error

    def _json(self, response: httpx.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as error:
            raise self._raise(
                PortalError(
                    f"The answer from {self.url}{response.url.path} is not the portal API's JSON; is --url the "
                    "portal's address?",
                    ExitCode.UNREACHABLE,
                )
            ) from error


def _code_of(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code") or "") if isinstance(error, dict) else ""
