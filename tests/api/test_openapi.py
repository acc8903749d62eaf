"""The OpenAPI document is the contract: generated from the code, committed, checked here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.test import Client

from tests.api.conftest import World, problem

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_document_matches_the_code() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("openapi_script", ROOT / "scripts" / "openapi.py")
    assert spec is not None
    assert spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    committed = (ROOT / "docs" / "openapi.json").read_text()

    assert committed == script.render(), "docs/openapi.json is stale: run `make openapi` and commit it"


def test_the_document_is_served_and_every_operation_needs_a_bearer_token(db: None) -> None:
    document = Client().get("/api/v1/openapi.json").json()

    operations = [op for path in document["paths"].values() for op in path.values()]
    assert len(operations) == 20
    assert {json.dumps(op.get("security")) for op in operations} == {json.dumps([{"CognitoBearer": []}])}


def test_a_body_over_the_limit_is_413_before_it_is_read(world: World, settings: Any) -> None:
    settings.API_MAX_BODY_BYTES = 100
    response = world.client("plain").patch(
        "/api/v1/me/preferences",
        data=json.dumps({"language": "en", "pad": "x" * 200}),
        content_type="application/json",
    )

    assert (response.status_code, problem(response)["type"]) == (
        413,
        "urn:gatehouse:problem:payload-too-large",
    )


def test_an_unknown_api_path_is_a_plain_404(world: World) -> None:
    response = world.client("plain").get("/api/v1/nothing-here")

    assert response.status_code == 404
