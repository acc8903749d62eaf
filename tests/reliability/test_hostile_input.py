"""Hostile input: malformed events, injected names and templates, broken bulk imports.

The dispatcher's contract, checked by property-based tests for every trigger family in the
registry: an event of any shape ends in a valid response (a dict whose `response` is a dict,
JSON-serialisable, with the types Cognito expects in the fields we set) or in one of our own
errors with a short public message. Never another exception type, never a traceback or a
repr in the message, and never an internal error: a hostile event must not reach the database
in a form it refuses (that would be TemporaryFailure, or a post confirmation answered after a
crash, which leaves the user without a profile).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import string
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.triggers.helpers import REFERENCE_DIR, make_event, reference_event
from triggers import registry
from triggers.errors import TemporaryFailure, TriggerError
from triggers.lambda_handler import handler

pytestmark = pytest.mark.django_db

MAX_PUBLIC_MESSAGE = 200
# Modest example counts keep the suite fast; CI (CI set) replays the same examples on every run
# (derandomize); GATEHOUSE_FUZZ_EXAMPLES=2000 digs deeper on a workstation.
settings.register_profile(
    "gatehouse-fuzz",
    max_examples=int(os.environ.get("GATEHOUSE_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
settings.register_profile(
    "gatehouse-fuzz-ci", parent=settings.get_profile("gatehouse-fuzz"), derandomize=True
)
HYPOTHESIS = settings.get_profile("gatehouse-fuzz-ci" if os.environ.get("CI") else "gatehouse-fuzz")

# One real source per family, for reference files whose source is a placeholder.
SOURCES = {
    "PreSignUp": ("PreSignUp_SignUp", "PreSignUp_AdminCreateUser", "PreSignUp_ExternalProvider"),
    "PostConfirmation": ("PostConfirmation_ConfirmSignUp", "PostConfirmation_ConfirmForgotPassword"),
    "PreAuthentication": ("PreAuthentication_Authentication",),
    "PostAuthentication": ("PostAuthentication_Authentication",),
    "TokenGeneration": (
        "TokenGeneration_Authentication",
        "TokenGeneration_HostedAuth",
        "TokenGeneration_RefreshTokens",
        "TokenGeneration_ClientCredentials",
    ),
    "CustomMessage": (
        "CustomMessage_SignUp",
        "CustomMessage_AdminCreateUser",
        "CustomMessage_ForgotPassword",
        "CustomMessage_Authentication",
    ),
    "DefineAuthChallenge": ("DefineAuthChallenge_Authentication",),
    "CreateAuthChallenge": ("CreateAuthChallenge_Authentication",),
    "VerifyAuthChallengeResponse": ("VerifyAuthChallengeResponse_Authentication",),
    "UserMigration": ("UserMigration_Authentication", "UserMigration_ForgotPassword"),
}


def test_every_registered_family_is_fuzzed():
    assert set(SOURCES) == set(registry.FAMILIES)


def _base_events() -> dict[str, list[dict[str, Any]]]:
    """Per family: the reference events of that family, and one built like Cognito's."""
    bases: dict[str, list[dict[str, Any]]] = {family: [] for family in SOURCES}
    for path in sorted(Path(REFERENCE_DIR).glob("*.json")):
        try:
            event = reference_event(path)
        except LookupError:
            continue
        family = str(event.get("triggerSource", "")).partition("_")[0]
        if family in bases:
            bases[family].append(event)
    for family, sources in SOURCES.items():
        for source in sources:
            event = make_event(source, attributes={"given_name": "Alice"}, metadata={"invitationCode": "X"})
            event["request"].update(
                {
                    "password": "hunter2-but-longer",
                    "validationData": {"ipAddress": "203.0.113.9"},
                    "session": [{"challengeName": "CUSTOM_CHALLENGE", "challengeResult": False}],
                    "challengeName": "CUSTOM_CHALLENGE",
                    "challengeAnswer": "123456",
                    "privateChallengeParameters": {"challengeId": "00000000-0000-4000-8000-000000000000"},
                    "codeParameter": "{####}",
                    "usernameParameter": "{username}",
                    "scopes": ["openid"],
                }
            )
            bases[family].append(event)
    return bases


BASES = _base_events()

# --- Strategies --------------------------------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["", " ", "true", "false", "null", "{####}", "alice@acme.com", "ABCD-EFGH-JKMN-PQRS"]),
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
HOSTILE_TEXT = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=string.printable, max_size=60),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            "{{ settings.SECRET_KEY }}",
            "{% debug %}",
            "a\r\nBcc: evil@example.org",
            "\x00",
            "x\x00y",
            "\ufeff",
            "\u202e",
            "' OR 1=1 --",
            "../../etc/passwd",
            "=cmd|' /C calc'!A0",
        ]
    ),
    st.sampled_from([2048, 2049, 20_001, 300_000]).map(lambda n: "x" * n),  # oversized
)


def _paths(value: Any) -> list[tuple[Any, ...]]:
    """Where a mutation may land: every node down to a depth, the first items of long lists."""
    found: list[tuple[Any, ...]] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while stack:
        path, node = stack.pop()
        found.append(path)
        if len(path) >= 6:
            continue
        if isinstance(node, dict):
            stack.extend(((*path, key), item) for key, item in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, index), item) for index, item in enumerate(node[:3]))
    return found


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def _set(root: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    _get(root, path[:-1])[path[-1]] = new
    return root


def _delete(root: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return {}
    parent = _get(root, path[:-1])
    del parent[path[-1]]
    return root


@st.composite
def mutated_events(draw: st.DrawFn, family: str) -> Any:
    event = copy.deepcopy(draw(st.sampled_from(BASES[family])))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(_paths(event)))
        current = _get(event, path)
        operation = draw(
            st.sampled_from(["delete", "retype", "hostile", "truncate", "grow", "nest", "source"])
        )
        if operation == "delete":
            event = _delete(event, path)
        elif operation == "retype":
            event = _set(event, path, draw(JSON))
        elif operation == "hostile":
            event = _set(event, path, draw(HOSTILE_TEXT))
        elif operation == "truncate":
            if isinstance(current, str):
                event = _set(event, path, current[: draw(st.integers(0, max(len(current) - 1, 0)))])
            elif isinstance(current, dict) and current:
                keep = draw(st.integers(0, len(current) - 1))
                event = _set(event, path, dict(list(current.items())[:keep]))
            elif isinstance(current, list) and current:
                event = _set(event, path, current[: draw(st.integers(0, len(current) - 1))])
        elif operation == "grow":
            if isinstance(current, dict):
                extra = draw(st.dictionaries(st.text(max_size=30), HOSTILE_TEXT, min_size=1, max_size=3))
                current.update(extra)
            elif isinstance(current, list):
                current.extend([current[0] if current else None] * draw(st.sampled_from([1, 50, 5000])))
        elif operation == "nest":
            event = _set(event, path, json.loads("[" * 200 + json.dumps(current) + "]" * 200))
        else:
            if isinstance(event, dict):
                suffix = draw(st.sampled_from(["_Authentication", "_", "_Unknown", "", "_" + "y" * 3000]))
                event["triggerSource"] = family + suffix
    return event


def random_events() -> st.SearchStrategy[Any]:
    sources = st.one_of(
        st.sampled_from([s for sources in SOURCES.values() for s in sources]),
        st.sampled_from(list(SOURCES)).map(lambda f: f + "_Whatever"),
        st.text(max_size=40),
    )
    objects = st.fixed_dictionaries(
        {"triggerSource": sources},
        optional={
            "version": JSON,
            "region": JSON,
            "userPoolId": JSON,
            "userName": st.one_of(HOSTILE_TEXT, JSON),
            "callerContext": JSON,
            "request": st.one_of(
                JSON,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "userAttributes": st.dictionaries(
                            st.text(max_size=20), st.one_of(HOSTILE_TEXT, JSON)
                        ),
                        "clientMetadata": st.dictionaries(
                            st.text(max_size=20), st.one_of(HOSTILE_TEXT, JSON)
                        ),
                        "validationData": JSON,
                        "session": JSON,
                        "password": st.one_of(HOSTILE_TEXT, JSON),
                        "challengeAnswer": st.one_of(HOSTILE_TEXT, JSON),
                        "privateChallengeParameters": JSON,
                        "codeParameter": st.one_of(HOSTILE_TEXT, JSON),
                        "usernameParameter": st.one_of(HOSTILE_TEXT, JSON),
                        "userNotFound": JSON,
                        "scopes": JSON,
                    },
                ),
            ),
            "response": JSON,
        },
    )
    return st.one_of(objects, JSON)


# --- The property ----------------------------------------------------------------------------------------


# ERROR records that are a designed answer, not a failure: a code placeholder no template can
# carry (Cognito has never sent one) leaves Cognito's own message in place, and says so.
DESIGNED_ERRORS = frozenset({"custom message left to Cognito"})


class _ErrorRecords(logging.Handler):
    """ERROR records of Gatehouse's loggers: an internal failure, even one a handler answered past."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() in DESIGNED_ERRORS:
            return
        if record.name.partition(".")[0] in {"gatehouse", "triggers", "tenants", "invites", "outbox"}:
            self.records.append(record)


RESPONSE_TYPES: dict[str, dict[str, tuple[type, ...]]] = {
    "PreSignUp": {"autoConfirmUser": (bool,), "autoVerifyEmail": (bool,), "autoVerifyPhone": (bool,)},
    "DefineAuthChallenge": {"issueTokens": (bool,), "failAuthentication": (bool,)},
    "VerifyAuthChallengeResponse": {"answerCorrect": (bool,)},
    "CustomMessage": {"emailSubject": (str, type(None)), "emailMessage": (str, type(None))},
    "UserMigration": {"userAttributes": (dict,), "finalUserStatus": (str, type(None))},
}


def check_outcome(event: Any) -> None:
    """Run one event through the dispatcher and hold it to the contract (module docstring)."""
    errors = _ErrorRecords()
    logging.getLogger().addHandler(errors)
    answer: Any = None
    failure: TriggerError | None = None
    try:
        with transaction.atomic():
            try:
                answer = handler(event, None)
            except TriggerError as error:
                failure = error
            transaction.set_rollback(True)  # each example starts from the same database
    finally:
        logging.getLogger().removeHandler(errors)
    assert [r.getMessage() for r in errors.records] == []
    if failure is not None:
        assert not isinstance(failure, TemporaryFailure), f"internal failure: {failure.detail}"
        message = str(failure)
        assert 0 < len(message) <= MAX_PUBLIC_MESSAGE
        for internal in ("Traceback", "Error(", 'File "', "<", "0x", "\n"):
            assert internal not in message, message
        return
    assert isinstance(answer, dict)
    assert isinstance(answer.get("response"), dict)
    json.dumps(answer)
    # The fields we set have the types Cognito expects (what came in is echoed as it came).
    incoming = event.get("response") if isinstance(event.get("response"), dict) else {}
    family = event["triggerSource"].partition("_")[0]
    for name, types in RESPONSE_TYPES.get(family, {}).items():
        value = answer["response"].get(name, incoming.get(name))
        if value is not incoming.get(name):
            assert isinstance(value, types), (name, value)


@pytest.mark.parametrize("family", sorted(SOURCES))
def test_mutated_events_end_in_a_response_or_a_clean_error(family, roles, acme):
    @HYPOTHESIS
    @given(event=mutated_events(family))
    def run(event: Any) -> None:
        check_outcome(event)

    run()


def test_random_json_ends_in_a_response_or_a_clean_error(roles, acme):
    @HYPOTHESIS
    @given(event=random_events())
    def run(event: Any) -> None:
        check_outcome(event)

    run()


def test_the_reference_events_themselves_pass(roles, acme):
    for events in BASES.values():
        for event in events:
            check_outcome(copy.deepcopy(event))


# --- Names, templates and headers ---------------------------------------------------------------------

HOSTILE_GIVEN = '<img src=x onerror="alert(1)">{{ settings.SECRET_KEY }}{% debug %}'
HOSTILE_FAMILY = "Doe\r\nBcc: evil@example.org\r\nSubject: pwned"


def _confirm(email: str, **attributes: str) -> dict[str, Any]:
    event = make_event(
        "PostConfirmation_ConfirmSignUp",
        user_name="mallory",
        sub="00000000-0000-4000-8000-00000000bad1",
        email=email,
        attributes=attributes,
    )
    return handler(event, None)


def test_the_welcome_email_escapes_names_and_keeps_the_subject_one_line(
    aws, settings, django_capture_on_commit_callbacks
):
    from tenants.models import EmailTemplate

    EmailTemplate.objects.create(
        key="welcome",
        language="en",
        subject="Welcome {{ user.given_name }} {{ user.family_name }}",
        html_body="<p>Hello {{ user.given_name }} {{ user.family_name }}</p>",
        text_body="Hello {{ user.given_name }}",
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert (
            _confirm("mallory@example.org", given_name=HOSTILE_GIVEN, family_name=HOSTILE_FAMILY)["response"]
            == {}
        )

    (message,) = aws.ses_messages()
    assert message.destinations["ToAddresses"] == ["mallory@example.org"]
    assert message.destinations.get("BccAddresses", []) == []
    assert "\r" not in message.subject
    assert "\n" not in message.subject
    assert message.subject.startswith("Welcome <img")  # plain text: a subject is not HTML
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in message.body
    assert "<img" not in message.body
    assert settings.SECRET_KEY not in message.body + message.subject
    assert "{{ settings.SECRET_KEY }}{% debug %}" in message.body  # inert text, never rendered


def test_very_long_names_are_cut_not_fatal(aws, django_capture_on_commit_callbacks):
    from tenants.models import UserProfile

    with django_capture_on_commit_callbacks(execute=True):
        assert _confirm("long@example.org", given_name="G" * 2048, family_name="F" * 2048)["response"] == {}

    profile = UserProfile.objects.get()
    assert (len(profile.given_name), len(profile.family_name)) == (100, 100)
    (message,) = aws.ses_messages()
    assert len(message.subject) <= 200
    # Over Cognito's 2048 characters an attribute is not Cognito's: malformed, and answered
    # without onboarding (the user is confirmed already; the first sign-in onboards them).
    assert _confirm("longer@example.org", given_name="G" * 2049)["response"] == {}
    assert UserProfile.objects.count() == 1


def test_a_custom_message_escapes_names_and_keeps_cognitos_placeholder():
    from tenants.models import EmailTemplate

    EmailTemplate.objects.create(
        key="cm_sign_up",
        language="en",
        subject="Code for {{ user.given_name }} {{ user.family_name }}",
        html_body="<p>{{ user.given_name }}: {{ code }}</p>",
        text_body="{{ user.given_name }}: {{ code }}",
    )
    event = make_event(
        "CustomMessage_SignUp", attributes={"given_name": HOSTILE_GIVEN, "family_name": HOSTILE_FAMILY}
    )
    event["request"].update(codeParameter="{####}", usernameParameter=None)

    response = handler(event, None)["response"]

    assert "{####}" in response["emailMessage"]
    assert "<img" not in response["emailMessage"]
    assert "&lt;img" in response["emailMessage"]
    assert "\r" not in response["emailSubject"]
    assert "\n" not in response["emailSubject"]


# Templates staff can save: each must be refused or render inert (no settings, no methods, escaped).
TEMPLATE_ATTEMPTS = [
    "{{ settings.SECRET_KEY }}",
    "{{ user.given_name|safe }}",
    "{{ user.given_name | safe }}",
    "{% with x=user.given_name|safe %}{{ x }}{% endwith %}",
    "{% firstof user.given_name|safe %}",
    "{% for i in 'a' %}{% cycle user.given_name|safe 'b' %}{% endfor %}",
    "{% for x in user.values|safeseq %}{{ x }}{% endfor %}",
    "{% filter safe %}{{ user.given_name }}{% endfilter %}",
    "{% autoescape off %}{{ user.given_name }}{% endautoescape %}",
    "{{ user.clear }}{{ user.given_name }}",
    "{{ user.popitem }}{{ user.items }}{{ company.keys }}",
    "{{ user.__class__.__mro__ }}",
    "{{ user.given_name.__class__ }}",
    "{% debug %}",
    "{% load static %}{% static 'x' %}",
    "{% include 'admin/base.html' %}",
    "{% extends 'admin/base.html' %}",
    "{% ssi '/etc/passwd' %}",
    "{% templatetag openvariable %} settings.SECRET_KEY {% templatetag closevariable %}",
    "{{ user|pprint }}",
]


@pytest.mark.parametrize("attempt", TEMPLATE_ATTEMPTS)
def test_a_staff_template_cannot_read_settings_call_methods_or_skip_escaping(attempt, settings):
    from tenants.emails import (
        TemplateProblem,
        TemplateSource,
        render_source,
        sample_context,
        validate_template,
    )

    html = "<p>{{ code }}</p>" + attempt
    try:
        validate_template(key="welcome", subject="Hi", html_body=html, text_body="{{ code }}")
    except TemplateProblem:
        return  # refused when staff save it
    context = sample_context("welcome")
    context["user"]["given_name"] = '<b onmouseover="x">Bob</b>'
    rendered = render_source(
        TemplateSource("welcome", "en", "Hi", html, "{{ code }}", "", "company"), context
    )
    assert settings.SECRET_KEY not in rendered.html_body
    assert "<b onmouseover" not in rendered.html_body
    assert "class " not in rendered.html_body
    assert "dict_" not in rendered.html_body
    assert context["user"]["given_name"] == '<b onmouseover="x">Bob</b>'  # nothing was called on it


def test_a_sender_name_cannot_add_headers(
    acme, roles, aws, settings, django_capture_on_commit_callbacks, log_secrets
):
    from invites.services import invitation_create
    from tenants.models import Company

    Company.objects.filter(pk=acme.pk).update(brand_sender_name='Acme"\r\nBcc: evil@example.org')
    acme.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        issued = invitation_create(company=acme, email="bob@example.org", role=roles["USER"], send=True)
    log_secrets.add(issued.code)

    (message,) = aws.ses_messages()
    assert message.source == '"AcmeBcc: evil@example.org" <no-reply@gatehouse.test>'
    assert message.destinations["ToAddresses"] == ["bob@example.org"]
    assert message.destinations.get("BccAddresses", []) == []


# --- Bulk imports with broken rows ----------------------------------------------------------------------

BULK_INVITATIONS = "\n".join(
    [
        "email,role,expiry",  # 1: header
        "ana@acme.com,USER",  # 2: good
        "not-an-email,USER",  # 3
        "ben@acme.com,NOPE",  # 4: unknown role
        "cy@acme.com,USER,2001-01-01",  # 5: past
        "di@acme.com,USER,31/12/2030",  # 6: not ISO
        "ANA@acme.com,ADMIN",  # 7: duplicate of line 2
        "ed@acme.com,USER,2030-01-01,extra",  # 8: too many columns
        '"=HYPERLINK(""http://evil"")@acme.com",USER',  # 9: formula, not an address
        "fay@acme.com,admin,2030-12-31",  # 10: good (role keys ignore case)
        "<script>@acme.com,USER",  # 11
        "x" * 300 + "@acme.com,USER",  # 12: too long
        "",  # 13: blank, skipped
        "gus@acme.com,USER,9999-12-31T23:59:59-14:00",  # 14: past what a date can hold in UTC
    ]
)
BAD_LINES = [3, 4, 5, 6, 7, 8, 9, 11, 12, 14]


def _bulk(acme, *, all_or_none: bool):  # type: ignore[no-untyped-def]
    from invites.bulk import invitation_bulk_create

    return invitation_bulk_create(company=acme, text=BULK_INVITATIONS, all_or_none=all_or_none)


def test_bulk_invitations_with_bad_rows_write_nothing_when_staff_chose_all_or_none(acme, roles):
    from invites.models import Invitation

    result = _bulk(acme, all_or_none=True)

    assert result.written is False
    assert result.issued == []
    assert [row.line for row in result.bad_rows] == BAD_LINES
    assert all(row.error for row in result.bad_rows)
    assert Invitation.objects.count() == 0


def test_bulk_invitations_with_bad_rows_import_only_the_good_ones_when_chosen(acme, roles, log_secrets):
    from invites.models import Invitation

    result = _bulk(acme, all_or_none=False)
    log_secrets.add(*(issued.code for issued in result.issued))

    assert result.written is True
    assert sorted(issued.invitation.email for issued in result.issued) == ["ana@acme.com", "fay@acme.com"]
    assert [row.line for row in result.bad_rows] == BAD_LINES
    reasons = {row.line: row.error for row in result.bad_rows}
    assert "same email as line 2" in reasons[7]
    assert "too many columns" in reasons[8]
    assert "in the past" in reasons[5]
    assert "NOPE" in reasons[4]
    # Exactly the good rows, and every stored row can be read back.
    assert sorted(Invitation.objects.values_list("email", "role__key")) == [
        ("ana@acme.com", "USER"),
        ("fay@acme.com", "ADMIN"),
    ]
    assert len(list(Invitation.objects.all())) == 2


LEGACY_HEADER = "email,given_name,family_name,password_hash,company,role"


def _legacy_csv(md5_hex: str) -> str:
    rows = [
        LEGACY_HEADER,  # 1
        f"ana@acme.com,Ana,A,{md5_hex},acme,USER",  # 2: good
        f"not-an-email,Bad,B,{md5_hex},acme,USER",  # 3
        "ben@acme.com,Ben,B,not-a-hash,acme,USER",  # 4
        f"cy@acme.com,Cy,C,{md5_hex},no-such-company,USER",  # 5
        f"di@acme.com,Di,D,{md5_hex},,USER",  # 6: role without company
        f"ed@acme.com,Ed,E,{md5_hex},acme,NOPE",  # 7
        f"ANA@acme.com,Ana,Again,{md5_hex},acme,USER",  # 8: duplicate of line 2
        f"fay@acme.com,{'F' * 101},F,{md5_hex},acme,USER",  # 9: name too long
        f"gus@acme.com,G\x00us,G,{md5_hex},acme,USER",  # 10: NUL, which Postgres cannot store
        f"hal@acme.com,Hal,H,{md5_hex},acme,USER,surplus",  # 11: more fields than columns
        f"ivy@acme.com,\"=cmd|' /C calc'!A0\",<b>I</b>,{md5_hex},acme,USER",  # 12: good (stored as text)
    ]
    return "\r\n".join(rows) + "\r\n"


@pytest.mark.parametrize("all_or_nothing", [True, False])
def test_a_legacy_import_reports_every_bad_row_and_never_half_writes(
    acme, roles, all_or_nothing, log_secrets
):
    import hashlib

    from tenants.legacy_import import legacy_users_import
    from tenants.models import LegacyUser

    md5_hex = hashlib.md5(b"legacy-password-1").hexdigest()  # noqa: S324 (the legacy format)
    log_secrets.add(md5_hex, "legacy-password-1")

    report = legacy_users_import(text=_legacy_csv(md5_hex), all_or_nothing=all_or_nothing)

    assert report.file_errors == ()
    assert [(row.line, bool(row.reasons)) for row in report.errors] == [
        (line, True) for line in (3, 4, 5, 6, 7, 8, 9, 10, 11)
    ]
    for row in report.rows:
        assert "@" not in row.email or row.email.split("@")[0].endswith("***")  # masked in reports
        assert md5_hex not in " ".join(row.reasons)
    if all_or_nothing:
        assert report.written is False
        assert LegacyUser.objects.count() == 0
    else:
        assert report.written is True
        assert sorted(LegacyUser.objects.values_list("email", flat=True)) == ["ana@acme.com", "ivy@acme.com"]
        ivy = LegacyUser.objects.get(email="ivy@acme.com")
        assert (ivy.given_name, ivy.family_name) == ("=cmd|' /C calc'!A0", "<b>I</b>")
        assert md5_hex not in ivy.password_hash  # wrapped in salted PBKDF2, never kept as is
