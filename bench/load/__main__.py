"""``python -m bench.load``: the same as ``python -m bench load``."""

from bench.load import main

raise SystemExit(main())
