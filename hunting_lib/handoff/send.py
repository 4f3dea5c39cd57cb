"""Sending a hand-off plan through a connected msticpy ``MicrosoftSentinel`` client.

The bookmark PUT goes to the REST API directly (msticpy's ``create_bookmark`` sends no time
range and no entity mappings): same URL root as msticpy (``client.sent_urls["bookmarks"]``), same
bearer token (``client._token``, set by ``connect``), same headers (``Authorization`` and
``Content-Type: application/json``), but a JSON body (msticpy sends ``str(dict)``) at the
api-version that carries entities. Everything else goes through msticpy's own methods. The token
is only ever put in a request header: no message, log line or output carries it.
"""

from __future__ import annotations

from typing import Any, Callable

import pandas as pd

from hunting_lib.handoff.plan import NEW_INCIDENT, Call

#: ``http(method, url, params=..., headers=..., json=...)`` returning an object with
#: ``status_code`` and ``text`` (httpx's ``request`` by default; tests pass a recorder).
HttpFunction = Callable[..., Any]
TIMEOUT_SECONDS = 60


class HandoffError(RuntimeError):
    """Sentinel refused a call (the message names the call and the status, never the token)."""


def connect_sentinel(workspace: str | None = None):
    """A connected msticpy ``MicrosoftSentinel`` for ``workspace`` (a name in msticpyconfig.yaml;
    default: its default workspace). Authentication is msticpy's (Azure CLI, managed identity, ...)."""
    from msticpy.context.azure import MicrosoftSentinel

    options = {"workspace_name": workspace} if workspace else {}  # msticpy 3 also reads it as `workspace`
    try:
        client = MicrosoftSentinel(**options)
        client.connect(**options)
    except Exception as exc:  # msticpy's own message for a missing setting is a bare TypeError
        detail = " ".join(str(exc).split())[:300]
        raise HandoffError(f"cannot connect to Microsoft Sentinel (workspace {workspace or 'the default'}): "
                           f"{type(exc).__name__}: {detail}; check the AzureSentinel workspace settings in "
                           f"msticpyconfig.yaml and your Azure sign-in") from None
    return client


def _httpx_request(method: str, url: str, **kwargs: Any) -> Any:
    import httpx

    return httpx.request(method, url, timeout=TIMEOUT_SECONDS, **kwargs)


def rest_call(client: Any, method: str, url: str, api_version: str, body: dict,
              http: HttpFunction | None = None) -> Any:
    """One REST call with the client's own token; a refused call raises ``HandoffError``."""
    token = getattr(client, "_token", None)
    if not token:
        raise HandoffError("the Sentinel client has no token: connect it first (MicrosoftSentinel.connect)")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    response = (http or _httpx_request)(method, url, params={"api-version": api_version}, headers=headers, json=body)
    status = int(getattr(response, "status_code", 0))
    if not 200 <= status < 300:
        detail = " ".join(str(getattr(response, "text", "")).split())[:300]
        raise HandoffError(f"{method} {url.split('/providers/', 1)[-1]}: HTTP {status} {detail}".replace(token, "***"))
    return response


def _bookmark_url(client: Any, call: Call) -> str:
    return f"{client.sent_urls['bookmarks']}/{call.ref}"


def _as_datetime(value: Any) -> Any:
    return None if value is None else pd.Timestamp(value).to_pydatetime()


def send_plan(client: Any, calls: list[Call], http: HttpFunction | None = None) -> list[str]:
    """Send ``calls`` in order; returns one line per call (what was made, with its id)."""
    done: list[str] = []
    incident_id: str | None = None
    for call in calls:
        if call.kind == "bookmark":
            rest_call(client, call.method, _bookmark_url(client, call), call.api_version, call.body, http)
            done.append(f"bookmark {call.ref}: {call.body['properties']['displayName']}")
        elif call.kind == "incident":
            arguments = dict(call.arguments)
            for key in ("first_activity_time", "last_activity_time"):
                if key in arguments:
                    arguments[key] = _as_datetime(arguments[key])
            incident_id = client.create_incident(**arguments)
            if not incident_id:
                raise HandoffError("create_incident returned no incident id")
            done.append(f"incident {incident_id}: {arguments['title']}")
        elif call.kind == "relation":
            target = incident_id if call.arguments["incident"] == NEW_INCIDENT else call.arguments["incident"]
            client.add_bookmark_to_incident(target, call.arguments["bookmark"])
            done.append(f"bookmark {call.arguments['bookmark']} added to incident {target}")
        elif call.kind == "comment":
            target = incident_id if call.arguments["incident_id"] == NEW_INCIDENT else call.arguments["incident_id"]
            client.post_comment(target, call.arguments["comment"])
            done.append(f"comment posted to incident {target}")
        else:
            raise ValueError(f"unknown call kind {call.kind!r}")
    return done
