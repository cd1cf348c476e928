"""Side services ``kb_serve`` starts before the web and worker processes.

``knowledge`` imports no other app, so an app that needs one (the connections sandbox)
registers a hook from its ``AppConfig.ready``. A hook returns ``None`` when it has nothing
to start, else what the children need (environment), what the start-up banner says, and how
to stop it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Started:
    env: dict[str, str] = field(default_factory=dict)
    banner: list[str] = field(default_factory=list)
    stop: Callable[[], None] = lambda: None


Hook = Callable[[], Started | None]

_hooks: list[Hook] = []


def register(hook: Hook) -> None:
    if hook not in _hooks:
        _hooks.append(hook)


def start_all() -> list[Started]:
    started: list[Started] = []
    try:
        for hook in _hooks:
            result = hook()
            if result is not None:
                started.append(result)
    except BaseException:
        stop_all(started)
        raise
    return started


def stop_all(started: list[Started]) -> None:
    for service in reversed(started):
        service.stop()
