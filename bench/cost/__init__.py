"""What each target costs per month: ``python -m bench cost [--rps 1,10,100] [--json]``.

Each target's total is everything its deployment creates: its own stack (Trident-Lambda,
-LambdaMI, -Fargate or -Ec2) plus Trident-Shared, as cdk/stacks and cdk/components build them
with the defaults of deployment/settings.py (Trident-LambdaMI with Trident-Lambda's on-demand
jobs function, which consumes its jobs). Prices come from bench/prices.toml (unit, region,
date checked and source for each); a month is 730 hours; free tiers are never applied.

Inputs: the average RPS, a peak-to-average ratio (containers are sized for the peak; Lambda
pays per request), per-request figures measured by ``python -m bench load`` and per-job ones
by ``python -m bench worker`` (read from the latest bench/results/*/results.json unless
``--no-measured``), each overridable by a flag.
Every input appears under ``assumptions``, marked ``measured`` or ``assumed``.

Keys of the JSON (stable; other tools read them): ``monthly_usd[target][rps]`` (total),
``line_items[target][rps][item]``, ``crossover_rps[lambda_mi|fargate|ec2]`` (the lowest
average RPS, to 1 RPS, at which that target costs less than Lambda; null if never up to
1 000 000; ``crossover_rps_direct_alb`` the same with the containers on a direct ALB),
``assumptions[name] = {value, source, note}``, ``notes`` (limits of the model).

This module makes the document and the command; the parts are modules of this package:
``prices`` (bench/prices.toml), ``inputs`` (every input), ``measured`` (those a bench run
measured), ``model`` (line items per target), ``managed`` (the capacity Lambda Managed
Instances keep at a load), ``limits`` (where a load exceeds the stack), ``choices``
(SnapStart, Fargate Spot, a Savings Plan, Graviton: what each adds or discounts),
``crossover`` (where a target gets cheaper than Lambda) and ``sensitivity``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from bench.cost.inputs import InputError, Inputs, lambda_cpu_scale, profile_changes
from bench.cost.limits import warnings as limit_warnings
from bench.cost.measured import latest_results, measured_inputs
from bench.cost.model import TARGETS, Model, rps_key
from bench.cost.prices import Prices, load_prices
from bench.cost.sensitivity import crossovers, sensitivity
from deployment.settings import PROFILES


def _monthly(engine: Model) -> dict[str, dict[str, float]]:
    return {
        target: {rps_key(rps): round(engine.total(target, rps), 2) for rps in engine.inputs.rps}
        for target in TARGETS
    }


def _profile_view(inputs: Inputs, prices: Prices) -> dict[str, Any]:
    """Totals, crossovers and warnings of one deployment profile, in both front-door modes."""
    cloudfront = Model(inputs.replace(direct_alb=False), prices)
    return {
        "monthly_usd": _monthly(cloudfront),
        "monthly_usd_direct_alb": _monthly(Model(inputs.replace(direct_alb=True), prices)),
        **crossovers(inputs, prices),
        "warnings": [hit.as_json() for hit in limit_warnings(cloudfront)],
    }


def model(inputs: Inputs, prices: Prices | None = None) -> dict[str, Any]:
    """The whole JSON document (see the module docstring)."""
    prices = prices or load_prices()
    engine = Model(inputs, prices)
    items: dict[str, dict[str, dict[str, float]]] = {}
    for target in TARGETS:
        items[target] = {}
        for rps in inputs.rps:
            lines = engine.line_items(target, rps)
            items[target][rps_key(rps)] = {name: round(usd, 2) for name, usd in lines.items()}
    own = _profile_view(inputs.replace(direct_alb=False), prices)
    others = {
        name: _profile_view(inputs.replace(**profile_changes(name), profile=name), prices)
        for name in PROFILES
        if name != inputs.profile
    }
    return {
        "profile": inputs.profile,
        "monthly_usd": _monthly(engine),
        "line_items": items,
        "crossover_rps": own["crossover_rps"],
        "crossover_rps_direct_alb": own["crossover_rps_direct_alb"],
        "monthly_usd_direct_alb": own["monthly_usd_direct_alb"],
        "warnings": own["warnings"],
        "profiles": {inputs.profile: own, **others},
        "sensitivity": sensitivity(inputs, prices),
        "sizing": {
            rps_key(rps): {
                "fargate_web_tasks": engine.fargate_tasks(rps)[0],
                "fargate_worker_tasks": engine.fargate_tasks(rps)[1],
                "ec2_instances": engine.ec2_instances(rps),
                "lambda_mi_environments": engine.lambda_mi_size(rps).environments,
                "lambda_mi_instances": engine.lambda_mi_size(rps).instances,
            }
            for rps in inputs.rps
        },
        "assumptions": inputs.assumptions(),
        "notes": engine.notes(),
        "prices": {
            name: {
                "usd": price.usd,
                "tiers": [list(tier) for tier in price.tiers] or None,
                "per": price.per,
                "unit": price.unit,
                "checked": price.checked,
                "source": price.source,
            }
            for name, price in engine.prices.items.items()
        },
    }


def _parse_value(name: str, raw: str) -> Any:
    kinds = {spec.name: str(spec.type) for spec in fields(Inputs) if spec.name != "measured"}
    if name not in kinds:
        raise SystemExit(f"--set: unknown input {name!r}; the inputs are: {', '.join(kinds)}")
    kind = kinds[name]
    if kind.endswith(" | None"):
        if raw.lower() in {"", "none", "null"}:
            return None
        kind = kind.removesuffix(" | None")
    try:
        if kind == "bool":
            if raw.lower() not in _BOOLEANS:
                raise ValueError(raw)
            return _BOOLEANS[raw.lower()]
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind.startswith("tuple"):
            return tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise SystemExit(f"--set {name}={raw!r}: not a valid {kind}") from None
    return raw


_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True}
_BOOLEANS |= {"0": False, "false": False, "no": False, "off": False}


def build_inputs(args: argparse.Namespace) -> Inputs:
    profile = args.profile or "default"
    if profile not in PROFILES:
        raise SystemExit(f"--profile {profile!r}: one of {', '.join(PROFILES)}")
    inputs = Inputs.for_profile(profile)
    if not args.no_measured:
        path = args.measured or latest_results()
        if path is not None and path.exists():
            inputs = measured_inputs(json.loads(path.read_text()), inputs)
    flags: dict[str, Any] = {}
    for name in (
        "peak_ratio",
        "lambda_memory_mb",
        "lambda_init_ms",
        "cold_start_rate",
        "server_cpu_ms",
        "min_tasks",
        "min_instances",
    ):
        if (value := getattr(args, name)) is not None:
            flags[name] = value
    if args.rps:
        flags["rps"] = tuple(float(part) for part in args.rps.split(","))
    if args.lambda_duration_ms is not None:
        # A duration on Lambda itself: no conversion from this machine's timing.
        flags["lambda_duration_ms"] = args.lambda_duration_ms
        flags["lambda_cpu_scale"] = 1.0
    elif "lambda_memory_mb" in flags and "lambda_duration_ms" in inputs.measured:
        flags["lambda_cpu_scale"] = lambda_cpu_scale(flags["lambda_memory_mb"])
    if args.direct_alb:
        flags["direct_alb"] = True
    for item in args.set or ():
        name, _, raw = item.partition("=")
        flags[name.strip()] = _parse_value(name.strip(), raw.strip())
    if {"lambda_duration_ms", "lambda_cpu_scale", "lambda_memory_mb"} & set(flags):
        # The measured per-invoke billing was at the measured duration and scale: with either
        # changed, only the mean is known.
        flags.setdefault("lambda_billed_ms", None)
    try:
        return inputs.replace(**flags, measured=inputs.measured - set(flags))
    except InputError as exc:
        raise SystemExit(f"bad input: {exc}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench cost", description=(__doc__ or "").split("\n", 1)[0]
    )
    p.add_argument("--rps", help="comma-separated average RPS values (default 1,10,100,1000,10000)")
    p.add_argument("--peak-ratio", type=float)
    p.add_argument("--lambda-duration-ms", type=float, help="mean API invoke on Lambda")
    p.add_argument("--lambda-memory-mb", type=int)
    p.add_argument("--lambda-init-ms", type=float)
    p.add_argument("--cold-start-rate", type=float, help="cold starts per invoke, e.g. 0.01")
    p.add_argument("--server-cpu-ms", type=float, help="container CPU ms per request")
    p.add_argument("--min-tasks", type=int, help="Fargate web tasks at least")
    p.add_argument("--min-instances", type=int, help="EC2 instances at least")
    p.add_argument("--direct-alb", action="store_true", help="internet-facing ALB, no CloudFront")
    p.add_argument("--profile", help=f"deployment profile: {', '.join(PROFILES)} (default)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="any other input")
    p.add_argument("--measured", type=Path, help="results.json to take measurements from")
    p.add_argument("--no-measured", action="store_true", help="assumptions only")
    p.add_argument("--json", action="store_true")
    return p


def render_text(document: Mapping[str, Any]) -> str:
    rps_keys = list(next(iter(document["monthly_usd"].values())))
    lines = [f"{'avg RPS':>10} " + " ".join(f"{t:>12}" for t in TARGETS)]
    for key in rps_keys:
        row = " ".join(f"{document['monthly_usd'][t][key]:>12,.2f}" for t in TARGETS)
        lines.append(f"{key:>10} {row}")
    for target, rps in document["crossover_rps"].items():
        lines.append(f"{target} cheaper than lambda from: {rps if rps else 'never'} RPS")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        document = model(build_inputs(args))
    except InputError as exc:  # before anything is written
        raise SystemExit(f"python -m bench cost: {exc}") from None
    if args.json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        sys.stdout.write(render_text(document) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
