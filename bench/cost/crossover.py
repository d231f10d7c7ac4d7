"""Where one cost curve drops below another: the lowest whole RPS at which a condition
first holds, on curves that step (task and instance counts) and may cross more than once."""

from __future__ import annotations

import math
from collections.abc import Callable

CROSSOVER_MAX_RPS = 1_000_000


def first_whole_rps(holds: Callable[[float], bool], *, high: int = CROSSOVER_MAX_RPS) -> int | None:
    """The lowest whole RPS up to ``high`` at which ``holds`` is first true, or None.

    A geometric scan finds the first RPS where it holds, then bisection narrows the bracket
    before it down to 1 RPS.
    """
    if holds(1):
        return 1
    previous = 1
    for step in range(1, 401):
        rps = math.ceil(float(high) ** (step / 400))
        if rps <= previous:
            continue
        if holds(rps):
            low, up = previous, int(rps)  # not holding at low, holding at up
            while up - low > 1:
                middle = (low + up) // 2
                if holds(middle):
                    up = middle
                else:
                    low = middle
            return up
        previous = rps
    return None
