"""The simulated office: workstations, servers, users, admins, addresses and boot times.

Why this module exists: every other step places its rows on the fleet, so it is drawn first and from
its own random stream: the devices and users a seed gives never depend on what is generated later.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from hunting_lib.sample.common import DAY, HOUR, SCHEDULE_CMDLINE, T0

# --------------------------------------------------------------------------------------------
# The fleet: devices, users, addresses.
# --------------------------------------------------------------------------------------------

_FQDN = "corp.fabrikam.com"
_FIRST = (
    "aino anna antti eero elina emma helmi ilkka jari johanna juha kaisa kalle laura leena liisa "
    "markku matti mika minna niina olli pekka petra riikka sami sanna satu teemu tiina timo tuomas "
    "ville aleksi jenni hanna oskari noora eveliina joel iida mikael sara tommi katja lauri marja "
    "paula reijo santeri ulla veera arttu henna ismo jussi"
).split()
_LAST = (
    "virtanen korhonen nieminen makinen hamalainen laine heikkinen koskinen jarvinen lehtonen "
    "lehtinen saarinen salminen heinonen niemi heikkila kinnunen salonen turunen salo laitinen "
    "tuominen rantanen karjalainen jokinen mattila savolainen lahtinen ahonen kallio"
).split()
_SITES = ("hel", "tre", "oul", "tku")
_DEPTS = ("fin", "hr", "sal", "eng", "ops", "it", "mkt")
#: Servers: (short name, role). The roles decide which background events a server produces.
_SERVERS = (("dc01", "dc"), ("dc02", "dc"), ("fs01", "fs"), ("fs02", "fs"), ("app01", "app"),
            ("sql01", "sql"))


@dataclass
class Fleet:
    names: list[str]            # DeviceName, lower-case FQDN
    short: list[str]
    ids: list[str]              # DeviceId, 40 hex
    role: np.ndarray            # "ws" or a server role
    ip: list[str]
    user: list[str]             # primary user of a workstation ("" on servers)
    user_sid: list[str]
    boot: np.ndarray            # boot time, ns (before the window: no reboots inside it)
    sched_cmd: list[str]        # the Task Scheduler host's command line on this device
    users: list[str]            # all domain users
    user_sids: list[str]
    admins: list[str]           # admin accounts (adm-...)
    domain_sid: str
    lower_sys32: np.ndarray     # devices that record C:\Windows\system32\ (real-world casing)
    ws: np.ndarray = field(init=False)
    servers: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.ws = np.flatnonzero(self.role == "ws")
        self.servers = np.flatnonzero(self.role != "ws")

    def by_role(self, role: str) -> np.ndarray:
        if role == "all":
            return np.arange(len(self.names))
        if role == "srv":
            return self.servers
        return np.flatnonzero(self.role == role)

    def server(self, short: str) -> int:
        return self.short.index(short)


def make_fleet(rng: np.random.Generator, scale: float) -> Fleet:
    n_ws = max(40, int(round(40 * scale**0.5)))
    n_users = n_ws + 12
    pairs = rng.permutation(len(_FIRST) * len(_LAST))[:n_users]
    users = [f"{_FIRST[k // len(_LAST)]}.{_LAST[k % len(_LAST)]}" for k in pairs]
    users += [f"user{i:04d}" for i in range(n_users - len(users))]  # more users than names
    domain_sid = "S-1-5-21-" + "-".join(str(x) for x in rng.integers(10**9, 4 * 10**9, 3))
    user_sids = [f"{domain_sid}-{1104 + i}" for i in range(n_users)]
    admins = [f"adm-{u.split('.')[0][0]}{u.split('.')[1]}" for u in users[n_ws:n_ws + 3]]

    names, short, role, ip, user, user_sid = [], [], [], [], [], []
    sites = rng.integers(0, len(_SITES), n_ws)
    depts = rng.integers(0, len(_DEPTS), n_ws)
    for i in range(n_ws):
        kind = "lt" if rng.random() < 0.7 else "ws"
        s = f"{_SITES[sites[i]]}-{_DEPTS[depts[i]]}-{kind}{100 + i:03d}"
        short.append(s)
        role.append("ws")
        ip.append(f"10.20.{sites[i] * 16 + i // 200}.{10 + i % 200}")
        user.append(users[i])
        user_sid.append(user_sids[i])
    for j, (s, r) in enumerate(_SERVERS):
        short.append(s)
        role.append(r)
        ip.append(f"10.10.1.{10 + j}")
        user.append("")
        user_sid.append("")
    names = [f"{s}.{_FQDN}" for s in short]
    ids = [hashlib.sha1(n.encode()).hexdigest() for n in names]
    n_dev = len(names)
    boot = T0 - rng.integers(2 * HOUR // 100, 9 * DAY // 100, n_dev) * 100
    sched_cmd = [SCHEDULE_CMDLINE] * n_dev
    lower_sys32 = rng.random(n_dev) < 0.25
    return Fleet(names, short, ids, np.array(role), ip, user, user_sid, boot, sched_cmd, users,
                 user_sids, admins, domain_sid, lower_sys32)
