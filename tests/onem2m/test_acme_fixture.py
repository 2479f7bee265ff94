"""The ACME CSE peer runs: a CSEBase RETRIEVE over plain urllib, not our SDK.

If this fails, every oneM2M interop test would fail for a reason that is not the
SDK's; this test says so directly. It also pins the request headers ACME insists on.
"""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # tests/ is not a package; conftest modules are pytest's to import
    from conftest import AcmeCSE


def test_cse_base_retrieve_over_http(acme_cse: AcmeCSE) -> None:
    request = urllib.request.Request(
        f"{acme_cse.http_url}/{acme_cse.cse_name}",
        method="GET",
        headers={
            "X-M2M-Origin": acme_cse.admin_originator,
            "X-M2M-RI": "smoke-1",  # mandatory: 4000 without it
            "X-M2M-RVI": "3",  # mandatory in practice: no RVI -> 501 / 4001
            "Accept": "application/json",
        },
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
    with opener.open(request, timeout=10) as response:
        status = response.status
        headers = response.headers
        body = json.loads(response.read())

    assert status == 200
    assert headers["X-M2M-RSC"] == "2000"
    assert headers["X-M2M-RI"] == "smoke-1"
    cse_base = body["m2m:cb"]
    assert cse_base["csi"] == acme_cse.cse_id == "/id-in"
    assert cse_base["rn"] == acme_cse.cse_name == "cse-in"
    # The per-session port rewrite reached ACME: its own point of access is our URL.
    assert acme_cse.http_url in cse_base["poa"]
    assert {"2a", "3", "4", "5"} <= set(cse_base["srv"])
