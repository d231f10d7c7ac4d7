"""app.deferred: an app with one router group answers the paths it is given exactly as the
full app would, because no other group has a route there."""

from __future__ import annotations

import gc

from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app.deferred import GROUP_OF_PREFIX, Deferred, group_of
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


async def _nothing(scope: Scope, receive: Receive, send: Send) -> None:
    return None


def test_apps_are_built_once_with_the_collector_paused_then_their_objects_set_aside() -> None:
    collecting: list[tuple[str | None, bool]] = []

    def build(group: str | None) -> ASGIApp:
        collecting.append((group, gc.isenabled()))
        return _nothing

    deferred = Deferred(_nothing, build)
    assert gc.isenabled()
    try:
        assert deferred.build() is deferred.build()
        assert collecting == [(None, False)]
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0  # what the build made is not scanned again
        gc.disable()  # whoever turned it off keeps it off
        one_group = Deferred(_nothing, build)
        one_group.app_for({"type": "http", "method": "GET", "path": "/v1/jobs", "root_path": ""})
        assert collecting[-1] == ("jobs", False)
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
