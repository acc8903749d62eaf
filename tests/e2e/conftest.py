"""End-to-end harness: cognito-local (npm) calls Gatehouse's triggers through serve_triggers.

cognito-local is the user pool (SignUp, ConfirmSignUp, InitiateAuth, ForgotPassword);
its Lambda client points at an in-process serve_triggers, which runs the real
dispatcher against the test database; side effects go to cognito-local (the Cognito
admin API) and to moto's server (SES). The app side is plain boto3.

cognito-local invokes only some triggers (see docs/deploy.md); every one it invokes is
wired, so a handler that goes missing fails these tests instead of skipping them.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from outbox.aws import reset_clients
from tests.conftest import free_port, missing_part
from triggers.management.commands.serve_triggers import InvokeServer

REPO = Path(__file__).resolve().parents[2]
COGNITO_LOCAL = REPO / "e2e" / "node_modules" / "cognito-local" / "lib" / "bin" / "start.js"
# cognito-local's start.js with a logger that writes every line (see the script for why).
COGNITO_LOCAL_LAUNCHER = REPO / "e2e" / "start_cognito_local.js"
# cognito-local sends every code it "delivers" as this value when CODE is set.
CONFIRMATION_CODE = "246810"
REGION = "us-east-1"

# cognito-local's TriggerFunctions keys (all it can invoke) -> the family whose module answers.
COGNITO_LOCAL_TRIGGERS: dict[str, str] = {
    "PreSignUp": "PreSignUp",
    "PostConfirmation": "PostConfirmation",
    "PreTokenGeneration": "TokenGeneration",
    "PostAuthentication": "PostAuthentication",
    "CustomMessage": "CustomMessage",
    "UserMigration": "UserMigration",
}


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"cognito-local exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(
        f"cognito-local did not listen on {port} within {timeout}s:\n{log.read_text()[-3000:]}"
    )


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class CognitoLocal:
    url: str
    log: Path
    triggers: InvokeServer
    wired: dict[str, str]

    def client(self) -> Any:
        """A Cognito client as an app would create one, pointed at the emulator."""
        return boto3.client(
            "cognito-idp",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def lambda_client(self) -> Any:
        """A Lambda client on serve_triggers: to call a trigger cognito-local never calls."""
        return boto3.client(
            "lambda",
            endpoint_url=self.triggers.url,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def log_text(self) -> str:
        return _ANSI.sub("", self.log.read_text(errors="replace"))

    def deliveries(self) -> list[dict[str, str]]:
        """The messages cognito-local "sent": it prints each one in a box instead of emailing it."""
        found = []
        for block in self.log_text().split("Confirmation Code Delivery")[1:]:
            fields: dict[str, str] = {}
            current = ""
            for line in block.splitlines():
                if line.lstrip().startswith("╰"):
                    break
                content = line.strip().strip("│").strip()
                match = re.match(
                    r"^(Username|Destination|Code|Email Subject|Email Message|SMS Message):\s(.*)$", content
                )
                if match:
                    current = match[1]
                    fields[current] = match[2].strip()
                elif current and content:
                    fields[current] += "\n" + content
            found.append(fields)
        return found

    def wait_for_delivery(self, *, after: int, timeout: float = 10.0) -> dict[str, str]:
        """The first message delivered after `after` earlier ones, once its box is fully printed.

        pino hands each line through a stream pipeline, so the box may land a few ticks after
        cognito-local has answered the API call that delivered it.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text()
            blocks = text.split("Confirmation Code Delivery")[1:]
            if len(blocks) > after and "╰" in blocks[after]:
                return self.deliveries()[after]
            time.sleep(0.05)
        raise AssertionError(
            f"cognito-local delivered no message after the first {after} in {timeout} s:\n"
            + self.log_text()[-3000:]
        )


@pytest.fixture(scope="session")
def triggers_server(django_db_setup: None, django_db_blocker: Any) -> Iterator[InvokeServer]:
    """serve_triggers in this process: its threads use the test database like the test does."""
    server = InvokeServer(("127.0.0.1", 0))
    server.start_in_thread()
    with django_db_blocker.unblock():
        yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def cognito_local(
    triggers_server: InvokeServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CognitoLocal]:
    node = shutil.which("node")
    if not COGNITO_LOCAL.is_file() or node is None:
        missing_part("cognito-local is not installed: run scripts/setup.sh (scripts/setup.d/20-node.sh)")
    workdir = tmp_path_factory.mktemp("cognito-local")
    # A function name per trigger, named like the trigger, so cognito-local's errors read as
    # Cognito's own: "PreSignUp failed with error <message>."
    wired = {name: name for name in COGNITO_LOCAL_TRIGGERS}
    port = free_port()
    config = {
        "LambdaClient": {
            "endpoint": triggers_server.url,
            "region": REGION,
            "credentials": {"accessKeyId": "local", "secretAccessKey": "local"},
            # One try: a failing trigger must show, not be retried by the SDK.
            "maxRetries": 0,
        },
        "TriggerFunctions": wired,
        "UserPoolDefaults": {"UsernameAttributes": ["email"]},
        "TokenConfig": {"IssuerDomain": f"http://127.0.0.1:{port}"},
    }
    (workdir / ".cognito").mkdir()
    (workdir / ".cognito" / "config.json").write_text(json.dumps(config, indent=2))
    log = workdir / "cognito-local.log"
    env = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "CODE": CONFIRMATION_CODE,
        # Boxes are wrapped at the terminal width; a wide one keeps each field on its lines.
        "COLUMNS": "1000",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [node, str(COGNITO_LOCAL_LAUNCHER), str(COGNITO_LOCAL)],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        _wait_for_port(port, process, log)
        yield CognitoLocal(url=f"http://127.0.0.1:{port}", log=log, triggers=triggers_server, wired=wired)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass
class Pool:
    id: str
    client_id: str
    cognito: Any  # the app's boto3 client

    def sign_up(self, email: str, password: str, **metadata: str) -> dict[str, Any]:
        return self.cognito.sign_up(
            ClientId=self.client_id,
            Username=email,
            Password=password,
            UserAttributes=[{"Name": "email", "Value": email}],
            ClientMetadata=metadata,
        )

    def sign_in(self, email: str, password: str) -> dict[str, Any]:
        return self.cognito.initiate_auth(
            ClientId=self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )


@pytest.fixture
def pool(
    cognito_local: CognitoLocal,
    aws: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    transactional_db: None,
) -> Iterator[Pool]:
    """A fresh user pool and app client in cognito-local; Gatehouse's side effects wired to it.

    Gatehouse's own boto3 clients reach cognito-local for the Cognito admin API and moto
    for SES, through botocore's per-service endpoint variables.
    """
    cognito = cognito_local.client()
    pool_id = cognito.create_user_pool(
        PoolName=f"gatehouse-e2e-{uuid.uuid4().hex[:8]}",
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
    )["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="web",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    settings.COGNITO_USER_POOL_ID = pool_id
    settings.COGNITO_APP_CLIENT_ID = client_id
    settings.AWS_ENDPOINT_URL = None
    monkeypatch.setenv("AWS_ENDPOINT_URL_SES", aws.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", cognito_local.url)
    reset_clients()
    yield Pool(id=pool_id, client_id=client_id, cognito=cognito)
    reset_clients()


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (cognito-local signs with its own published key)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
