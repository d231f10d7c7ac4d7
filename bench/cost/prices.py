"""Prices for the cost model: bench/prices.toml (every price with its unit, region, date
checked and source page), read into ``Prices``."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PRICES_PATH = Path(__file__).parent.with_name("prices.toml")


@dataclass(frozen=True)
class Price:
    """``usd`` for ``per`` units; with ``tiers``, ``(up_to units per month, usd per `per`)``."""

    name: str
    per: float
    unit: str
    region: str
    checked: str
    source: str
    usd: float | None = None
    tiers: tuple[tuple[float, float], ...] = ()

    def cost(self, quantity: float) -> float:
        """The monthly cost of ``quantity`` units (tiers applied in order)."""
        if not self.tiers:
            assert self.usd is not None
            return quantity / self.per * self.usd
        total, floor = 0.0, 0.0
        for up_to, usd in self.tiers:
            if quantity <= floor:
                break
            total += (min(quantity, up_to) - floor) / self.per * usd
            floor = up_to
        return total

    @property
    def unit_price(self) -> float:
        """The first tier's price of one unit."""
        usd = self.usd if self.usd is not None else self.tiers[0][1]
        return usd / self.per


@dataclass(frozen=True)
class Prices:
    hours_per_month: float
    region: str
    items: Mapping[str, Price]

    def __getitem__(self, name: str) -> Price:
        try:
            return self.items[name]
        except KeyError:
            raise KeyError(f"no price {name!r} in {PRICES_PATH.name}: add it there") from None

    @property
    def seconds_per_month(self) -> float:
        return self.hours_per_month * 3600


def load_prices(path: Path = PRICES_PATH) -> Prices:
    data = tomllib.loads(path.read_text())
    meta = data.pop("meta")
    items: dict[str, Price] = {}
    for name, entry in data.items():
        missing = {"per", "unit", "region", "checked", "source"} - set(entry)
        if missing or ("usd" in entry) == ("tiers" in entry):
            raise ValueError(f"{path.name} [{name}]: needs usd or tiers, and {sorted(missing)}")
        items[name] = Price(
            name=name,
            per=float(entry["per"]),
            unit=entry["unit"],
            region=entry["region"],
            checked=entry["checked"],
            source=entry["source"],
            usd=entry.get("usd"),
            tiers=tuple((float(up), float(usd)) for up, usd in entry.get("tiers", ())),
        )
    return Prices(
        hours_per_month=float(meta["hours_per_month"]), region=meta["region"], items=items
    )
