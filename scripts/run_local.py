"""`make run`: Gatehouse with an embedded AWS on this machine, and everything stopped on Ctrl-C.

    .venv/bin/python scripts/run_local.py          start (what `make run` does)
    .venv/bin/python scripts/run_local.py stop     stop what a run left behind (`make stop`)
    .venv/bin/python scripts/run_local.py reset    stop, then delete .local/ (`make reset`)

Started, in this order, each on a free port (printed at the end):
- the embedded Postgres in .local/pgdata/ (unless DATABASE_URL is set), by loading the settings;
- moto's server for SES, SNS, SQS and KMS (in memory: its mailbox starts empty every run);
- cognito-local (e2e/node_modules) with its data in .local/cognito/, its token issuer on its own
  port and its Lambda client on Gatehouse's serve_triggers, so every trigger it supports runs
  for real when its API is called; the user pool and app client are created once and kept;
- migrations, seed_demo (members through the real trigger flow), serve_triggers, runserver.

The Django processes get the emulators through LOCAL_AWS_URL and LOCAL_COGNITO_URL, which the
settings honour only outside production. Each child runs in its own session so a Ctrl-C reaches
only this launcher, which then stops them in reverse order by their ids (recorded in
.local/run.json for `make stop`), and the embedded Postgres last.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# GATEHOUSE_LOCAL_DIR moves it (a test runs the launcher in a temporary folder).
LOCAL = Path(os.environ.get("GATEHOUSE_LOCAL_DIR") or ROOT / ".local")
PGDATA = LOCAL / "pgdata"
COGNITO_DIR = LOCAL / "cognito"
LOGS = LOCAL / "logs"
STATE = LOCAL / "run.json"
POOL_FILE = COGNITO_DIR / "gatehouse-pool.json"
COGNITO_LOCAL = ROOT / "e2e" / "node_modules" / "cognito-local" / "lib" / "bin" / "start.js"
# cognito-local's own start.js with a logger that loses no line (see the script for why).
COGNITO_LOCAL_LAUNCHER = ROOT / "e2e" / "start_cognito_local.js"
REGION = "us-east-1"
POOL_NAME = "gatehouse-local"
# cognito-local's TriggerFunctions keys: every trigger it can invoke (docs/deploy.md).
COGNITO_LOCAL_TRIGGERS = (
    "PreSignUp",
    "PostConfirmation",
    "PreTokenGeneration",
    "PostAuthentication",
    "CustomMessage",
    "UserMigration",
)
PYTHON = sys.executable


def say(message: str) -> None:
    print(f"run: {message}", flush=True)


def free_port(preferred: int | None = None) -> int:
    """`preferred` when nothing listens there, else any port the system hands out."""
    if preferred:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    name: str, port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise SystemExit(f"run: error: {name} exited with {process.returncode} (log {log}):\n{tail}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"run: error: {name} did not listen on port {port} within {timeout:.0f} s (log {log})")


# --- what a run started: recorded so `make stop` can end exactly those -------------------


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _record(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    # The launcher first: `make stop` from another terminal asks it to stop its children itself.
    launcher = {"name": "make run", "pid": os.getpid(), "cmdline": _cmdline(os.getpid()), "group": False}
    entries = [
        {"name": name, "pid": p.pid, "cmdline": _cmdline(p.pid), "group": True} for name, p in children
    ]
    STATE.write_text(json.dumps([launcher, *entries]))


def _stop_group(name: str, pid: int, timeout: float = 10) -> None:
    """SIGTERM the child's process group (runserver's reloader has a child of its own), then KILL."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.killpg(pid, 0)  # raises ProcessLookupError once the whole group is gone
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        say(f"{name} did not stop within {timeout:.0f} s: killing it")
        os.killpg(pid, signal.SIGKILL)


def _stop_one(pid: int, timeout: float = 30) -> None:
    """SIGTERM one process (a launcher, which stops its own children) and wait for it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _cmdline(pid):
            time.sleep(0.1)


def stop_embedded_postgres() -> None:
    """Fast shutdown of the embedded Postgres (pgserver leaves it running on purpose)."""
    pid_file = PGDATA / "postmaster.pid"
    if not pid_file.is_file():
        return
    try:
        pid = int(pid_file.read_text().split()[0])
    except (ValueError, IndexError):
        return
    if "postgres" not in _cmdline(pid):
        return  # a stale file: the server is gone and the pid belongs to something else
    os.kill(pid, signal.SIGINT)  # SIGINT is Postgres's "fast" shutdown
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _cmdline(pid):
        time.sleep(0.1)
    say("stopped the embedded Postgres (.local/pgdata)")


def stop_leftovers() -> None:
    """End the processes a previous run recorded, if they are still the same processes."""
    if STATE.is_file():
        for entry in reversed(json.loads(STATE.read_text())):
            pid = int(entry["pid"])
            if pid == os.getpid() or not entry["cmdline"] or _cmdline(pid) != entry["cmdline"]:
                continue  # gone, or the id now belongs to another process
            say(f"stopping {entry['name']} (pid {pid})")
            if entry["group"]:
                _stop_group(entry["name"], pid)
            else:
                _stop_one(pid)
        STATE.unlink()
    stop_embedded_postgres()


# --- the embedded AWS -------------------------------------------------------------------


def start(
    name: str, command: list[str], env: dict[str, str], cwd: Path = ROOT
) -> tuple[subprocess.Popen[bytes], Path]:
    log = LOGS / f"{name}.log"
    with log.open("ab") as out:
        # Its own session: Ctrl-C in the terminal reaches this launcher only, which stops the
        # children in order (a child killed first would fail the others' requests noisily).
        process = subprocess.Popen(  # noqa: S603 (our own commands, no shell)
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return process, log


def cognito_config(cognito_port: int, triggers_url: str) -> dict[str, Any]:
    return {
        "LambdaClient": {
            "endpoint": triggers_url,
            "region": REGION,
            "credentials": {"accessKeyId": "local", "secretAccessKey": "local"},
            # One try: a failing trigger must show, not be retried by the SDK.
            "maxRetries": 0,
        },
        # A function name per trigger, named like the trigger, so cognito-local's errors read as
        # Cognito's own: "PreSignUp failed with error <message>."
        "TriggerFunctions": {name: name for name in COGNITO_LOCAL_TRIGGERS},
        "UserPoolDefaults": {"UsernameAttributes": ["email"]},
        # The issuer in every token names the port it runs on this time.
        "TokenConfig": {"IssuerDomain": f"http://127.0.0.1:{cognito_port}"},
    }


def ensure_pool(cognito: Any) -> tuple[str, str, bool]:
    """The kept user pool and app client, or new ones; True when they are new."""
    if POOL_FILE.is_file():
        kept = json.loads(POOL_FILE.read_text())
        try:
            cognito.describe_user_pool_client(UserPoolId=kept["pool_id"], ClientId=kept["client_id"])
            return kept["pool_id"], kept["client_id"], False
        except cognito.exceptions.ClientError:
            say(f"the kept user pool {kept['pool_id']} is gone from cognito-local: creating a new one")
    pool_id = cognito.create_user_pool(
        PoolName=POOL_NAME, UsernameAttributes=["email"], AutoVerifiedAttributes=["email"]
    )["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="demo-app",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    POOL_FILE.write_text(json.dumps({"pool_id": pool_id, "client_id": client_id}))
    return pool_id, client_id, True


def run() -> int:
    LOCAL.mkdir(exist_ok=True)
    LOGS.mkdir(exist_ok=True)
    COGNITO_DIR.mkdir(exist_ok=True)
    stop_leftovers()
    if (ROOT / ".pgdata").is_dir():
        say("the old .pgdata/ is not used any more (the data is in .local/pgdata/); `make reset` deletes it")

    web_port = free_port(int(os.environ.get("PORT", "8000")))
    moto_port, cognito_port, triggers_port = free_port(), free_port(), free_port()
    while len({web_port, moto_port, cognito_port, triggers_port}) < 4:
        cognito_port, triggers_port = free_port(), free_port()
    moto_url = f"http://127.0.0.1:{moto_port}"
    cognito_url = f"http://127.0.0.1:{cognito_port}"
    triggers_url = f"http://127.0.0.1:{triggers_port}"
    node = shutil.which("node")
    with_cognito = node is not None and COGNITO_LOCAL.is_file()

    # What every Django process of this run sees (this one included, before settings load).
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "backoffice.settings",
            "LOCAL_AWS_URL": moto_url,
            # Emulators take any key; real credentials from the shell must not reach them.
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_SESSION_TOKEN": "",
            "AWS_REGION": REGION,
            "APP_URL": f"http://127.0.0.1:{web_port}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    if with_cognito:
        os.environ["LOCAL_COGNITO_URL"] = cognito_url
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    embedded = False
    try:
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()  # starts (or reuses) the embedded Postgres when DATABASE_URL is empty
        from django.conf import settings

        embedded = str(settings.DATABASES["default"].get("HOST")) == str(PGDATA)
        if settings.PRODUCTION:
            raise SystemExit("run: error: GATEHOUSE_ENV is production: `make run` is for development (.env)")

        moto, moto_log = start(
            "moto", [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)], dict(os.environ)
        )
        children.append(("moto", moto))
        _record(children)
        wait_for_port("moto", moto_port, moto, moto_log)
        import boto3

        # SES sends only from verified identities, in moto as in AWS.
        boto3.client("ses", endpoint_url=moto_url, region_name=REGION).verify_email_identity(
            EmailAddress=settings.SES_SENDER
        )

        pool_id = client_id = ""
        if with_cognito:
            (COGNITO_DIR / ".cognito").mkdir(exist_ok=True)
            (COGNITO_DIR / ".cognito" / "config.json").write_text(
                json.dumps(cognito_config(cognito_port, triggers_url), indent=2)
            )
            env = {**os.environ, "PORT": str(cognito_port), "HOST": "127.0.0.1", "COLUMNS": "1000"}
            cognito_process, cognito_log = start(
                "cognito-local",
                [str(node), str(COGNITO_LOCAL_LAUNCHER), str(COGNITO_LOCAL)],
                env,
                cwd=COGNITO_DIR,
            )
            children.append(("cognito-local", cognito_process))
            _record(children)
            wait_for_port("cognito-local", cognito_port, cognito_process, cognito_log)
            cognito = boto3.client("cognito-idp", endpoint_url=cognito_url, region_name=REGION)
            pool_id, client_id, new_pool = ensure_pool(cognito)
            os.environ["COGNITO_USER_POOL_ID"] = pool_id
            os.environ["COGNITO_APP_CLIENT_ID"] = client_id
            settings.COGNITO_USER_POOL_ID = pool_id
            settings.COGNITO_APP_CLIENT_ID = client_id
        else:
            new_pool = False
            say("cognito-local is not installed (make setup, Node.js 20): running without a Cognito emulator")

        from django.core.management import call_command

        from outbox.aws import reset_clients

        reset_clients()
        call_command("migrate", interactive=False, verbosity=0)
        say("database migrated")
        from tenants.models import UserProfile

        if new_pool and UserProfile.objects.exists():
            say(
                "warning: the database holds people of an earlier user pool that cognito-local no "
                "longer has; they cannot sign in. `make reset` starts both afresh."
            )
        triggers, triggers_log = start(
            "serve_triggers",
            [PYTHON, "manage.py", "serve_triggers", "--port", str(triggers_port)],
            dict(os.environ),
        )
        children.append(("serve_triggers", triggers))
        _record(children)
        wait_for_port("serve_triggers", triggers_port, triggers, triggers_log)
        call_command("seed_demo")
        from django.db import connections

        connections.close_all()

        # Hashed, compressed static files with a year's cache, as in production (settings.py).
        os.environ.update(STATIC_COLLECTED="on", STATIC_ROOT=str(LOCAL / "static"))
        subprocess.run(  # noqa: S603 (our own command, no shell)
            [PYTHON, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"], cwd=ROOT, check=True
        )
        say("static files collected into .local/static (hashed, compressed)")
        web = subprocess.Popen(  # noqa: S603 (our own command, no shell)
            [PYTHON, "manage.py", "runserver", f"127.0.0.1:{web_port}"], cwd=ROOT, start_new_session=True
        )
        children.append(("runserver", web))
        _record(children)
        wait_for_port("runserver", web_port, web, LOGS / "runserver.log")
        database = "embedded Postgres in .local/pgdata" if embedded else "DATABASE_URL"
        lines = [
            "",
            "Gatehouse is running. Ctrl-C stops everything listed here.",
            f"  admin        http://127.0.0.1:{web_port}/admin/  (login and TOTP URI above)",
            f"  mailbox      http://127.0.0.1:{web_port}/admin/mailbox/  (what SES accepted)",
            f"  AWS (moto)   {moto_url}  SES, SNS, SQS, KMS",
        ]
        if with_cognito:
            lines.append(f"  Cognito      {cognito_url}  pool {pool_id}, app client {client_id}")
            lines.append(f"  triggers     {triggers_url}  serve_triggers, called by cognito-local")
        lines += [f"  database     {database}", f"  logs         {LOGS}/", ""]
        print("\n".join(lines), flush=True)
        while True:
            for name, process in children:
                if process.poll() is not None:
                    say(f"{name} exited with {process.returncode}: stopping the rest")
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print(flush=True)
        return 0
    finally:
        for name, process in reversed(children):
            _stop_group(name, process.pid)
        if children:
            say("stopped " + ", ".join(name for name, _ in reversed(children)))
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if embedded:
            stop_embedded_postgres()
        STATE.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    # make stop sends SIGTERM: the same orderly stop as Ctrl-C. SIGINT explicitly too: a shell
    # starts a background job with SIGINT ignored, and Python then never raises KeyboardInterrupt.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    command = argv[1] if len(argv) > 1 else "run"
    if command == "run":
        return run()
    if command in ("stop", "reset"):
        LOCAL.mkdir(exist_ok=True)
        stop_leftovers()
        if command == "reset":
            shutil.rmtree(LOCAL, ignore_errors=True)
            shutil.rmtree(ROOT / ".pgdata", ignore_errors=True)
            say("deleted .local/ (database, user pool, logs); the next `make run` starts afresh")
        else:
            say("nothing of make run is running any more")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
