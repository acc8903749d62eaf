"""`make run`'s launcher: the embedded AWS up on free ports, the admin served, all stopped on exit."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.db import connection

from tests.conftest import free_port, missing_part
from tests.e2e.conftest import COGNITO_LOCAL, REPO

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def _wait_for(
    out: Path, pattern: str, process: subprocess.Popen[bytes], timeout: float = 120
) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = out.read_text(errors="replace")
        if match := re.search(pattern, text):
            return match
        if process.poll() is not None:
            raise AssertionError(f"the launcher exited with {process.returncode}:\n{text[-4000:]}")
        time.sleep(0.2)
    raise AssertionError(f"no {pattern!r} within {timeout} s:\n{out.read_text(errors='replace')[-4000:]}")


def test_make_run_starts_the_embedded_aws_and_stops_everything_it_started(tmp_path: Path) -> None:
    if shutil.which("node") is None or not COGNITO_LOCAL.is_file():
        missing_part("cognito-local is not installed: run scripts/setup.sh (scripts/setup.d/20-node.sh)")
    settings_dict: dict[str, Any] = connection.settings_dict
    database_url = (
        f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT'] or 5432}/"
        f"{settings_dict['NAME']}"
    )
    port = free_port()
    out = tmp_path / "out.log"
    env = {
        **os.environ,
        "GATEHOUSE_LOCAL_DIR": str(tmp_path / "local"),
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "ENV_FILE": "",
        "GATEHOUSE_ENV": "development",
    }
    with out.open("wb") as sink:
        launcher = subprocess.Popen(
            [sys.executable, "scripts/run_local.py"], cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        _wait_for(out, r"Gatehouse is running", launcher)
        text = out.read_text()
        moto_url = re.search(r"AWS \(moto\)\s+(http://\S+)", text)[1]
        cognito_url, pool_id, client_id = re.search(
            r"Cognito\s+(http://\S+)\s+pool (\S+), app client (\S+)", text
        ).groups()
        state = json.loads((tmp_path / "local" / "run.json").read_text())
        assert [entry["name"] for entry in state] == [
            "make run",
            "moto",
            "cognito-local",
            "serve_triggers",
            "runserver",
        ]
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz").read() == b"ok"
        # Static files as in production: hashed names, compressed, cached for a year.
        login = urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/").read().decode()
        css = re.search(r'href="(/static/gatehouse/admin\.[0-9a-f]{12}\.css)"', login)[1]
        static = urllib.request.urlopen(
            urllib.request.Request(f"http://127.0.0.1:{port}{css}", headers={"Accept-Encoding": "gzip"})
        )
        assert static.headers["Cache-Control"] == "max-age=315360000, public, immutable"
        assert static.headers["Content-Encoding"] == "gzip"
        # The token issuer names the port cognito-local runs on this time.
        config = json.loads((tmp_path / "local" / "cognito" / ".cognito" / "config.json").read_text())
        assert config["TokenConfig"]["IssuerDomain"] == cognito_url
        # A seeded member signs in through cognito-local, which runs Gatehouse's triggers.
        cognito = boto3.client("cognito-idp", endpoint_url=cognito_url, region_name="us-east-1")
        tokens = cognito.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "alice@acme.com", "PASSWORD": "Demo-password-1"},
        )["AuthenticationResult"]
        from tests.e2e.conftest import jwt_claims

        claims = jwt_claims(tokens["IdToken"])
        assert (claims["custom:role"], claims["iss"]) == ("ADMIN", f"{cognito_url}/{pool_id}")
        # The welcome emails went to the local SES, which the mailbox reads.
        data = json.load(urllib.request.urlopen(f"{moto_url}/moto-api/data.json"))
        assert sorted(m["destinations"]["ToAddresses"][0] for m in data["ses"]["Message"]) == [
            "alice@acme.com",
            "bob@acme.com",
            "dana@acme.com",
        ]
    finally:
        launcher.send_signal(signal.SIGINT)  # what Ctrl-C does
        launcher.wait(timeout=60)
    text = out.read_text()
    assert "run: stopped runserver, serve_triggers, cognito-local, moto" in text
    assert not any(_alive(entry["pid"]) for entry in state[1:])
    assert not (tmp_path / "local" / "run.json").exists()
