"""Walk a list that pages by cursor (the kernel's style: ``?limit=&cursor=`` → ``{items, next_cursor}``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx


async def walk_pages(
    http: httpx.AsyncClient,
    path: str,
    headers: Mapping[str, str],
    *,
    limit: int = 1,
    params: Mapping[str, Any] | None = None,
    key: str = "id",
) -> list[Any]:
    """Every item of the list, page by page of ``limit``; checks no page is larger than ``limit``,
    no item comes twice, and that a cursor the list never gave is 404 ``invalid_cursor``."""
    items: list[Any] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {**(params or {}), "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await http.get(path, params=query, headers=dict(headers))
        assert response.status_code == 200, (path, response.text)
        page = response.json()
        assert set(page) >= {"items", "next_cursor"}, (path, page)
        assert len(page["items"]) <= limit, (path, page)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    keys = [item[key] for item in items]
    assert len(keys) == len(set(keys)), (path, keys)
    bogus = await http.get(path, params={**(params or {}), "cursor": "bm90LWEtY3Vyc29y"}, headers=dict(headers))
    assert (bogus.status_code, bogus.json()["code"]) == (404, "invalid_cursor"), (path, bogus.text)
    return items
