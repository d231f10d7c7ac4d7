"""app.deferred: an app with one router group answers the paths it is given exactly as the
full app would, because no other group has a route there."""

from __future__ import annotations

from fastapi.routing import APIRoute

from app.deferred import GROUP_OF_PREFIX, group_of
from app.main import ROUTER_GROUPS


def test_a_prefix_is_served_by_its_group_alone() -> None:
    assert {group for _, group in GROUP_OF_PREFIX} <= set(ROUTER_GROUPS)
    seen = 0
    for group, routers in ROUTER_GROUPS.items():
        for router in routers():
            for route in router.routes:
                assert isinstance(route, APIRoute), route  # no nested router hides a path
                # A path parameter first would match under any prefix.
                assert not route.path.startswith("/{"), route.path
                assert group_of(route.path) in (group, None), (group, route.path)
                seen += group_of(route.path) == group
    assert seen >= len(GROUP_OF_PREFIX)
