"""Legacy-user CSV text for tests, in the column order the import reads."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from tenants.legacy_import import OPTIONAL_COLUMNS, REQUIRED_COLUMNS


def legacy_users_csv(rows: Iterable[dict[str, Any]]) -> str:
    columns = [*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: row.get(key, "") for key in columns})
    return out.getvalue()
