"""Pre token generation through the Lambda entry point, on real Postgres, with published events."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest

from tenants.models import AppClient, FeatureFlag, FeatureFlagOverride, Role, UserProfile
from tenants.selectors import company_effective_flags
from tests.triggers.helpers import reference_raw as reference
from triggers import claims as claims_module
from triggers.claims import OWNED_CLAIMS, RESERVED_CLAIMS, without_reserved
from triggers.lambda_handler import handler

pytestmark = pytest.mark.django_db

POWERTOOLS_V1 = "powertools-python__cognitoPreTokenGenerationEvent.json"
POWERTOOLS_V2_LABELLED_1 = "powertools-python__cognitoPreTokenV2GenerationEvent.json"
GO_V2 = "aws-lambda-go__cognito-event-userpools-pretokengen-v2.json"
GO_V2_0 = "aws-lambda-go__cognito-event-userpools-pretokengen-v2_0.json"
GO_V1 = "aws-lambda-go__cognito-event-userpools-pretokengen.json"
DOTNET_V1 = "aws-lambda-dotnet__cognito-pretokengeneration-event.json"
DOTNET_V2 = "aws-lambda-dotnet__cognito-pretokengenerationv2-event.json"
DOTNET_NEW_PASSWORD = "aws-lambda-dotnet__cognito-pre-token-generation-event.json"

POWERTOOLS_SUB = "0b0a57c5-f013-426a-81a1-f8ffbfba21f0"
GO_SUB = "a36036a8-9061-424d-a737-56d57dae7bc6"

# Claims a trigger must never add, change or suppress, written out here rather than taken from
# triggers.claims, so the code is judged against AWS's list and not against itself. The first 17
# are the AWS Cognito developer guide's pre token generation page ("You can not modify the
# following claims"); the other six are the claims Cognito writes into every access token itself
# (the guide's "Using the access token": scope, client_id, username, device_key, and event_id and
# version on V2_0 tokens), which the V2_0 access-token customisation excludes as well. Any
# cognito: or dev: claim is Cognito's too.
AWS_RESERVED_CLAIMS = frozenset(
    {
        "acr",
        "amr",
        "aud",
        "at_hash",
        "auth_time",
        "azp",
        "cognito:username",
        "exp",
        "iat",
        "identities",
        "iss",
        "jti",
        "nbf",
        "nonce",
        "origin_jti",
        "sub",
        "token_use",
        "scope",
        "client_id",
        "username",
        "event_id",
        "device_key",
        "version",
    }
)
AWS_RESERVED_PREFIXES = ("cognito:", "dev:")


def reserved_by_aws(name: str) -> bool:
    return name in AWS_RESERVED_CLAIMS or name.startswith(AWS_RESERVED_PREFIXES)


@pytest.fixture
def flags(acme):
    FeatureFlag.objects.create(key="reports", enabled_tiers=["pro"])
    FeatureFlag.objects.create(key="exports", default_enabled=True)
    FeatureFlag.objects.create(key="sso", enabled_tiers=["enterprise"])
    beta = FeatureFlag.objects.create(key="beta", default_enabled=True)
    FeatureFlagOverride.objects.create(flag=beta, company=acme, enabled=False)


def member(sub: str, *, company=None, role=None, **fields: Any) -> UserProfile:
    return UserProfile.objects.create(
        cognito_sub=sub, username="testqq", email="test@mail.com", company=company, role=role, **fields
    )


def admin_claims(acme) -> dict[str, str]:
    return {
        "custom:companyId": str(acme.pk),
        "custom:companyName": "Acme",
        "custom:role": "ADMIN",
        "custom:permissions": '["profile:read","users:invite"]',
        "custom:features": '["exports","reports"]',
        "custom:subscriptionTier": "pro",
        "custom:theme": "light",
        "custom:language": "en",
    }


# --- Event versions ------------------------------------------------------------------------


def test_version_1_answers_claims_override_details_from_gatehouse_records(acme, roles, flags):
    member(POWERTOOLS_SUB, company=acme, role=roles["ADMIN"])
    event = reference(POWERTOOLS_V1)

    answer = handler(event, None)

    assert answer["response"] == {
        "claimsOverrideDetails": {
            "claimsToAddOrOverride": admin_claims(acme),
            "claimsToSuppress": ["custom:companies"],
            "groupOverrideDetails": {"groupsToOverride": ["ADMIN"]},
        }
    }
    assert answer["request"] == event["request"]


def test_attributes_and_client_metadata_never_decide_the_claims(acme, roles, flags):
    member(POWERTOOLS_SUB, company=acme, role=roles["USER"])
    event = reference(POWERTOOLS_V1)
    event["request"]["userAttributes"].update(
        {"custom:companyId": "999", "custom:role": "SUPER_ADMIN", "custom:permissions": '["*"]'}
    )
    event["request"]["clientMetadata"] = {"role": "SUPER_ADMIN", "companyId": "999"}

    added = handler(event, None)["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"]

    assert added["custom:companyId"] == str(acme.pk)
    assert added["custom:role"] == "USER"
    assert added["custom:permissions"] == '["profile:read"]'


@pytest.mark.parametrize("name", [GO_V2, GO_V2_0])
def test_version_2_answers_both_tokens_scopes_and_groups(name, acme, roles, flags):
    member(GO_SUB, company=acme, role=roles["ADMIN"])
    event = reference(name)

    answer = handler(event, None)

    # The sample response in the published event is replaced, not merged.
    assert answer["response"] == {
        "claimsAndScopeOverrideDetails": {
            "idTokenGeneration": {
                "claimsToAddOrOverride": admin_claims(acme),
                "claimsToSuppress": ["custom:companies"],
            },
            "accessTokenGeneration": {
                "claimsToAddOrOverride": admin_claims(acme),
                "scopesToAdd": ["profile:read", "users:invite"],
            },
            "groupOverrideDetails": {"groupsToOverride": ["ADMIN"]},
        }
    }


def test_version_3_user_event_answers_like_version_2(acme, roles, flags):
    member(GO_SUB, company=acme, role=roles["ADMIN"])
    event = reference(GO_V2)
    event["version"] = "3"
    event["triggerSource"] = "TokenGeneration_RefreshTokens"

    details = handler(event, None)["response"]["claimsAndScopeOverrideDetails"]

    assert details["idTokenGeneration"]["claimsToAddOrOverride"] == admin_claims(acme)
    assert details["accessTokenGeneration"]["scopesToAdd"] == ["profile:read", "users:invite"]


def test_powertools_v2_event_labelled_version_1_is_answered_in_the_v2_shape(acme, roles, flags):
    # Deliberate: request.scopes exists only in V2_0/V3_0 events, so it outranks the label.
    member(POWERTOOLS_SUB, company=acme, role=roles["ADMIN"])
    event = reference(POWERTOOLS_V2_LABELLED_1)
    assert event["version"] == "1"

    response = handler(event, None)["response"]

    assert list(response) == ["claimsAndScopeOverrideDetails"]
    access = response["claimsAndScopeOverrideDetails"]["accessTokenGeneration"]
    assert access["claimsToAddOrOverride"] == admin_claims(acme)


def test_dotnet_events_with_a_bom_and_placeholder_source_get_minimal_claims(db):
    # The dotnet fixtures carry "trigger_source" and no sub: normalised to a real source, and
    # a user Gatehouse does not know gets minimal claims, not an error.
    v1 = reference(DOTNET_V1)
    v1["triggerSource"] = "TokenGeneration_Authentication"
    v2 = reference(DOTNET_V2)
    v2["triggerSource"] = "TokenGeneration_Authentication"

    v1_response = handler(v1, None)["response"]
    v2_response = handler(v2, None)["response"]

    minimal = {"custom:theme": "light", "custom:language": "en"}
    suppressed = [name for name in OWNED_CLAIMS if name not in minimal]
    assert v1_response == {
        "claimsOverrideDetails": {
            "claimsToAddOrOverride": minimal,
            "claimsToSuppress": suppressed,
            "groupOverrideDetails": {"groupsToOverride": []},
        }
    }
    assert v2_response == {
        "claimsAndScopeOverrideDetails": {
            "idTokenGeneration": {"claimsToAddOrOverride": minimal, "claimsToSuppress": suppressed},
            "accessTokenGeneration": {"claimsToAddOrOverride": minimal, "scopesToAdd": []},
            "groupOverrideDetails": {"groupsToOverride": []},
        }
    }


def test_dotnet_new_password_challenge_event_is_answered_from_the_sub(acme, roles, flags):
    member("some-sub", company=acme, role=roles["ADMIN"])
    event = reference(DOTNET_NEW_PASSWORD)

    details = handler(event, None)["response"]["claimsOverrideDetails"]

    assert details["claimsToAddOrOverride"] == admin_claims(acme)
    assert details["groupOverrideDetails"] == {"groupsToOverride": ["ADMIN"]}


def test_go_v1_event_with_a_made_up_source_normalised_gets_minimal_claims(db):
    event = reference(GO_V1)
    assert event["triggerSource"] == "PreTokenGen"  # not a value Cognito sends
    event["triggerSource"] = "TokenGeneration_HostedAuth"

    details = handler(event, None)["response"]["claimsOverrideDetails"]

    assert details["claimsToAddOrOverride"] == {"custom:theme": "light", "custom:language": "en"}


@pytest.mark.parametrize(
    "source",
    [
        "TokenGeneration_HostedAuth",
        "TokenGeneration_Authentication",
        "TokenGeneration_NewPasswordChallenge",
        "TokenGeneration_AuthenticateDevice",
        "TokenGeneration_RefreshTokens",
        "TokenGeneration_SomethingAwsAddsLater",
    ],
)
def test_every_user_token_source_gets_the_same_claims(source, acme, roles, flags):
    member(POWERTOOLS_SUB, company=acme, role=roles["ADMIN"])
    event = reference(POWERTOOLS_V1)
    event["triggerSource"] = source

    details = handler(event, None)["response"]["claimsOverrideDetails"]

    assert details["claimsToAddOrOverride"] == admin_claims(acme)


# --- Claim rules -----------------------------------------------------------------------------


def test_features_are_the_companys_effective_flags(acme, roles, flags):
    member(POWERTOOLS_SUB, company=acme, role=roles["USER"])

    added = handler(reference(POWERTOOLS_V1), None)["response"]["claimsOverrideDetails"][
        "claimsToAddOrOverride"
    ]

    on = sorted(key for key, enabled in company_effective_flags(company=acme).items() if enabled)
    assert json.loads(added["custom:features"]) == on == ["exports", "reports"]


def test_a_user_without_a_company_gets_default_flags_and_no_company_claims(roles, flags):
    member(POWERTOOLS_SUB, preferences={"theme": "dark", "language": "de"})

    details = handler(reference(POWERTOOLS_V1), None)["response"]["claimsOverrideDetails"]

    assert details == {
        "claimsToAddOrOverride": {
            "custom:permissions": "[]",
            "custom:features": '["beta","exports"]',
            "custom:subscriptionTier": "free",
            "custom:theme": "dark",
            "custom:language": "de",
        },
        "claimsToSuppress": ["custom:companyId", "custom:companyName", "custom:role", "custom:companies"],
        "groupOverrideDetails": {"groupsToOverride": []},
    }


def test_star_permission_is_a_claim_but_not_a_scope(acme, roles):
    member(GO_SUB, company=acme, role=roles["SUPER_ADMIN"])

    details = handler(reference(GO_V2), None)["response"]["claimsAndScopeOverrideDetails"]

    assert details["idTokenGeneration"]["claimsToAddOrOverride"]["custom:permissions"] == '["*"]'
    assert details["accessTokenGeneration"]["scopesToAdd"] == []
    # A role without a cognito_group is put in the group named after its key.
    assert details["groupOverrideDetails"] == {"groupsToOverride": ["SUPER_ADMIN"]}


def test_a_company_role_uses_its_cognito_group(acme):
    role = Role.objects.create(
        key="BILLING",
        name="Billing",
        company=acme,
        permissions=["invoices:read", "invoices:*"],
        cognito_group="acme-billing",
    )
    member(GO_SUB, company=acme, role=role)

    details = handler(reference(GO_V2), None)["response"]["claimsAndScopeOverrideDetails"]

    assert details["groupOverrideDetails"] == {"groupsToOverride": ["acme-billing"]}
    assert details["accessTokenGeneration"]["scopesToAdd"] == ["invoices:read"]
    assert details["idTokenGeneration"]["claimsToAddOrOverride"]["custom:permissions"] == (
        '["invoices:*","invoices:read"]'
    )


@pytest.mark.parametrize("who", ["user", "company"])
def test_suspension_removes_every_elevated_claim_and_group(who, acme, roles, flags):
    profile = member(GO_SUB, company=acme, role=roles["ADMIN"])
    if who == "user":
        profile.status = "suspended"
        profile.save()
    else:
        acme.status = "suspended"
        acme.save()

    details = handler(reference(GO_V2), None)["response"]["claimsAndScopeOverrideDetails"]

    kept = {
        "custom:companyId": str(acme.pk),
        "custom:companyName": "Acme",
        "custom:subscriptionTier": "pro",
        "custom:theme": "light",
        "custom:language": "en",
    }
    assert details == {
        "idTokenGeneration": {
            "claimsToAddOrOverride": kept,
            "claimsToSuppress": ["custom:role", "custom:permissions", "custom:features", "custom:companies"],
        },
        "accessTokenGeneration": {"claimsToAddOrOverride": kept, "scopesToAdd": []},
        "groupOverrideDetails": {"groupsToOverride": []},
    }


def test_every_claim_value_is_a_string(acme, roles, flags):
    member(POWERTOOLS_SUB, company=acme, role=roles["ADMIN"])

    added = handler(reference(POWERTOOLS_V1), None)["response"]["claimsOverrideDetails"][
        "claimsToAddOrOverride"
    ]

    assert all(isinstance(value, str) for value in added.values())


# --- Reserved claims -------------------------------------------------------------------------


def test_reserved_claims_are_filtered_centrally(caplog):
    claims = dict.fromkeys(RESERVED_CLAIMS, "x")
    claims.update({"dev:debug": "x", "cognito:groups": "x", "cognito:roles": "x", "custom:ok": "y"})

    with caplog.at_level(logging.ERROR, logger="gatehouse.triggers.claims"):
        kept = without_reserved(claims)

    assert kept == {"custom:ok": "y"}
    # Exactly AWS's list: a name dropped from the set (or one added) shows here.
    assert RESERVED_CLAIMS == AWS_RESERVED_CLAIMS
    assert caplog.records[0].claims == sorted(set(claims) - {"custom:ok"})


@pytest.mark.parametrize("suspended", [False, True], ids=["active", "suspended"])
@pytest.mark.parametrize("name", [POWERTOOLS_V1, GO_V2], ids=["v1", "v2"])
def test_no_answer_carries_a_reserved_claim(acme, roles, flags, name, suspended):
    # Judged by the list above, not by claims.is_reserved: a broken filter that let a reserved
    # name through would approve its own answer. Every name must also be one Gatehouse owns
    # (the exact answers are pinned by the tests of each version above).
    member(
        POWERTOOLS_SUB if name == POWERTOOLS_V1 else GO_SUB,
        company=acme,
        role=roles["ADMIN"],
        status="suspended" if suspended else "active",
    )

    response = handler(reference(name), None)["response"]

    if name == POWERTOOLS_V1:
        tokens = [response["claimsOverrideDetails"]]
    else:
        details = response["claimsAndScopeOverrideDetails"]
        tokens = [details["idTokenGeneration"], details["accessTokenGeneration"]]
    for token in tokens:
        names = set(token["claimsToAddOrOverride"]) | set(token.get("claimsToSuppress", []))
        assert "custom:companyId" in names  # the answer names claims: the check below is not vacuous
        assert names <= set(OWNED_CLAIMS)
        assert not {n for n in names if reserved_by_aws(n)}


# --- Byte budget -----------------------------------------------------------------------------


@pytest.fixture
def many_flags(acme):
    for i in range(40):
        FeatureFlag.objects.create(key=f"feature-number-{i:02d}", default_enabled=True)


def test_over_budget_features_go_first_with_a_warning_and_no_personal_data(
    acme, roles, many_flags, settings, caplog
):
    member(GO_SUB, company=acme, role=roles["ADMIN"])
    settings.CLAIMS_BYTE_BUDGET = 400

    with caplog.at_level(logging.WARNING, logger="gatehouse.triggers.claims"):
        details = handler(reference(GO_V2), None)["response"]["claimsAndScopeOverrideDetails"]

    id_token = details["idTokenGeneration"]
    expected = {k: v for k, v in admin_claims(acme).items() if k != "custom:features"}
    assert id_token["claimsToAddOrOverride"] == expected
    # custom:companies is absent (a one-company member), so it is suppressed with the trimmed one.
    assert id_token["claimsToSuppress"] == ["custom:features", "custom:companies"]
    assert details["accessTokenGeneration"]["scopesToAdd"] == ["profile:read", "users:invite"]
    [record] = [r for r in caplog.records if r.name == "gatehouse.triggers.claims"]
    assert record.levelno == logging.WARNING
    assert record.trimmed == ["custom:features"]
    assert record.budget_bytes == 400
    assert record.size_bytes <= 400
    rendered = json.dumps(record.__dict__, default=str)
    assert GO_SUB not in rendered
    assert "testuser@example.com" not in rendered
    assert "Acme" not in rendered


def test_a_tight_budget_trims_in_order_but_keeps_company_id_and_role(acme, roles, many_flags, settings):
    member(GO_SUB, company=acme, role=roles["ADMIN"])
    settings.CLAIMS_BYTE_BUDGET = 120

    details = handler(reference(GO_V2), None)["response"]["claimsAndScopeOverrideDetails"]

    assert details["idTokenGeneration"]["claimsToAddOrOverride"] == {
        "custom:companyId": str(acme.pk),
        "custom:companyName": "Acme",
        "custom:role": "ADMIN",
        "custom:subscriptionTier": "pro",
    }
    assert details["accessTokenGeneration"]["scopesToAdd"] == []


def test_an_impossible_budget_still_keeps_company_id_and_role(acme, roles, many_flags, settings):
    member(POWERTOOLS_SUB, company=acme, role=roles["ADMIN"])
    settings.CLAIMS_BYTE_BUDGET = 1

    added = handler(reference(POWERTOOLS_V1), None)["response"]["claimsOverrideDetails"][
        "claimsToAddOrOverride"
    ]

    assert added == {"custom:companyId": str(acme.pk), "custom:role": "ADMIN"}


def test_the_default_budget_fits_a_normal_user(acme, roles, flags, caplog):
    member(POWERTOOLS_SUB, company=acme, role=roles["ADMIN"])

    with caplog.at_level(logging.WARNING, logger="gatehouse.triggers.claims"):
        handler(reference(POWERTOOLS_V1), None)

    assert [r for r in caplog.records if r.name == "gatehouse.triggers.claims"] == []


# --- Queries and the cache ---------------------------------------------------------------------


def test_a_cold_invocation_issues_one_query_and_a_warm_one_none(
    acme, roles, flags, django_assert_num_queries
):
    member(GO_SUB, company=acme, role=roles["ADMIN"])
    event = reference(GO_V2)

    with django_assert_num_queries(1):
        first = handler(copy.deepcopy(event), None)
    with django_assert_num_queries(0):
        second = handler(copy.deepcopy(event), None)

    assert first == second


def test_staff_changes_show_once_the_cache_expires(
    acme, roles, flags, monkeypatch, django_assert_num_queries
):
    profile = member(POWERTOOLS_SUB, company=acme, role=roles["ADMIN"])
    event = reference(POWERTOOLS_V1)
    now = [1000.0]
    monkeypatch.setattr(claims_module.time, "monotonic", lambda: now[0])

    def role_claim() -> str:
        answer = handler(copy.deepcopy(event), None)
        return answer["response"]["claimsOverrideDetails"]["claimsToAddOrOverride"].get("custom:role", "")

    assert role_claim() == "ADMIN"
    UserProfile.objects.filter(pk=profile.pk).update(role=roles["USER"])
    now[0] += 29.9  # CLAIMS_CACHE_SECONDS defaults to 30
    with django_assert_num_queries(0):
        assert role_claim() == "ADMIN"
    now[0] += 0.2
    with django_assert_num_queries(1):
        assert role_claim() == "USER"


def test_a_zero_ttl_disables_the_cache(acme, roles, settings, django_assert_num_queries):
    member(POWERTOOLS_SUB, company=acme, role=roles["ADMIN"])
    settings.CLAIMS_CACHE_SECONDS = 0
    event = reference(POWERTOOLS_V1)

    handler(copy.deepcopy(event), None)
    with django_assert_num_queries(1):
        handler(copy.deepcopy(event), None)


def test_an_unknown_sub_is_not_cached_so_a_new_profile_shows_at_once(acme, roles, django_assert_num_queries):
    event = reference(POWERTOOLS_V1)
    first = handler(copy.deepcopy(event), None)["response"]["claimsOverrideDetails"]
    member(POWERTOOLS_SUB, company=acme, role=roles["ADMIN"])

    with django_assert_num_queries(1):
        second = handler(copy.deepcopy(event), None)["response"]["claimsOverrideDetails"]

    assert "custom:role" not in first["claimsToAddOrOverride"]
    assert second["claimsToAddOrOverride"]["custom:role"] == "ADMIN"


def test_the_cache_is_bounded():
    cache = claims_module.TtlCache(max_entries=3)
    for i in range(5):
        cache.put(i, i, ttl=60)

    assert len(cache) == 3
    assert [cache.get(i) for i in (2, 3, 4)] == [2, 3, 4]


# --- Client credentials (V3_0, machine to machine) ---------------------------------------------


def client_credentials_event(client_id: str) -> dict[str, Any]:
    event = reference(GO_V2)
    event.update(version="3", triggerSource="TokenGeneration_ClientCredentials", userName=client_id)
    event["callerContext"]["clientId"] = client_id
    event["request"] = {"userAttributes": {}, "scopes": ["orders/read"], "groupConfiguration": {}}
    event["response"] = {"claimsAndScopeOverrideDetails": None}
    return event


def test_a_known_client_gets_its_company_and_allowed_scopes(acme, django_assert_num_queries):
    AppClient.objects.create(
        client_id="m2m-client", name="Acme ERP", company=acme, allowed_scopes=["orders/read", "orders/write"]
    )
    event = client_credentials_event("m2m-client")

    with django_assert_num_queries(1):
        answer = handler(copy.deepcopy(event), None)
    with django_assert_num_queries(0):
        again = handler(copy.deepcopy(event), None)

    assert answer["response"] == {
        "claimsAndScopeOverrideDetails": {
            "accessTokenGeneration": {
                "claimsToAddOrOverride": {"custom:companyId": str(acme.pk), "custom:companyName": "Acme"},
                "scopesToAdd": ["orders/read", "orders/write"],
            }
        }
    }
    assert again == answer


def test_a_client_without_a_company_gets_only_its_scopes(db):
    AppClient.objects.create(client_id="ops", name="Ops", allowed_scopes=["ops/all"])

    details = handler(client_credentials_event("ops"), None)["response"]["claimsAndScopeOverrideDetails"]

    assert details == {"accessTokenGeneration": {"claimsToAddOrOverride": {}, "scopesToAdd": ["ops/all"]}}


@pytest.mark.parametrize("case", ["unknown", "inactive", "company_suspended"])
def test_an_unknown_inactive_or_suspended_client_gets_nothing(case, acme):
    if case == "inactive":
        AppClient.objects.create(
            client_id="c1", name="Old", company=acme, allowed_scopes=["a/b"], is_active=False
        )
    if case == "company_suspended":
        AppClient.objects.create(client_id="c1", name="ERP", company=acme, allowed_scopes=["a/b"])
        acme.status = "suspended"
        acme.save()

    details = handler(client_credentials_event("c1"), None)["response"]["claimsAndScopeOverrideDetails"]

    assert details == {"accessTokenGeneration": {"claimsToAddOrOverride": {}, "scopesToAdd": []}}


def test_a_client_credentials_event_never_reads_a_user_profile(acme, roles):
    # userName of an M2M event is the client id: a profile with that name must not matter.
    member("m2m-client", company=acme, role=roles["SUPER_ADMIN"])

    details = handler(client_credentials_event("m2m-client"), None)["response"][
        "claimsAndScopeOverrideDetails"
    ]

    assert details == {"accessTokenGeneration": {"claimsToAddOrOverride": {}, "scopesToAdd": []}}
