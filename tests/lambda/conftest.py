"""The admin as Lambda runs it: backoffice.asgi.handler in a process with production settings.

Production settings (secure cookies, SSL redirect, HSTS, the manifest static storage that
needs collectstatic) are fixed when Django starts, so the handler runs in a child process
that reads one Lambda event per line on stdin and writes mangum's answer on stdout.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
HTTP_API_HOST = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
FUNCTION_URL_HOST = "abcdefghijklmnopqrstuvwxyz234567.lambda-url.us-east-1.on.aws"

DRIVER = """
import json, sys
from backoffice.asgi import handler

class Context:
    aws_request_id = "test"
    function_name = "gatehouse-admin"
    def get_remaining_time_in_millis(self):
        return 30000

print("ready", flush=True)
for line in sys.stdin:
    print(json.dumps(handler(json.loads(line), Context())), flush=True)
"""


def _production_env(*, static_root: Path, database_url: str, script_name: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backoffice.settings",
        "GATEHOUSE_ENV": "production",
        "OUTBOX_ENCRYPTION_KEYS": "dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHQ=",
        "ENV_FILE": "",
        "SECRET_KEY": "lambda-admin-test-" + "k" * 40,
        "DATABASE_URL": database_url,
        "ALLOWED_HOSTS": f"{HTTP_API_HOST},{FUNCTION_URL_HOST}",
        "STATIC_ROOT": str(static_root),
        "FORCE_SCRIPT_NAME": script_name,
        "AXES_ENABLED": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """collectstatic as build_lambda runs it: hashed names and compressed copies (manifest storage)."""
    root = tmp_path_factory.mktemp("staticfiles")
    env = _production_env(
        static_root=root, database_url="postgres://postgres@127.0.0.1:5432/postgres", script_name=""
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )
    assert (root / "staticfiles.json").is_file()
    return root


def _test_database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    host = s["HOST"] or "127.0.0.1"
    if host.startswith("/"):
        return f"postgres://{auth}@/{s['NAME']}?host={host}"
    return f"postgres://{auth}@{host}:{s['PORT'] or 5432}/{s['NAME']}"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    cookies: list[str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class LambdaAdmin:
    """A browser's view of the admin function: events in, answers out, cookies carried."""

    process: subprocess.Popen[str]
    host: str
    prefix: str  # the API Gateway stage in the path ("/prod"), or "" for a Function URL
    function_url: bool
    jar: dict[str, str] = field(default_factory=dict)

    def event(self, method: str, path: str, *, query: str = "", form: dict[str, str] | None = None) -> dict:
        """An API Gateway HTTP API (payload 2.0) or Function URL event, as AWS sends them."""
        raw_path = self.prefix + path
        headers = {
            "host": self.host,
            "x-forwarded-proto": "https",
            "x-forwarded-port": "443",
            "x-forwarded-for": "203.0.113.7",
            "user-agent": "Mozilla/5.0 (gatehouse tests)",
            "accept": "text/html,*/*",
        }
        body: str | None = None
        encoded = False
        if form is not None:
            headers["content-type"] = "application/x-www-form-urlencoded"
            headers["origin"] = f"https://{self.host}"
            headers["referer"] = f"https://{self.host}{raw_path}"
            body = urlencode(form)
            if self.function_url:
                # Function URLs base64-encode request bodies.
                body, encoded = base64.b64encode(body.encode()).decode(), True
        now = time.time()
        stage = "$default" if self.function_url else self.prefix.strip("/") or "$default"
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": "$default" if self.function_url else "ANY /{proxy+}",
            "rawPath": raw_path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "anonymous" if self.function_url else "123456789012",
                "apiId": self.host.split(".")[0],
                "domainName": self.host,
                "domainPrefix": self.host.split(".")[0],
                "http": {
                    "method": method,
                    "path": raw_path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.7",
                    "userAgent": headers["user-agent"],
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": "$default" if self.function_url else "ANY /{proxy+}",
                "stage": stage,
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": encoded,
        }
        if not self.function_url:
            event["pathParameters"] = {"proxy": path.lstrip("/")}
        if query:
            event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
        if body is not None:
            event["body"] = body
        if self.jar:
            event["cookies"] = [f"{k}={v}" for k, v in self.jar.items()]
        return event

    def send(self, event: dict) -> Answer:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(event) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the handler process died"
        raw = json.loads(line)
        body = raw.get("body") or ""
        data = base64.b64decode(body) if raw.get("isBase64Encoded") else body.encode()
        cookies = raw.get("cookies") or []
        for cookie in cookies:
            parsed = SimpleCookie()
            parsed.load(cookie)
            for name, morsel in parsed.items():
                self.jar[name] = morsel.value
        headers = {k.lower(): v for k, v in (raw.get("headers") or {}).items()}
        return Answer(status=raw["statusCode"], headers=headers, cookies=cookies, body=data)

    def get(self, url_or_path: str) -> Answer:
        parts = urlsplit(url_or_path)
        path = parts.path
        if self.prefix:
            assert path.startswith(self.prefix + "/"), f"{path} lacks the stage prefix {self.prefix}"
            path = path[len(self.prefix) :]
        return self.send(self.event("GET", path, query=parts.query))

    def post(self, path: str, form: dict[str, str], query: str = "") -> Answer:
        return self.send(self.event("POST", path, query=query, form=form))


def _start(static_root: Path, *, prefix: str, log: Path) -> subprocess.Popen[str]:
    env = _production_env(static_root=static_root, database_url=_test_database_url(), script_name=prefix)
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", DRIVER],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
        )
    assert process.stdout is not None
    ready = process.stdout.readline().strip()
    assert ready == "ready", log.read_text()[-3000:]
    return process


@pytest.fixture(scope="session")
def _admin_processes(
    collected_static: Path, django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, subprocess.Popen[str]]]:
    """One warm admin function per deployment shape, reused across tests like a warm container."""
    logs = tmp_path_factory.mktemp("admin-lambda")
    processes = {
        "http-api-stage": _start(collected_static, prefix="/prod", log=logs / "http-api.log"),
        "function-url": _start(collected_static, prefix="", log=logs / "function-url.log"),
    }
    yield processes
    for process in processes.values():
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(params=["http-api-stage", "function-url"])
def lambda_admin(
    request: pytest.FixtureRequest, _admin_processes: dict[str, subprocess.Popen[str]], transactional_db: None
) -> LambdaAdmin:
    """The admin function behind an HTTP API stage named prod, and behind a Function URL.

    Each test starts as a new browser (empty cookie jar); the database is the test's.
    """
    function_url = request.param == "function-url"
    return LambdaAdmin(
        process=_admin_processes[request.param],
        host=FUNCTION_URL_HOST if function_url else HTTP_API_HOST,
        prefix="" if function_url else "/prod",
        function_url=function_url,
    )
