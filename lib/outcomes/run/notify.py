"""Telling people how a monthly run went: webhooks and e-mail, configured under ``notify:``.

Three events are sent:

- ``failure``: a run failed or was interrupted; the message gives the period, the first
  lines of the error and where the failed build is kept (``reports/_failed/...``);
- ``success``: a month was published; the message gives the period, the first headline of
  the executive summary (``headlines`` in the month's ``results.json``) and the link (or
  path) of the month's index page;
- ``missing``: ``outcomes status --check`` found no published report for the last complete
  month (a run that never started cannot say so itself).

Sending never raises: a channel that fails (unreachable host, refused login, timeout) is
logged and returned as a :class:`Delivery` with ``ok=False``, which the run records in
``reports/status.json``. Every send has a timeout. Webhooks go through :mod:`urllib`,
e-mail through :mod:`smtplib`; passwords never sit in YAML, only the name of the
environment variable that holds one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from outcomes.params import Params

log = logging.getLogger("outcomes.run.notify")

EventKind = Literal["failure", "success", "missing"]
EVENTS: tuple[EventKind, ...] = ("failure", "success", "missing")
#: An e-mail address: name@domain, no spaces.
Address = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$")]


class Webhook(Params):
    """A URL that receives each event as an HTTP POST of JSON.

    Parameters
    ----------
    url : str
        ``http://`` or ``https://`` address (a chat webhook URL is a secret: keep the YAML private).
    headers : dict of str to str
        Extra request headers (for example an ``Authorization`` token).
    format : {"json", "slack"}
        ``json``: ``{"event", "period", "text", ...details}``; ``slack``: ``{"text": ...}``, which
        Slack, Mattermost, Rocket.Chat and Teams workflows accept.
    timeout : float
        Seconds to wait for the server.
    """

    # exclude: neither reaches manifest.json, which records the configuration (both may hold secrets)
    url: str = Field(pattern=r"^https?://[^\s/]+", exclude=True)
    headers: dict[str, str] = Field(default_factory=dict, exclude=True)
    format: Literal["json", "slack"] = "json"
    timeout: float = Field(default=10.0, gt=0, le=300)


class Email(Params):
    """An SMTP server and the recipients of each event.

    Parameters
    ----------
    host : str
        The SMTP server.
    port : int
        587 for STARTTLS, 465 for SSL, 25 for a relay without encryption.
    from : str
        Sender address (the YAML key is ``from``).
    to : list of str
        Recipient addresses.
    security : {"starttls", "ssl", "none"}
        How the connection is encrypted; ``none`` only for a relay on a trusted network.
    username : str, optional
        Login name, when the server needs one.
    password_env : str, optional
        NAME of the environment variable holding the password (never the password itself).
    timeout : float
        Seconds to wait for the server at each step.
    """

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    sender: Address = Field(alias="from")
    to: list[Address] = Field(min_length=1)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout: float = Field(default=30.0, gt=0, le=300)

    @model_validator(mode="after")
    def _login_needs_password_env(self) -> Email:
        if (self.username is None) != (self.password_env is None):
            raise ValueError(
                "give username and password_env together (password_env names the environment variable "
                "holding the SMTP password), or neither for a server without login"
            )
        return self


class NotifySettings(Params):
    """The ``notify:`` section of the run configuration.

    Parameters
    ----------
    events : list of {"failure", "success", "missing"}
        The events sent (default: all three).
    webhooks : list of Webhook
        URLs that receive each event.
    email : Email, optional
        The SMTP server and recipients.
    reports_url : str, optional
        Where ``reports/`` is served (e.g. ``https://intranet.example.com/outcomes/``): messages
        then link the month's page; otherwise they give its path on the machine that ran.
    """

    events: list[EventKind] = Field(default_factory=lambda: list(EVENTS))
    webhooks: list[Webhook] = Field(default_factory=list)
    email: Email | None = None
    reports_url: str | None = Field(default=None, pattern=r"^https?://")

    @property
    def channels(self) -> int:
        """How many channels are configured."""
        return len(self.webhooks) + (self.email is not None)


@dataclass(frozen=True)
class Event:
    """One message to send.

    Parameters
    ----------
    kind : {"failure", "success", "missing"}
        What happened.
    period : str
        The month (or the pack's ``publish_as``) it is about.
    subject : str
        One line.
    lines : tuple of str
        The body, one sentence or fact per line.
    details : dict
        The same facts as fields (``reason``, ``failed_build``, ``headline``, ``index``...), for
        the generic JSON payload.
    """

    kind: EventKind
    period: str
    subject: str
    lines: tuple[str, ...]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """Subject and body as plain text."""
        return "\n".join([self.subject, *self.lines])

    def payload(self, fmt: Literal["json", "slack"]) -> dict[str, Any]:
        """The JSON body of a webhook request in format ``fmt``."""
        if fmt == "slack":
            return {"text": self.text}
        return {"event": self.kind, "period": self.period, "text": self.text, **self.details}


class Delivery(BaseModel):
    """How sending one event through one channel went (recorded in ``reports/status.json``).

    Parameters
    ----------
    event : {"failure", "success", "missing"}
        The event sent.
    channel : str
        ``webhook <n> (<host>)`` or ``email to <addresses>``; never the full URL, which may be a secret.
    ok : bool
        Whether the server accepted it.
    detail : str
        The HTTP status, or why it failed.
    at : str
        ISO 8601 time, UTC.
    """

    model_config = ConfigDict(frozen=True)

    event: EventKind
    channel: str
    ok: bool
    detail: str
    at: str


def send(settings: NotifySettings, event: Event) -> list[Delivery]:
    """Send ``event`` through every configured channel, if ``settings.events`` includes it.

    Parameters
    ----------
    settings : NotifySettings
        The ``notify:`` section.
    event : Event
        The message.

    Returns
    -------
    list of Delivery
        One per channel; empty when the event is not wanted or nothing is configured. Never raises.
    """
    if event.kind not in settings.events:
        return []
    deliveries = []
    for i, hook in enumerate(settings.webhooks, start=1):
        channel = f"webhook {i} ({urllib.parse.urlsplit(hook.url).hostname})"
        deliveries.append(_attempt(event, channel, lambda hook=hook: _post(hook, event)))
    if settings.email is not None:
        mail = settings.email
        deliveries.append(_attempt(event, f"email to {', '.join(mail.to)}", lambda: _mail(mail, event)))
    return deliveries


def _attempt(event: Event, channel: str, deliver: Any) -> Delivery:
    """Call ``deliver()`` and turn its outcome (or any error) into a :class:`Delivery`."""
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    try:
        detail = deliver()
    except Exception as exc:  # a notification must never fail the run or hide its error
        reason = f"{type(exc).__name__}: {exc}"
        log.warning("%s notification through %s failed: %s", event.kind, channel, reason)
        return Delivery(event=event.kind, channel=channel, ok=False, detail=reason, at=at)
    log.info("%s notification sent through %s (%s)", event.kind, channel, detail)
    return Delivery(event=event.kind, channel=channel, ok=True, detail=detail, at=at)


def _post(hook: Webhook, event: Event) -> str:
    body = json.dumps(event.payload(hook.format)).encode("utf-8")
    request = urllib.request.Request(
        hook.url, data=body, method="POST", headers={"Content-Type": "application/json", **hook.headers}
    )
    with urllib.request.urlopen(request, timeout=hook.timeout) as response:  # HTTPError for 4xx and 5xx
        return f"HTTP {response.status}"


def _mail(mail: Email, event: Event) -> str:
    message = EmailMessage()
    message["Subject"] = event.subject
    message["From"] = mail.sender
    message["To"] = ", ".join(mail.to)
    message.set_content("\n".join(event.lines) + "\n")
    password = None
    if mail.password_env is not None:
        password = os.environ.get(mail.password_env)
        if not password:
            raise LookupError(
                f"environment variable {mail.password_env} (notify.email.password_env) is not set; "
                "set it to the SMTP password in the scheduler's environment"
            )
    if mail.security == "ssl":
        server: smtplib.SMTP = smtplib.SMTP_SSL(mail.host, mail.port, timeout=mail.timeout, context=ssl.create_default_context())
    else:
        server = smtplib.SMTP(mail.host, mail.port, timeout=mail.timeout)
    with server:
        if mail.security == "starttls":
            server.starttls(context=ssl.create_default_context())
        if mail.username is not None and password is not None:
            server.login(mail.username, password)
        refused = server.send_message(message)
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)
    return f"accepted by {mail.host}:{mail.port}"
