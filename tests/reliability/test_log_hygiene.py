"""Secrets and logs: what the suite-wide log check catches, the trigger path under it, and codes.

tests/log_hygiene.py fails any test whose Gatehouse log records hold an email, an invitation
code, a password or a password hash. Here: the detector itself, every trigger run with the
secrets it handles registered and DEBUG enabled, and the rules for codes (drawn from
`secrets`, stored only hashed, compared in constant time).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection

from accounts import passwordless as trigger_services
from accounts.models import LoginCode
from invites import services as invite_services
from invites.models import Invitation
from outbox.crypto import unseal
from outbox.models import SideEffect, SideEffectStatus
from tenants.legacy_import import legacy_users_import
from tests.log_hygiene import HygieneHandler, SecretRegistry, find_secrets, is_ours
from tests.reliability.conftest import closed_port
from tests.tenants.legacy_csv import legacy_users_csv
from tests.triggers.helpers import make_event
from triggers.errors import Rejection, TemporaryFailure, UnknownTrigger
from triggers.lambda_handler import handler

PROJECT = Path(django_settings.BASE_DIR)
PACKAGES = ("triggers", "tenants", "invites", "outbox", "backoffice")
EMAIL = "alice@acme.com"


# --- The detector ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "kinds"),
    [
        ('{"message": "sent to alice.b+x@acme.co.uk"}', ["email address"]),
        ('{"user": "a***@acme.com"}', []),
        ('{"detail": "Key (email)=(***@acme.com)"}', []),
        ('{"code": "ABCD-EFGH-JKMN-PQRS"}', ["invitation code"]),
        ('{"sub": "5b2f0c1e-0000-4000-8000-00000000a11c"}', []),
        ('{"hash": "pbkdf2_sha256$1000000$salt$abc="}', ["password hash"]),
        ('{"hash": "argon2$argon2id$v=19$m=8192,t=1,p=1$c2FsdA$aGFzaA"}', ["password hash"]),
        ('{"hash": "$2b$12$abcdefghijklmnopqrstuv"}', ["password hash"]),
        ('{"hash": "md5$pepper$0123456789abcdef"}', ["password hash"]),
        ('{"message": "password was correct horse battery staple"}', ["test password"]),
        ('{"sender": "no-reply@gatehouse.test"}', []),
        ('{"message": "side effect done", "duration_ms": 12.5}', []),
    ],
)
def test_the_detector_finds_secrets_and_lets_masked_forms_pass(line, kinds):
    assert find_secrets(line) == kinds


def test_a_registered_secret_is_found_even_when_it_looks_harmless():
    registry = SecretRegistry()
    registry.add("493817", "", "ab")  # too-short values are ignored: they would match by chance

    assert find_secrets('{"message": "code 493817"}', registry) == ["registered secret"]
    assert registry.values == {"493817"}


def test_only_gatehouse_records_are_searched():
    def record(name: str, pathname: str = "/elsewhere.py") -> logging.LogRecord:
        return logging.LogRecord(name, logging.INFO, pathname, 1, "x", None, None)

    assert is_ours(record("gatehouse.triggers"))
    assert is_ours(record("tenants.services"))
    assert is_ours(record("django.request"))
    assert is_ours(record("root", str(PROJECT / "tenants" / "services.py")))
    assert not is_ours(record("django.db.backends"))
    assert not is_ours(record("werkzeug"))
    assert not is_ours(record("root"))
    assert not is_ours(record("tenantsish"))


@pytest.mark.log_secrets_allowed  # it logs an address on purpose, to see the handler catch it
def test_the_handler_reports_a_leak_in_message_extras_and_traceback():
    handler_ = HygieneHandler(SecretRegistry())
    log = logging.getLogger("gatehouse.test_hygiene")
    log.addHandler(handler_)
    try:
        log.warning("plain line")
        log.warning("extras", extra={"user": "bob@example.org"})
        try:
            raise ValueError("Key (email)=(carol@example.org) already exists")
        except ValueError:
            log.exception("crashed")
    finally:
        log.removeHandler(handler_)

    assert [(leak.logger, leak.kind) for leak in handler_.take()] == [
        ("gatehouse.test_hygiene", "email address"),
        ("gatehouse.test_hygiene", "email address"),
    ]
    assert handler_.take() == []  # each line is judged once


# --- The trigger path, with every secret it handles registered -------------------------------------------


@pytest.fixture
def debug_logs(caplog: Any) -> None:
    """Gatehouse's DEBUG records reach the handlers too, so they are searched as well."""
    for name in ("gatehouse", "triggers", "tenants", "invites", "outbox"):
        caplog.set_level(logging.DEBUG, logger=name)


@pytest.mark.django_db
def test_the_sign_up_path_logs_neither_codes_nor_addresses(
    acme, roles, aws, debug_logs, log_secrets, log_hygiene, django_capture_on_commit_callbacks
):
    from invites.models import SignupPolicy
    from invites.services import invitation_create

    SignupPolicy.objects.get_or_create(pk=1)
    with django_capture_on_commit_callbacks(execute=True):
        issued = invitation_create(company=acme, email=EMAIL, role=roles["USER"], send=True)
    log_secrets.add(issued.code, EMAIL)
    wrong = "ZZZZ-ZZZZ-ZZZZ-ZZZ9"

    with pytest.raises(Rejection):
        handler(make_event("PreSignUp_SignUp", email=EMAIL, metadata={"invitationCode": wrong}), None)
    with pytest.raises(Rejection):
        handler(
            make_event(
                "PreSignUp_SignUp", email="eve@evil.example", metadata={"invitationCode": issued.code}
            ),
            None,
        )
    handler(
        make_event(
            "PreSignUp_SignUp", user_name="alice", email=EMAIL, metadata={"invitationCode": issued.code}
        ),
        None,
    )
    with django_capture_on_commit_callbacks(execute=True):
        handler(make_event("PostConfirmation_ConfirmSignUp", user_name="alice", email=EMAIL), None)
    with pytest.raises(UnknownTrigger):  # its detail is logged, scrubbed
        handler({"triggerSource": "Nope_" + EMAIL, "request": {}}, None)

    assert len(aws.ses_messages()) == 2  # the invitation and the welcome
    assert sum("trigger invocation" in line for _, line in log_hygiene.lines) == 5
    assert log_hygiene.take() == []


@pytest.mark.django_db
def test_passwordless_sign_in_logs_no_code(db, aws, debug_logs, log_secrets, log_hygiene, settings):
    settings.LOGIN_CODE_MAX_ATTEMPTS = 2
    sub = "7a1b2c3d-0000-4000-8000-000000000001"
    log_secrets.add(EMAIL)
    create = make_event("CreateAuthChallenge_Authentication", sub=sub, user_name=sub, email=EMAIL)
    create["request"].update(challengeName="CUSTOM_CHALLENGE", session=[], userNotFound=False)

    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        challenge = handler(create, None)["response"]
    code = re.findall(r"(?<![\d#])\d{6}(?!\d)", aws.ses_messages()[0].body)[0]
    log_secrets.add(code)
    for answer in ("000000" if code != "000000" else "111111", code):
        verify = make_event("VerifyAuthChallengeResponse_Authentication", sub=sub, user_name=sub)
        verify["request"].update(
            privateChallengeParameters=challenge["privateChallengeParameters"],
            challengeAnswer=answer,
            userNotFound=False,
        )
        handler(verify, None)

    assert LoginCode.objects.get().used_at is not None
    # Once SES has the email, the outbox keeps no copy of the code either.
    (side_effect,) = SideEffect.objects.all()
    assert side_effect.status == SideEffectStatus.DONE
    assert code not in str(side_effect.payload)
    assert log_hygiene.take() == []


@pytest.mark.django_db
def test_user_migration_logs_neither_password_nor_hash(db, debug_logs, log_secrets, log_hygiene, settings):
    settings.LEGACY_LOGIN_ATTEMPTS_PER_WINDOW = 3
    password = "legacy-password-42"
    digest = hashlib.md5(password.encode()).hexdigest()  # noqa: S324 (the legacy format)
    row = {"email": EMAIL, "given_name": "A", "family_name": "B", "password_hash": digest}
    legacy_users_import(text=legacy_users_csv([row]))
    from tenants.models import LegacyUser

    log_secrets.add(password, digest, LegacyUser.objects.get().password_hash, EMAIL)

    def migrate(secret: str) -> Any:
        event = make_event("UserMigration_Authentication", email=None, user_name=EMAIL)
        event["request"] = {"password": secret, "validationData": {}}
        return handler(event, None)

    with pytest.raises(Rejection):
        migrate("wrong-" + password)
    for _ in range(2):
        assert migrate(password)["response"]["finalUserStatus"] == "CONFIRMED"
    with pytest.raises(Rejection, match="Too many attempts"):  # logged with a masked address
        migrate(password)

    assert log_hygiene.take() == []


@pytest.mark.django_db(transaction=True)
def test_a_crash_with_personal_data_in_the_exception_is_logged_masked(
    acme, roles, monkeypatch, debug_logs, log_secrets, log_hygiene
):
    from invites.models import SignupPolicy
    from invites.services import invitation_create

    SignupPolicy.objects.get_or_create(pk=1)
    issued = invitation_create(company=acme, email=EMAIL, role=roles["USER"])
    log_secrets.add(issued.code, EMAIL)
    sign_up = make_event("PreSignUp_SignUp", email=EMAIL, metadata={"invitationCode": issued.code})
    confirm = make_event(
        "PostConfirmation_ConfirmSignUp", email=EMAIL, metadata={"invitationCode": issued.code}
    )

    with monkeypatch.context() as down:
        connection.close()
        down.setitem(connection.settings_dict, "PORT", str(closed_port()))
        down.setitem(connection.settings_dict, "HOST", "127.0.0.1")
        with pytest.raises(TemporaryFailure):
            handler(sign_up, None)
        assert handler(confirm, None)["response"] == {}
    connection.close()

    tracebacks = [line for _, line in log_hygiene.lines if "Traceback" in line]
    assert len(tracebacks) == 2
    assert log_hygiene.take() == []


# --- Codes: secrets, hashes, constant time ----------------------------------------------------------------


def _modules() -> list[Path]:
    return [
        path
        for package in PACKAGES
        for path in sorted((PROJECT / package).rglob("*.py"))
        if "migrations" not in path.parts
    ]


def test_no_gatehouse_module_uses_the_random_module():
    offenders = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name == "random" or name.startswith("random.") for name in names):
                offenders.append(str(path.relative_to(PROJECT)))
    assert offenders == []


@pytest.mark.parametrize(
    "generator", [invite_services.invitation_code_generate, trigger_services.login_code_generate]
)
def test_codes_are_drawn_from_secrets(generator):
    tree = ast.parse(inspect.getsource(generator).strip())
    calls = {
        f"{node.func.value.id}.{node.func.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
    }
    assert "secrets.choice" in calls


@pytest.mark.parametrize(
    "function",
    [invite_services.invitation_find, invite_services.invitation_check, trigger_services.login_code_verify],
)
def test_secret_comparisons_are_constant_time(function):
    tree = ast.parse(inspect.getsource(function).strip())
    compare_digest = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "compare_digest"
    ]
    assert compare_digest, f"{function.__name__} does not use hmac.compare_digest"
    # No == / != on a hash, digest or answer anywhere in it.
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
            text = ast.unparse(node)
            assert not re.search(r"hash|digest|answer|code\b", text), text


@pytest.mark.django_db
def test_an_invitation_code_is_stored_only_as_its_hash(acme, roles, log_secrets):
    issued = invite_services.invitation_create(company=acme, email=EMAIL, role=roles["USER"])
    log_secrets.add(issued.code)

    row = Invitation.objects.filter(pk=issued.invitation.pk).values().get()
    normalized = issued.code.replace("-", "")
    assert row["code_hash"] == hashlib.sha256(normalized.encode()).hexdigest()
    for value in row.values():
        assert issued.code not in str(value)
        assert normalized not in str(value)
    assert re.fullmatch(r"[A-HJKMNP-TV-Z0-9]{4}(-[A-HJKMNP-TV-Z0-9]{4}){3}", issued.code)


@pytest.mark.django_db
def test_a_login_code_is_stored_only_as_a_keyed_hash(db, settings):
    issued = trigger_services.login_code_issue(username="alice", sub="s-1", email=EMAIL)
    row = LoginCode.objects.filter(pk=issued.challenge_id).values().get()
    (side_effect,) = SideEffect.objects.all()
    # Not sent yet: the code is only in the sealed body (outbox/crypto.py), opened here by the test.
    code = re.findall(r"(?<![\d#])\d{6}(?!\d)", unseal(side_effect.payload["sealed"])["text"])[0]
    assert code not in str(side_effect.payload)
    assert side_effect.expires_at == row["expires_at"]  # dropped unsent once the code expires

    assert len(row["code_hash"]) == 64
    assert row["code_hash"] != hashlib.sha256(code.encode()).hexdigest()  # keyed: not a plain digest
    assert all(code not in str(value) for key, value in row.items() if key != "id")


# A staff template that passes validation (the sample data) but breaks on real data: the
# render error quotes the value, and the log line about the fallback must not carry it.
BREAKS_ON_REAL_DATA = (
    '{% if role.key == "USER" %}{{ invitation_code|divisibleby:2 }}{{ user.email|divisibleby:2 }}{% endif %}'
)


@pytest.mark.django_db
def test_a_template_that_breaks_on_real_data_falls_back_without_logging_the_data(
    acme, roles, aws, log_secrets, log_hygiene, django_capture_on_commit_callbacks
):
    from tenants.emails import validate_template
    from tenants.models import EmailTemplate

    html = "<p>{{ invitation_code }}</p>" + BREAKS_ON_REAL_DATA
    validate_template(key="invitation", subject="Join", html_body=html, text_body="{{ invitation_code }}")
    EmailTemplate.objects.create(
        key="invitation", language="en", company=acme, subject="Join", html_body=html, text_body="x"
    )

    with django_capture_on_commit_callbacks(execute=True):
        issued = invite_services.invitation_create(company=acme, email=EMAIL, role=roles["USER"], send=True)
    log_secrets.add(issued.code, EMAIL)

    (message,) = aws.ses_messages()
    assert issued.code in message.body  # the default template carried it
    assert any("using the default" in line for _, line in log_hygiene.lines)
    assert log_hygiene.take() == []


@pytest.mark.django_db
def test_a_custom_message_template_that_breaks_on_real_data_logs_no_address(acme, log_secrets, log_hygiene):
    from tenants.models import EmailTemplate

    EmailTemplate.objects.create(
        key="cm_sign_up",
        language="en",
        subject="Code",
        html_body='{{ code }}{% if user.given_name != "Alice" %}{{ user.email|divisibleby:2 }}{% endif %}',
        text_body="{{ code }}",
    )
    log_secrets.add("mallory@example.org")
    event = make_event("CustomMessage_SignUp", email="mallory@example.org", attributes={"given_name": "Mal"})
    event["request"].update(codeParameter="{####}")

    response = handler(event, None)["response"]

    assert "{####}" in response["emailMessage"]
    assert any("using the default" in line for _, line in log_hygiene.lines)
    assert log_hygiene.take() == []
