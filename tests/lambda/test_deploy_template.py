"""deploy/template.yaml passes cfn-lint and wires every trigger family Gatehouse answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from triggers.registry import FAMILIES

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "template.yaml"

# triggerSource family -> the user pool's LambdaConfig key that makes Cognito send it.
LAMBDA_CONFIG_KEY = {
    "PreSignUp": "PreSignUp",
    "PostConfirmation": "PostConfirmation",
    "PreAuthentication": "PreAuthentication",
    "PostAuthentication": "PostAuthentication",
    "TokenGeneration": "PreTokenGenerationConfig",
    "CustomMessage": "CustomMessage",
    "DefineAuthChallenge": "DefineAuthChallenge",
    "CreateAuthChallenge": "CreateAuthChallenge",
    "VerifyAuthChallengeResponse": "VerifyAuthChallengeResponse",
    "UserMigration": "UserMigration",
}


def _template() -> dict:
    from cfnlint.decode import decode

    template, errors = decode(str(TEMPLATE))
    assert errors == []
    return template


def test_cfn_lint_passes() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_every_trigger_family_reaches_the_trigger_function() -> None:
    config = _template()["Resources"]["UserPool"]["Properties"]["LambdaConfig"]

    assert sorted(LAMBDA_CONFIG_KEY[family] for family in FAMILIES) == sorted(config)
    # The SnapStart alias: SnapStart applies to published versions only, never to $LATEST.
    assert config["PreTokenGenerationConfig"] == {
        "LambdaArn": {"Ref": "TriggerFunction.Alias"},
        "LambdaVersion": {"Ref": "PreTokenGenerationVersion"},
    }
    assert all(
        value == {"Ref": "TriggerFunction.Alias"}
        for key, value in config.items()
        if key != "PreTokenGenerationConfig"
    )


def test_pre_token_generation_defaults_to_v2_and_offers_v1_and_v3() -> None:
    parameter = _template()["Parameters"]["PreTokenGenerationVersion"]

    assert (parameter["Default"], parameter["AllowedValues"]) == ("V2_0", ["V1_0", "V2_0", "V3_0"])


def test_cognito_permissions_name_this_pool_only_and_ses_allows_sending_only() -> None:
    resources = _template()["Resources"]
    cognito = resources["CognitoSideEffectsPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    ses = resources["SesSendPolicy"]["Properties"]["PolicyDocument"]["Statement"]

    assert [s["Resource"] for s in cognito] == [{"Fn::GetAtt": ["UserPool", "Arn"]}]
    assert all(
        a.startswith("cognito-idp:Admin") or a == "cognito-idp:CreateGroup" for a in cognito[0]["Action"]
    )
    assert [s["Action"] for s in ses] == [["ses:SendEmail", "ses:SendRawEmail"]]
    assert "*" not in str(cognito) + str(ses)


def test_the_app_client_allows_password_and_custom_auth() -> None:
    flows = _template()["Resources"]["UserPoolClient"]["Properties"]["ExplicitAuthFlows"]

    assert {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_CUSTOM_AUTH"} <= set(flows)


def test_the_trigger_and_admin_functions_resume_from_a_snapstart_snapshot() -> None:
    resources = _template()["Resources"]

    for name in ("TriggerFunction", "AdminFunction"):
        properties = resources[name]["Properties"]
        assert (properties["AutoPublishAlias"], properties["SnapStart"]) == (
            "live",
            {"ApplyOn": "PublishedVersions"},
        )
    # Cognito may invoke the alias it calls (a permission on the function would not cover it).
    assert resources["TriggerInvokePermission"]["Properties"]["FunctionName"] == {
        "Ref": "TriggerFunction.Alias"
    }


def test_a_changed_email_stays_pending_until_verified() -> None:
    # Without this, UpdateUserAttributes replaces email at once and sets email_verified
    # false; with it, the old verified address stays until the code sent to the new one is
    # entered (issue 13, item 2).
    pool = _template()["Resources"]["UserPool"]["Properties"]

    assert pool["UserAttributeUpdateSettings"] == {"AttributesRequireVerificationBeforeUpdate": ["email"]}


def test_side_effects_reach_a_capped_sqs_consumer_that_reports_partial_failures() -> None:
    resources = _template()["Resources"]
    queue = resources["SideEffectQueue"]["Properties"]
    consumer = resources["SideEffectConsumerFunction"]["Properties"]
    (event,) = consumer["Events"].values()

    assert consumer["Handler"] == "triggers.sqs_consumer.handler"
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["SideEffectQueue", "Arn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["ScalingConfig"] == {
        "MaximumConcurrency": {"Ref": "SideEffectConsumerConcurrency"}
    }
    # Dead letters after N receives; a batch still running is never handed to a second consumer.
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["SideEffectDeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "SideEffectMaxReceives"},
    }
    assert queue["VisibilityTimeout"] >= 6 * consumer["Timeout"]
    # The triggers send to this queue only, and write no task row nothing would run.
    env = _template()["Globals"]["Function"]["Environment"]["Variables"]
    assert (env["SIDE_EFFECT_QUEUE_URL"], env["SIDE_EFFECT_TASKS"]) == ({"Ref": "SideEffectQueue"}, "false")
    send = resources["SqsSendPolicy"]["Properties"]
    assert send["PolicyDocument"]["Statement"] == [
        {
            "Sid": "SendToTheSideEffectQueueOnly",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": ["SideEffectQueue", "Arn"]},
        }
    ]
    assert {"Ref": "SideEffectConsumerFunctionRole"} in resources["SesSendPolicy"]["Properties"]["Roles"]
    assert {"Ref": "SideEffectConsumerFunctionRole"} in resources["CognitoSideEffectsPolicy"]["Properties"][
        "Roles"
    ]
    # Subnets without a NAT gateway get an interface endpoint for SQS.
    endpoint = resources["SqsVpcEndpoint"]
    assert (endpoint["Condition"], endpoint["Properties"]["VpcEndpointType"]) == (
        "CreateSqsEndpoint",
        "Interface",
    )


def test_tokens_live_fifteen_minutes_so_a_removed_member_loses_access_soon() -> None:
    client = _template()["Resources"]["UserPoolClient"]["Properties"]

    assert (client["AccessTokenValidity"], client["IdTokenValidity"]) == (15, 15)
    assert client["TokenValidityUnits"] == {
        "AccessToken": "minutes",
        "IdToken": "minutes",
        "RefreshToken": "days",
    }
