"""Reading a cycle dataset (docs/dataset-format.md) from YAML.

Numbers with a decimal point are read as `Decimal` with the decimals as written ("99.90" stays
99.90), so a stated figure keeps its precision and no float rounding creeps in.
"""

from decimal import Decimal
from pathlib import Path

import yaml


class _Loader(yaml.SafeLoader):
    pass


def _decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    return Decimal(loader.construct_scalar(node).replace("_", ""))


_Loader.add_constructor("tag:yaml.org,2002:float", _decimal)


def read_dataset(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=_Loader)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: il file non contiene un ciclo (mappa YAML attesa)")
    return data
