"""The bench's own checks: its modules import, the loader writes rows Gatehouse reads as its own,
and every raw baseline answers like Gatehouse and writes the same rows (a baseline that does
less work is no baseline)."""

from __future__ import annotations

import importlib
import uuid
from typing import Any

import pytest
from django.db import connection

from bench import baseline, loader
from bench.triggers_warm import event, token_event
from outbox.runner import inline_budget

BENCH_MODULES = ["common", "loader", "baseline", "admin_scale", "triggers_warm", "memory", "retention", "run"]


@pytest.mark.parametrize("name", BENCH_MODULES)
def test_bench_module_imports(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")

    assert module.__doc__


def _conninfo() -> str:
    s = connection.settings_dict
    host = f"host={s['HOST']} " if s["HOST"] else ""
    port = f"port={s['PORT']} " if s["PORT"] else ""
    return f"{host}{port}user={s['USER']} dbname={s['NAME']}"


@pytest.fixture
def loaded(transactional_db: None, settings: Any, monkeypatch: pytest.MonkeyPatch) -> loader.Loaded:
    settings.SIDE_EFFECT_INLINE_BUDGET_SECONDS = 0
    settings.COGNITO_USER_POOL_ID = "us-east-1_bench"
    # The bench runs the trigger settings: no task rows (SIDE_EFFECT_TASKS off on Lambda).
    settings.SIDE_EFFECT_TASKS = False
    monkeypatch.setattr(baseline, "TASK_ROWS", False)
    monkeypatch.setattr(baseline, "SECRET_KEY", settings.SECRET_KEY)
    return loader.load(_conninfo(), scale=0.0005, prefix="t")


@pytest.fixture
def raw(loaded: loader.Loaded) -> Any:
    conn = baseline.connect(_conninfo())
    yield conn
    conn.close()


def _invoke(evt: dict[str, Any]) -> dict[str, Any]:
    from triggers.lambda_handler import handler

    with inline_budget(0):
        return handler(evt, None)


def _subs() -> list[str]:
    from tenants.models import UserProfile

    return list(UserProfile.objects.order_by("pk").values_list("cognito_sub", flat=True))


def test_loader_writes_the_counts_asked_for_and_valid_invitation_codes(loaded: loader.Loaded) -> None:
    from invites.models import Invitation
    from invites.services import invitation_check
    from tenants.models import Company, UserProfile

    assert loaded.counts["companies"] == Company.objects.count() == 5
    assert loaded.counts["profiles"] == UserProfile.objects.count() == 100
    assert loaded.counts["invitations"] == Invitation.objects.count() == 100
    # Invitation k=2 is pending: its deterministic code passes Gatehouse's own check.
    pending = invitation_check(code=loader.invitation_code("t:2"), email="invt2@cot2.example.com")
    assert pending.company.slug == "company-t2"
    assert Invitation.objects.filter(accepted_at__isnull=False, accepted_by__isnull=False).count() == 50


@pytest.mark.parametrize("version", ["1", "2"])
def test_raw_pre_token_generation_answers_like_gatehouse(raw: Any, version: str) -> None:
    subs = [*_subs()[:20], "sub-that-does-not-exist"]

    for sub in subs:
        evt = token_event(sub, version=version)
        assert baseline.pre_token_generation(raw, evt) == _invoke(evt), sub


def _row_counts() -> dict[str, int]:
    tables = [
        "tenants_userprofile",
        "tenants_membership",
        "tenants_activityevent",
        "tenants_workspace",
        "outbox_sideeffect",
        "django_tasks_database_dbtaskresult",
        "tenants_ratelimitcounter",
        "triggers_logincode",
        "invites_signuprefusal",
    ]
    with connection.cursor() as cursor:
        counts = {}
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
            counts[table] = cursor.fetchone()[0]
    return counts


def _diff(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {table: after[table] - before[table] for table in before if after[table] != before[table]}


def _fresh_invitation(tag: str, *, reserved_for: str = "") -> tuple[str, str]:
    from invites.models import Invitation
    from invites.services import invitation_code_hash
    from tenants.models import Company, Role

    company = Company.objects.filter(status="active", seat_limit__isnull=False).order_by("pk").first()
    code = loader.invitation_code(f"test:{tag}")
    email = f"{tag}@warm.example.com"
    Invitation.objects.create(
        email=email,
        company=company,
        role=Role.objects.get(key="USER", company__isnull=True),
        code_hash=invitation_code_hash(code),
        expires_at="2099-01-01T00:00:00Z",
        reserved_for_username=reserved_for,
    )
    return email, code


def test_raw_pre_sign_up_answers_and_writes_like_gatehouse(raw: Any, settings: Any, monkeypatch: Any) -> None:
    from bench.common import BENCH_TRUSTED_SECRET, signed_ip
    from invites.models import Invitation

    # Both sides trust the bench backend's signature, as bench children do (bench/common.py).
    settings.TRUSTED_BACKEND_SECRET = BENCH_TRUSTED_SECRET
    monkeypatch.setattr(baseline, "TRUSTED_BACKEND_SECRET", BENCH_TRUSTED_SECRET)
    effects = {}
    answers = {}
    for who in ("gh", "raw"):
        email, code = _fresh_invitation(f"psu-{who}")
        evt = event(
            "PreSignUp_SignUp",
            username=f"user-{who}",
            attributes={"email": email},
            clientMetadata={"invitationCode": code, **signed_ip(f"10.0.0.{len(who)}", email)},
        )
        before = _row_counts()
        answers[who] = _invoke(evt) if who == "gh" else baseline.pre_sign_up(raw, evt)
        effects[who] = _diff(before, _row_counts())
        assert Invitation.objects.get(email=email).reserved_for_username == f"user-{who}"

    assert answers["gh"]["response"] == answers["raw"]["response"]
    assert effects["gh"] == effects["raw"] == {"tenants_ratelimitcounter": 1}


@pytest.mark.parametrize("task_rows", [False, True], ids=["lambda", "worker"])
def test_raw_post_confirmation_answers_and_writes_like_gatehouse(
    raw: Any, monkeypatch: Any, settings: Any, task_rows: bool
) -> None:
    settings.SIDE_EFFECT_TASKS = task_rows
    monkeypatch.setattr(baseline, "TASK_ROWS", task_rows)
    from outbox.crypto import unseal
    from outbox.models import SideEffect
    from tenants.models import Company

    # The baseline seals with the key Gatehouse uses, so both payloads open the same way.
    monkeypatch.setenv("OUTBOX_ENCRYPTION_KEYS", ",".join(settings.OUTBOX_ENCRYPTION_KEYS))
    from tenants.models import UserProfile

    effects, answers, profiles, payloads = {}, {}, {}, {}
    for who in ("gh", "raw"):
        username = f"pc-{who}"
        email, _ = _fresh_invitation(username, reserved_for=username)
        sub = str(uuid.uuid4())
        evt = event(
            "PostConfirmation_ConfirmSignUp",
            username=username,
            attributes={"sub": sub, "email": email, "given_name": "Ann", "email_verified": "true"},
            clientMetadata={},
        )
        company = Company.objects.get(invitations__email=email)
        before = _row_counts()
        answers[who] = _invoke(evt) if who == "gh" else baseline.post_confirmation(raw, evt)
        effects[who] = _diff(before, _row_counts())
        profile = UserProfile.objects.select_related("company", "role").get(cognito_sub=sub)
        membership = profile.memberships.get()
        seats = Company.objects.get(pk=company.pk).active_members - company.active_members
        profiles[who] = (
            profile.company.slug,
            profile.role.key,
            profile.active_company_id == profile.company_id,
            (membership.company_id, membership.role_id, membership.status, membership.route),
            seats,
            profile.accepted_invitation.email,
        )
        payloads[who] = {
            e.kind: {
                k: unseal(v) if k == "sealed" else v
                for k, v in e.payload.items()
                if k not in ("username", "to")
            }
            for e in SideEffect.objects.filter(subject=f"profile:{profile.pk}")
        }

    assert answers["gh"]["response"] == answers["raw"]["response"] == {}
    assert effects["gh"] == effects["raw"]
    assert effects["gh"] == {
        "tenants_userprofile": 1,
        "tenants_membership": 1,
        "tenants_activityevent": 1,
        "outbox_sideeffect": 2,
        **({"django_tasks_database_dbtaskresult": 2} if task_rows else {}),
    }
    assert profiles["gh"][:5] == profiles["raw"][:5]
    assert profiles["gh"][2:5] == (True, (company.pk, profiles["gh"][3][1], "active", "invitation"), 1)
    assert payloads["gh"] == payloads["raw"]


def test_raw_auth_challenges_answer_and_write_like_gatehouse(raw: Any) -> None:
    from accounts.models import LoginCode

    sub = _subs()[0]
    define = event("DefineAuthChallenge_Authentication", username="u", attributes={"sub": sub}, session=[])
    assert baseline.define_auth_challenge(raw, define) == _invoke(define)

    answers, effects = {}, {}
    for who in ("gh", "raw"):
        create = event(
            "CreateAuthChallenge_Authentication",
            username=f"code-{who}",
            attributes={"sub": _subs()[1 if who == "gh" else 2], "email": f"{who}@example.com"},
            challengeName="CUSTOM_CHALLENGE",
            session=[],
        )
        before = _row_counts()
        answers[who] = (_invoke(create) if who == "gh" else baseline.create_auth_challenge(raw, create))[
            "response"
        ]
        effects[who] = _diff(before, _row_counts())
    for answer in answers.values():
        assert answer.pop("challengeMetadata").startswith("LOGIN_CODE:")
        assert LoginCode.objects.filter(pk=answer.pop("privateChallengeParameters")["challengeId"]).exists()
    assert answers["gh"] == {
        **answers["raw"],
        "publicChallengeParameters": answers["gh"]["publicChallengeParameters"],
    }
    assert answers["gh"]["publicChallengeParameters"]["destination"] == "g***@example.com"
    assert answers["raw"]["publicChallengeParameters"]["destination"] == "r***@example.com"
    assert (
        effects["gh"]
        == effects["raw"]
        == {
            "tenants_ratelimitcounter": 1,
            "triggers_logincode": 1,
            "outbox_sideeffect": 1,
        }
    )

    for answer_given, expected in (("123456", True), ("654321", False)):
        results = []
        for who in ("gh", "raw"):
            username = f"verify-{who}-{answer_given}"
            challenge_id = uuid.uuid4()
            LoginCode.objects.create(
                id=challenge_id,
                username=username,
                code_hash=baseline.login_code_hash(challenge_id, "123456"),
                expires_at="2099-01-01T00:00:00Z",
            )
            verify = event(
                "VerifyAuthChallengeResponse_Authentication",
                username=username,
                attributes={"sub": sub},
                privateChallengeParameters={"challengeId": str(challenge_id)},
                challengeAnswer=answer_given,
            )
            answer = _invoke(verify) if who == "gh" else baseline.verify_auth_challenge(raw, verify)
            row = LoginCode.objects.get(pk=challenge_id)
            results.append((answer["response"]["answerCorrect"], row.used_at is not None, row.attempts))
        assert results[0] == results[1] == (expected, expected, 0 if expected else 1)


def test_raw_custom_message_answers_like_gatehouse(raw: Any) -> None:
    for sub in _subs()[:5]:
        evt = event(
            "CustomMessage_SignUp",
            username="someone",
            attributes={"sub": sub, "email": "someone@example.com"},
            codeParameter="{####}",
            usernameParameter=None,
        )
        assert baseline.custom_message(raw, evt) == _invoke(evt)
