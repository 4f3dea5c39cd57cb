"""A stand-in for msticpy's ``MicrosoftSentinel`` that records what the hand-off asks of it.

It has the attributes and methods the hand-off uses, with msticpy 3's signatures and return
shapes (``sent_urls``, ``_token``, ``create_incident`` returning the new id, ``list_watchlists``
and ``list_watchlist_items`` as the DataFrames msticpy's ``_list_items`` builds), and an ``http``
function that records the REST calls made with the client's token. Nothing leaves the process.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

WORKSPACE = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/soc-rg/providers/"
             "Microsoft.OperationalInsights/workspaces/soc-ws")
BASE_URL = "https://management.azure.com"
#: A token a test can look for in every output: it must only ever be in a request header.
TOKEN = "eyFAKE-TOKEN-must-never-be-printed-7f3a"


@dataclass
class Response:
    status_code: int = 200
    text: str = "{}"


@dataclass
class FakeSentinel:
    """Records every call: ``calls`` (msticpy methods) and ``requests`` (REST, with headers)."""

    calls: list[tuple[str, dict]] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    watchlists: dict[str, dict[str, dict]] = field(default_factory=dict)
    status_code: int = 200

    def __post_init__(self) -> None:
        self._token = TOKEN
        self.connected = True
        self.base_url = BASE_URL
        self.url = BASE_URL + WORKSPACE
        root = self.url + "/providers/Microsoft.SecurityInsights"
        self.sent_urls = {"bookmarks": root + "/bookmarks", "incidents": root + "/incidents",
                          "watchlists": root + "/watchlists"}

    # -- REST with the client's token --------------------------------------------------------
    def http(self, method: str, url: str, params: dict | None = None, headers: dict | None = None,
             json: Any = None) -> Response:
        self.requests.append({"method": method, "url": url, "params": dict(params or {}),
                              "headers": dict(headers or {}), "json": json})
        prefix = self.sent_urls["watchlists"] + "/"
        if method == "PUT" and url.startswith(prefix) and "/watchlistItems/" in url and self.status_code < 300:
            name, item_id = url[len(prefix):].split("/watchlistItems/")
            self.watchlists[name][item_id] = dict(json["properties"]["itemsKeyValue"])
        return Response(self.status_code, '{"error": "refused"}' if self.status_code >= 300 else "{}")

    # -- incidents ---------------------------------------------------------------------------
    def create_incident(self, title: str, severity: str, status: str = "New", description: str | None = None,
                        first_activity_time=None, last_activity_time=None, labels=None, bookmarks=None) -> str:
        incident_id = str(uuid.uuid4())
        self.calls.append(("create_incident", {"title": title, "severity": severity, "status": status,
                                               "description": description, "first_activity_time": first_activity_time,
                                               "last_activity_time": last_activity_time, "labels": labels,
                                               "bookmarks": bookmarks, "id": incident_id}))
        return incident_id

    def add_bookmark_to_incident(self, incident: str, bookmark: str) -> str:
        self.calls.append(("add_bookmark_to_incident", {"incident": incident, "bookmark": bookmark}))
        return str(uuid.uuid4())

    def post_comment(self, incident_id: str, comment: str) -> str:
        self.calls.append(("post_comment", {"incident_id": incident_id, "comment": comment}))
        return str(uuid.uuid4())

    # -- watchlists --------------------------------------------------------------------------
    def list_watchlists(self) -> pd.DataFrame:
        self.calls.append(("list_watchlists", {}))
        return pd.DataFrame({"name": list(self.watchlists)})

    def create_watchlist(self, watchlist_name: str, description: str, search_key: str, provider: str = "MSTICPy",
                         source: str = "Notebook", data: pd.DataFrame | None = None) -> str:
        self.calls.append(("create_watchlist", {"watchlist_name": watchlist_name, "description": description,
                                                "search_key": search_key}))
        if watchlist_name in self.watchlists:
            raise RuntimeError(f"Watchlist {watchlist_name} already exist.")
        self.watchlists[watchlist_name] = {}
        return watchlist_name

    def list_watchlist_items(self, watchlist_name: str) -> pd.DataFrame:
        self.calls.append(("list_watchlist_items", {"watchlist_name": watchlist_name}))
        rows = [{"name": item_id, "properties.watchlistItemId": item_id,
                 **{f"properties.itemsKeyValue.{k}": v for k, v in values.items()}}
                for item_id, values in self.watchlists.get(watchlist_name, {}).items()]
        return pd.DataFrame(rows)

    def add_watchlist_item(self, watchlist_name: str, item: dict, *, overwrite: bool = False) -> None:
        self.calls.append(("add_watchlist_item", {"watchlist_name": watchlist_name, "item": dict(item),
                                                  "overwrite": overwrite}))
        if watchlist_name not in self.watchlists:
            raise RuntimeError(f"Watchlist {watchlist_name} does not exist.")
        if any(values == item for values in self.watchlists[watchlist_name].values()) and not overwrite:
            raise RuntimeError("Item already exists in the watchlist. Set overwrite = True to replace.")
        self.watchlists[watchlist_name][str(uuid.uuid4())] = dict(item)

    def names(self) -> list[str]:
        """The msticpy methods called, in order."""
        return [name for name, _ in self.calls]
