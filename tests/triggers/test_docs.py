"""The trigger tables in README.md and docs/triggers.md match the registry, handler by handler."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from django.conf import settings

from triggers import registry

DOCS = [Path(settings.BASE_DIR) / "README.md", Path(settings.BASE_DIR) / "docs" / "triggers.md"]


def table_rows(doc: Path) -> list[list[str]]:
    rows = []
    for line in doc.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].startswith("`triggers."):
            rows.append(cells)
    return rows


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_family_in_the_registry_has_its_row_with_the_right_handler(doc):
    documented = {}
    for sources, module, _service in table_rows(doc):
        first = re.search(r"`([A-Za-z]+)_", sources).group(1)
        documented[first] = module.strip("`")
    expected = {
        family: f"{registry.FAMILIES[family]}.{registry.ENTRY_POINTS[family]}" for family in registry.FAMILIES
    }
    assert documented == expected


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_the_handlers_and_services_named_exist(doc):
    for _sources, handler, services in table_rows(doc):
        for name in [handler.strip("`"), *re.findall(r"`([a-z_.]+)`", services)]:
            module, _, function = name.rpartition(".")
            assert hasattr(importlib.import_module(module), function), name
