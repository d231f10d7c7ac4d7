"""``python -m bench.report``: the same as ``python -m bench report``."""

from bench.report import main

raise SystemExit(main())
