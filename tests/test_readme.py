"""The README's configuration table is the user's reference: it must name every setting."""

from __future__ import annotations

from app.config import VARIABLES
from tests.conftest import REPO


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    missing = [name for name in VARIABLES if f"| `{name}` |" not in readme]
    assert missing == [], f"add these to the README configuration table: {missing}"


def test_readme_shows_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text()
    assert "make dev" in readme
    assert "make test" in readme
