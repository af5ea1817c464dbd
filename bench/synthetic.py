"""A synthetic performance plan: the 2019 dataset multiplied ``scale`` times.

Pure data (docs/dataset-format.md), no Django: the result is a dataset dict for
``performance.services.cycle_load``. Copy 1 keeps the 2019 keys and titles, so ``scale=1`` is the
2019 dataset itself (stated figures included); copy ``c > 1`` suffixes every key below the Ente
("registro-imprese-7", "po-promozione-7") and every title (" [copia 7]"):

- units: the Ente root stays one; its subtree is repeated ``scale`` times under it;
- operational objectives: repeated per copy, each target's ``unit``/``office`` remapped to the
  units of that copy; Ente-level targets (no ``unit``) stay Ente-level in every copy, so each
  copy's indicators derive their Ente-table row exactly as in 2019;
- strategic objectives (table 3.1): ``scale`` copies under each strategic code (the perspectives
  and strategic codes themselves are not repeated);
- positions: repeated per copy (the Segretario Generale's copies stay on the Ente), each with
  its individual objectives;
- stated figures: only for ``scale=1`` (the 2019 document's figures mean nothing for a plan 50
  times as large).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path

BASE_DATASET = Path(__file__).resolve().parent.parent / "fixtures" / "cycle-2019.yaml"


def base_dataset() -> dict:
    from performance.dataset import read_dataset

    return read_dataset(BASE_DATASET)


def _suffix(key: str, index: int) -> str:
    return key if index == 1 else f"{key}-{index}"


def _title(title: str, index: int) -> str:
    return title if index == 1 else f"{title} [copia {index}]"


def _subtree_keys(units: Iterable[Mapping]) -> set[str]:
    keys: set[str] = set()
    for unit in units:
        keys.add(unit["key"])
        keys |= _subtree_keys(unit.get("children") or [])
    return keys


def _copy_unit(unit: Mapping, index: int) -> dict:
    out = {k: v for k, v in unit.items() if k != "children"}
    out["key"] = _suffix(unit["key"], index)
    out["name"] = _title(unit.get("name") or "", index)
    if "children" in unit:
        out["children"] = [_copy_unit(child, index) for child in unit["children"] or []]
    return out


def _copy_objective(objective: Mapping, index: int, remap: Mapping[str, str]) -> dict:
    out = copy.deepcopy(dict(objective))
    out["title"] = _title(out.get("title") or "", index)
    for indicator in out.get("indicators") or []:
        for target in indicator.get("targets") or []:
            for name in ("unit", "office"):
                if target.get(name) is not None:
                    target[name] = remap.get(target[name], target[name])
    return out


def synthetic_dataset(scale: int, base: Mapping | None = None) -> dict:
    """The 2019 dataset (or ``base``) multiplied ``scale`` times (see the module docstring)."""
    if scale < 1:
        raise ValueError("scale must be at least 1")
    base = base_dataset() if base is None else base
    roots = base.get("units") or []
    if len(roots) != 1:
        raise ValueError("the base dataset must have exactly one root unit (the Ente)")
    root = roots[0]
    below = _subtree_keys(root.get("children") or [])
    copies = range(1, scale + 1)
    remaps = {c: {key: _suffix(key, c) for key in below} for c in copies}

    data = {
        key: copy.deepcopy(value)
        for key, value in base.items()
        if key not in ("units", "positions", "perspectives", "operational", "individual", "stated")
    }
    if scale > 1:
        organization = dict(data.get("organization") or {})
        organization["name"] = f"{organization.get('name', 'Ente')} (piano sintetico ×{scale})"
        data["organization"] = organization
        cycle = dict(data.get("cycle") or {})
        cycle["title"] = f"{cycle.get('title', '')} – piano sintetico ×{scale}"
        data["cycle"] = cycle

    ente = {k: v for k, v in root.items() if k != "children"}
    ente["children"] = [
        _copy_unit(child, c) for c in copies for child in root.get("children") or []
    ]
    data["units"] = [ente]

    data["positions"] = []
    for c in copies:
        for position in base.get("positions") or []:
            out = dict(position)
            out["key"] = _suffix(position["key"], c)
            if position.get("unit") is not None:
                out["unit"] = remaps[c].get(position["unit"], position["unit"])
            data["positions"].append(out)

    data["perspectives"] = []
    for perspective in base.get("perspectives") or []:
        p_out = {k: v for k, v in perspective.items() if k != "strategic_objectives"}
        p_out["strategic_objectives"] = []
        for goal in perspective.get("strategic_objectives") or []:
            g_out = {k: v for k, v in goal.items() if k != "objectives"}
            g_out["objectives"] = [
                _copy_objective(objective, c, remaps[c])
                for c in copies
                for objective in goal.get("objectives") or []
            ]
            p_out["strategic_objectives"].append(g_out)
        data["perspectives"].append(p_out)

    data["operational"] = [
        _copy_objective(objective, c, remaps[c])
        for c in copies
        for objective in base.get("operational") or []
    ]

    data["individual"] = [
        {
            **{k: v for k, v in block.items() if k != "objectives"},
            "position": _suffix(block["position"], c),
            "objectives": [
                _copy_objective(objective, c, remaps[c])
                for objective in block.get("objectives") or []
            ],
        }
        for c in copies
        for block in base.get("individual") or []
    ]

    data["stated"] = copy.deepcopy(base.get("stated") or []) if scale == 1 else []
    return data


def _objectives(data: Mapping) -> Iterable[Mapping]:
    for perspective in data.get("perspectives") or []:
        for goal in perspective.get("strategic_objectives") or []:
            yield from goal.get("objectives") or []
    yield from data.get("operational") or []
    for block in data.get("individual") or []:
        yield from block.get("objectives") or []


def dataset_counts(data: Mapping) -> dict[str, int]:
    """Sizes of a dataset dict: units, positions, objectives, indicators, targets, actuals."""
    objectives = list(_objectives(data))
    indicators = [i for o in objectives for i in o.get("indicators") or []]
    targets = [t for i in indicators for t in i.get("targets") or []]
    return {
        "units": len(_subtree_keys(data.get("units") or [])),
        "positions": len(data.get("positions") or []),
        "objectives": len(objectives),
        "indicators": len(indicators),
        "targets": len(targets),
        "actuals": sum(1 for t in targets if t.get("actual") is not None),
        "stated": len(data.get("stated") or []),
    }
