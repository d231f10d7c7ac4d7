"""``python -m bench.cost``: the same as ``python -m bench cost``."""

from bench.cost import main

raise SystemExit(main())
