"""Helpers of the servers tests: the keys of a server body, reading pages of the server list."""

from urllib.parse import urlencode

# The keys of a server body at 2.1 (show, update and rebuild answers; rebuild adds adminPass).
SERVER_KEYS_2_1 = frozenset(
    {
        "id",
        "name",
        "status",
        "tenant_id",
        "user_id",
        "metadata",
        "hostId",
        "image",
        "flavor",
        "created",
        "updated",
        "addresses",
        "accessIPv4",
        "accessIPv6",
        "links",
        "OS-DCF:diskConfig",
        "progress",
    }
)


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [s["id"] for s in response.json()["servers"]]


def walk_with_markers(api, *, token, params: list[tuple[str, str]], limit: int, detail=False) -> list[str]:
    """Every page: the same parameters each time, the last id of a page as the next marker."""
    seen, marker, pages = [], None, 0
    path = "/servers/detail" if detail else "/servers"
    while True:
        query = [*params, ("limit", str(limit))] + ([("marker", marker)] if marker else [])
        response = api("get", f"{path}?{urlencode(query)}", token=token)
        page = ids(response)
        assert len(page) <= limit
        seen += page
        links = response.json().get("servers_links")
        if len(page) < limit:
            assert links is None
            return seen
        assert links and links[0]["rel"] == "next"
        marker = page[-1]
        pages += 1
        assert pages <= 200
