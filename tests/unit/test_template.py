"""template.yaml and forwarder.yaml: wiring, least privilege, encryption, and a clean lint.

cfn-lint does not look inside AWS::Serverless::* resources, so the SAM template is translated to plain
CloudFormation with aws-sam-translator (as `sam package`/`deploy` would) and linted after translation.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from cfnlint.api import ManualArgs, lint
from samtranslator.yaml_helper import yaml_parse

from tests.conftest import ROOT
from veeam_role_auditor import lambda_app
from veeam_role_auditor.cloudtrail import HANDLED_EVENTS
from veeam_role_auditor.policy.wildcard import arn_match
from veeam_role_auditor.publish.publisher import PublishReport

TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
FORWARDER = yaml_parse((ROOT / "forwarder.yaml").read_text())
RESOURCES = TEMPLATE["Resources"]

DEFAULT_PRODUCT = "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:product/${AWS::AccountId}/default"
# Service Authorization Reference, AWS Security Hub: BatchUpdateFindings acts on the "hub" resource type.
HUB = "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:hub/default"
SUPPRESSIONS_PARAMETER = (
    "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${SuppressionsParameterName}"
)
# CloudWatch names the alarm that publishes in aws:SourceArn (CloudWatch User Guide, alarm ARN format).
ALARM_ARN = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:"
THIS_STACKS_ALARMS = ALARM_ARN + "${AWS::StackName}-*"
# Every metric the code emits is one or the other; each failure metric needs an alarm.
FAILURE_METRICS = {
    "ScansIncomplete",  # a full scan ran out of time before it had read every role
    "FindingsDeferred",  # a run ran out of time before it had published every finding
    "ImportFailures",  # Security Hub refused findings
    "SecurityHubDisabled",  # Security Hub is off in the region: nothing was imported
    "AlertFailures",  # SNS refused an alert: the topic or its key is broken
    "EventsRejected",  # an IAM change event the auditor could not read
    "RolesNotAssessed",  # assessing a role raised: its findings are NOT_AVAILABLE
    "PublishFailures",  # Security Hub or the state table failed a run's publishing beyond the retries
    "SuppressionRulesInvalid",  # the suppression rules could not be used: published without suppressions
}
ACTIVITY_METRICS = {
    "RolesEvaluated",
    "FindingsFailed",
    "FindingsWarning",
    "FindingsPassed",
    "FindingsNotAvailable",
    "Transitions",
    "AlertMessagesSent",
    "FindingsImported",
    "EventsSkipped",
    "IamChangesProcessed",
    "FindingsSuppressed",
    "SuppressionRulesExpired",
}
METRIC_SOURCES = [
    Path(lambda_app.__file__),
    ROOT / "functions" / "scheduled_scan" / "app.py",
    ROOT / "functions" / "iam_change" / "app.py",
]
SAMPLE_STACK = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "111122223333",
    "AWS::StackName": "veeam-role-auditor",
}
SCAN_ACTIONS = {
    "iam:GetAccountAuthorizationDetails",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "dynamodb:Scan",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "securityhub:BatchImportFindings",
    "securityhub:BatchUpdateFindings",
    "ssm:GetParameter",
    "sns:Publish",
    "kms:GenerateDataKey",
    "kms:Decrypt",
}
CHANGE_ACTIONS = {
    "iam:GetRole",
    "iam:ListRoleTags",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "dynamodb:BatchGetItem",
    "dynamodb:Scan",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "securityhub:BatchImportFindings",
    "securityhub:BatchUpdateFindings",
    "ssm:GetParameter",
    "sns:Publish",
    "kms:GenerateDataKey",
    "kms:Decrypt",
    "sqs:SendMessage",
    "lambda:InvokeFunction",
}


def translated(tmp_path: Path) -> dict[str, Any]:
    """The template as plain CloudFormation, through the same script as `make cfn`."""
    output = tmp_path / "translated.json"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "translate.py"),
            "--placeholder-code",
            str(ROOT / "template.yaml"),
            str(output),
        ],
        check=True,
        capture_output=True,
    )
    return dict(json.loads(output.read_text()))


def sample(text: str) -> str:
    """A Fn::Sub string as it resolves in a sample stack."""
    return re.sub(r"\$\{([^}]+)\}", lambda match: SAMPLE_STACK[match.group(1)], text)


def alarms() -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


class RecordedMetrics:
    def __init__(self) -> None:
        self.names: set[str] = set()

    def add_metric(self, name: str, unit: str, value: float) -> None:
        self.names.add(name)


def metrics_every_publish_reports() -> set[str]:
    """What each run reports after publishing, zero or not (the names of some are built at run time)."""
    recorded = RecordedMetrics()
    app = lambda_app.AuditorApp(cast(Any, None), lambda service: None, metrics=recorded)
    app._metrics(PublishReport(), roles=0, findings=[])
    return recorded.names


def emitted_metrics() -> set[str]:
    """Every metric name the handlers and the library pass to add_metric."""
    names = metrics_every_publish_reports()
    for path in METRIC_SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "add_metric",
                "add",
            ):
                named = [keyword.value for keyword in node.keywords if keyword.arg == "name"]
                argument = node.args[0] if node.args else named[0]
                if isinstance(argument, ast.Constant):
                    names.add(argument.value)
    return names


def powertools_metric(name: str) -> tuple[str, list[dict[str, str]]]:
    """Namespace and dimensions of a metric as Powertools writes it with the template's settings."""
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    provider = AmazonCloudWatchEMFProvider(
        namespace=variables["POWERTOOLS_METRICS_NAMESPACE"], service=variables["POWERTOOLS_SERVICE_NAME"]
    )
    provider.add_metric(name=name, unit="Count", value=1)
    document = provider.serialize_metric_set()
    directive = document["_aws"]["CloudWatchMetrics"][0]
    return directive["Namespace"], [{"Name": key, "Value": document[key]} for key in directive["Dimensions"][0]]


def watched_resource(dimension_value: Any) -> str:
    if "Ref" in dimension_value:
        return str(dimension_value["Ref"])
    return str(dimension_value["Fn::GetAtt"][0])


def statements(function: str) -> list[dict[str, Any]]:
    """The function's policy statements; a conditional one (Fn::If, else AWS::NoValue) as when its
    condition holds."""
    found = []
    for written in RESOURCES[function]["Properties"]["Policies"][0]["Statement"]:
        if "Fn::If" in written:
            _, statement, otherwise = written["Fn::If"]
            assert otherwise == {"Ref": "AWS::NoValue"}
            found.append(statement)
        else:
            found.append(written)
    return found


def actions(function: str) -> set[str]:
    found: set[str] = set()
    for statement in statements(function):
        assert statement["Effect"] == "Allow"
        value = statement["Action"]
        found.update([value] if isinstance(value, str) else value)
    return found


# ---------------------------------------------------------------------- lint


def test_translated_template_has_no_cfn_lint_error_or_warning(tmp_path: Path) -> None:
    document = translated(tmp_path)
    assert "Transform" not in document
    matches = lint(json.dumps(document), config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [str(match) for match in matches] == []


def test_forwarder_template_has_no_cfn_lint_error_or_warning() -> None:
    matches = lint((ROOT / "forwarder.yaml").read_text(), config=ManualArgs(regions=["us-east-1"]))
    assert [str(match) for match in matches] == []


def test_translation_creates_the_expected_resources(tmp_path: Path) -> None:
    resources = translated(tmp_path)["Resources"]
    kinds = sorted(resource["Type"] for resource in resources.values())
    assert kinds.count("AWS::Lambda::Function") == 2
    assert kinds.count("AWS::Lambda::LayerVersion") == 1
    assert kinds.count("AWS::Events::Rule") == 2  # the schedule and the IAM change rule
    assert kinds.count("AWS::Lambda::EventSourceMapping") == 1  # the re-check queue
    assert kinds.count("AWS::CloudWatch::Alarm") == 15


# ---------------------------------------------------------------------- parameters


@pytest.mark.parametrize("name", sorted(TEMPLATE["Parameters"]))
def test_every_parameter_has_a_description_and_a_constraint(name: str) -> None:
    parameter = TEMPLATE["Parameters"][name]
    assert parameter["Description"].strip()
    constraints = {"AllowedPattern", "AllowedValues", "MinValue", "MaxValue"}
    assert constraints & set(parameter) or parameter["Type"].startswith("AWS::SSM::Parameter::Value")


def locked_version(package: str) -> str:
    """The version requirements/dev.txt (the hashed lock every venv installs) pins for a package."""
    (version,) = re.findall(rf"^{re.escape(package)}==(\S+) ", (ROOT / "requirements" / "dev.txt").read_text(), re.M)
    return version


def test_powertools_comes_from_the_managed_layer_resolved_per_region() -> None:
    parameter = TEMPLATE["Parameters"]["PowertoolsLayerArn"]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert TEMPLATE["Globals"]["Function"]["Layers"] == [{"Ref": "PowertoolsLayerArn"}, {"Ref": "AuditorLayer"}]


def test_the_powertools_layer_is_pinned_to_the_release_the_tests_run() -> None:
    # A `latest` default would move the functions to a release (even a new major one) at any stack update.
    default = TEMPLATE["Parameters"]["PowertoolsLayerArn"]["Default"]
    prefix, release = default.rsplit("/", 1)
    assert prefix == "/aws/service/powertools/python/arm64/python3.13"
    assert re.fullmatch(r"\d+\.\d+\.\d+", release), f"pin a release, not {release!r}"
    assert release == locked_version("aws-lambda-powertools")
    assert release == importlib.metadata.version("aws-lambda-powertools")  # what this test run imports


# ---------------------------------------------------------------------- functions and triggers


def test_functions_run_python313_on_arm64_built_without_docker() -> None:
    function_globals = TEMPLATE["Globals"]["Function"]
    assert (function_globals["Runtime"], function_globals["Architectures"]) == ("python3.13", ["arm64"])
    assert function_globals["Tracing"] == "Active"
    for name in ("ScheduledScanFunction", "IamChangeFunction"):
        assert RESOURCES[name]["Metadata"]["BuildMethod"] == "makefile"
        assert RESOURCES[name]["Properties"]["Handler"] == "app.lambda_handler"
    assert RESOURCES["AuditorLayer"]["Metadata"]["BuildMethod"] == "makefile"
    assert RESOURCES["ScheduledScanFunction"]["Properties"]["ReservedConcurrentExecutions"] == 1


def test_the_iam_rule_matches_every_handled_event_and_no_failed_call() -> None:
    pattern = RESOURCES["IamChangeFunction"]["Properties"]["Events"]["IamChange"]["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.iam"]
    assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]
    assert pattern["detail"]["eventSource"] == ["iam.amazonaws.com"]
    assert set(pattern["detail"]["eventName"]) == HANDLED_EVENTS
    assert len(pattern["detail"]["eventName"]) == len(HANDLED_EVENTS)  # each once
    assert pattern["detail"]["errorCode"] == [{"exists": False}]
    forwarded = FORWARDER["Resources"]["ForwardRule"]["Properties"]["EventPattern"]
    assert forwarded == pattern


def test_schedule_default_is_hourly_and_wired() -> None:
    assert TEMPLATE["Parameters"]["ScanSchedule"]["Default"] == "rate(1 hour)"
    event = RESOURCES["ScheduledScanFunction"]["Properties"]["Events"]["Schedule"]
    assert (event["Type"], event["Properties"]["Schedule"]) == ("Schedule", {"Ref": "ScanSchedule"})


def test_failures_end_in_the_dead_letter_queue_and_raise_alarms() -> None:
    dlq = {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    for function in ("ScheduledScanFunction", "IamChangeFunction"):
        properties = RESOURCES[function]["Properties"]
        assert properties["DeadLetterQueue"] == {"Type": "SQS", "TargetArn": dlq}
    assert RESOURCES["ScheduledScanFunction"]["Properties"]["Events"]["Schedule"]["Properties"]["DeadLetterConfig"] == {
        "Arn": dlq
    }
    assert RESOURCES["IamChangeFunction"]["Properties"]["Events"]["IamChange"]["Properties"]["DeadLetterConfig"] == {
        "Arn": dlq
    }
    recheck = RESOURCES["RecheckQueue"]["Properties"]
    assert (recheck["DelaySeconds"], recheck["RedrivePolicy"]["deadLetterTargetArn"]) == (300, dlq)
    watched = {
        (alarm["Namespace"], alarm["MetricName"], watched_resource(alarm["Dimensions"][0]["Value"]))
        for alarm in alarms().values()
        if alarm["Namespace"].startswith("AWS/")
    }
    assert watched == {
        ("AWS/Lambda", "Errors", "ScheduledScanFunction"),
        ("AWS/Lambda", "Errors", "IamChangeFunction"),
        ("AWS/Lambda", "Throttles", "ScheduledScanFunction"),
        ("AWS/Lambda", "Throttles", "IamChangeFunction"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "DeadLetterQueue"),
        ("AWS/SNS", "NumberOfNotificationsFailed", "AlertTopic"),
    }


def test_every_metric_the_code_emits_is_known_as_a_failure_or_as_activity() -> None:
    assert FAILURE_METRICS.isdisjoint(ACTIVITY_METRICS)
    assert emitted_metrics() == FAILURE_METRICS | ACTIVITY_METRICS


def test_every_failure_metric_the_code_emits_has_an_alarm_on_the_metric_powertools_writes() -> None:
    every_publish = metrics_every_publish_reports()
    custom = {alarm["MetricName"]: alarm for alarm in alarms().values() if not alarm["Namespace"].startswith("AWS/")}
    assert set(custom) == FAILURE_METRICS & emitted_metrics()
    for name, alarm in custom.items():
        assert (alarm["Namespace"], alarm["Dimensions"]) == powertools_metric(name), name
        assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
            "Sum",
            "GreaterThanOrEqualToThreshold",
            1,
        ), name
        # A metric every publish reports (0 when all went well) keeps the alarm until a run reports 0;
        # one reported only when something failed must let the alarm return to OK without data.
        assert alarm["TreatMissingData"] == ("ignore" if name in every_publish else "notBreaching"), name


def test_throttling_alarms_only_when_it_lasts_longer_than_an_overlap_explains() -> None:
    # The scan function runs one scan at a time (reserved concurrency 1): a requested scan waits while
    # another runs, for at most its 900 s timeout, which can touch two 15-minute periods, not three.
    throttles = {
        watched_resource(alarm["Dimensions"][0]["Value"]): alarm
        for alarm in alarms().values()
        if alarm["MetricName"] == "Throttles"
    }
    scan = throttles["ScheduledScanFunction"]
    assert (scan["Period"], scan["EvaluationPeriods"], scan["DatapointsToAlarm"]) == (900, 3, 3)
    assert RESOURCES["ScheduledScanFunction"]["Properties"]["Timeout"] <= scan["Period"]
    change = throttles["IamChangeFunction"]
    assert (change["Period"], change["EvaluationPeriods"], change["DatapointsToAlarm"]) == (300, 3, 3)


def test_every_alarm_is_heard_even_when_the_alerts_topic_or_its_key_is_broken() -> None:
    for name, alarm in alarms().items():
        assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}, {"Ref": "FallbackAlarmTopic"}], name
        assert alarm["OKActions"] == [{"Ref": "AlertTopic"}], name
    fallback = {name: RESOURCES[name] for name in ("FallbackAlarmTopic", "FallbackAlarmTopicPolicy")}
    # Nothing of the alerts path: no KMS key (CloudWatch cannot use the AWS managed one), no shared policy.
    assert "KmsMasterKeyId" not in fallback["FallbackAlarmTopic"]["Properties"]
    assert "AlertTopic" not in json.dumps(fallback)
    assert "AlertKey" not in json.dumps(fallback)
    subscription = RESOURCES["FallbackAlarmEmailSubscription"]
    assert subscription["Condition"] == "HasFallbackAlarmEmail"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "FallbackAlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "FallbackAlarmEmail"},
    }
    assert TEMPLATE["Outputs"]["FallbackAlarmTopicArn"]["Value"] == {"Ref": "FallbackAlarmTopic"}


def test_the_recheck_source_stays_within_the_functions_reserved_concurrency() -> None:
    # An SQS event source mapping ignores reserved concurrency: without a maximum it polls more batches
    # than the function may run, and each throttled batch counts as a receive (Lambda Developer Guide,
    # "Configuring maximum concurrency for Amazon SQS event sources"; 2 is the smallest maximum).
    function = RESOURCES["IamChangeFunction"]["Properties"]
    maximum = function["Events"]["Recheck"]["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    assert 2 <= maximum < function["ReservedConcurrentExecutions"]  # room left for the IAM change events


def test_a_throttled_recheck_is_received_again_before_it_reaches_the_dead_letter_queue() -> None:
    # Lambda's guidance for SQS sources ("Understanding SQS retries"): visibility timeout at least six
    # times the function's timeout, maxReceiveCount at least 5.
    queue = RESOURCES["RecheckQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * RESOURCES["IamChangeFunction"]["Properties"]["Timeout"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 5


def test_everything_at_rest_is_encrypted() -> None:
    assert RESOURCES["AlertTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlertKey"}
    assert RESOURCES["AlertKey"]["Properties"]["EnableKeyRotation"] is True
    table = RESOURCES["StateTable"]["Properties"]
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    for queue in ("DeadLetterQueue", "RecheckQueue"):
        assert RESOURCES[queue]["Properties"]["SqsManagedSseEnabled"] is True


@pytest.mark.parametrize("name", ["StateTable", "AlertKey"])
def test_state_and_the_alerts_key_survive_a_stack_delete_or_a_replacement(name: str, tmp_path: Path) -> None:
    # The table remembers what was published (without it every finding is news again); deleting the key
    # cannot be undone. Both policies: DeletionPolicy alone does not cover a replacement.
    for document in (TEMPLATE, translated(tmp_path)):
        resource = document["Resources"][name]
        assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")
    # CloudFormation names the table, so a retained one never collides with the one a redeployment creates.
    assert "TableName" not in RESOURCES["StateTable"]["Properties"]
    # Where to find them after `sam delete`: the README tells to note these outputs first.
    assert TEMPLATE["Outputs"]["StateTableName"]["Value"] == {"Ref": "StateTable"}
    assert TEMPLATE["Outputs"]["AlertKeyArn"]["Value"] == {"Fn::GetAtt": ["AlertKey", "Arn"]}


def test_optional_email_subscription() -> None:
    subscription = RESOURCES["AlertEmailSubscription"]
    assert subscription["Condition"] == "HasAlertEmail"
    assert TEMPLATE["Conditions"]["HasAlertEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]}


def test_alarms_are_named_after_the_stack_so_policies_can_name_them() -> None:
    names = [alarm["AlarmName"]["Fn::Sub"] for alarm in alarms().values()]
    assert len(set(names)) == len(names)
    for name in names:
        assert name.startswith("${AWS::StackName}-")
        assert arn_match(sample(THIS_STACKS_ALARMS), sample(ALARM_ARN + name))
    assert not arn_match(sample(THIS_STACKS_ALARMS), sample(ALARM_ARN + "another-stack-errors"))


def test_only_this_stacks_alarms_may_publish_to_the_topics_and_use_the_key() -> None:
    # Without aws:SourceArn, any alarm of the account could post to the topic (confused deputy).
    policies = {
        "AlertTopicPolicy": RESOURCES["AlertTopicPolicy"]["Properties"]["PolicyDocument"],
        "AlertKey": RESOURCES["AlertKey"]["Properties"]["KeyPolicy"],
        "FallbackAlarmTopicPolicy": RESOURCES["FallbackAlarmTopicPolicy"]["Properties"]["PolicyDocument"],
    }
    for name, policy in policies.items():
        grants = [s for s in policy["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
        assert [grant["Effect"] for grant in grants] == ["Allow"], name
        assert grants[0]["Condition"] == {
            "ArnLike": {"aws:SourceArn": {"Fn::Sub": THIS_STACKS_ALARMS}},
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        }, name


# ---------------------------------------------------------------------- least privilege


def test_scan_function_may_call_exactly_what_its_code_calls() -> None:
    assert actions("ScheduledScanFunction") == SCAN_ACTIONS


def test_iam_change_function_may_call_exactly_what_its_code_calls() -> None:
    assert actions("IamChangeFunction") == CHANGE_ACTIONS


@pytest.mark.parametrize("function", ["ScheduledScanFunction", "IamChangeFunction"])
def test_no_function_can_write_to_iam(function: str) -> None:
    iam = {action for action in actions(function) if action.startswith("iam:")}
    assert all(action.split(":")[1].startswith(("Get", "List")) for action in iam)


@pytest.mark.parametrize("function", ["ScheduledScanFunction", "IamChangeFunction"])
def test_resources_are_the_narrowest_possible(function: str) -> None:
    for statement in statements(function):
        resource = statement["Resource"]
        if resource == "*":
            assert statement["Action"] == "iam:GetAccountAuthorizationDetails"  # no resource-level permissions
        if "securityhub:BatchImportFindings" in str(statement["Action"]):
            assert resource == {"Fn::Sub": DEFAULT_PRODUCT}
        if "securityhub:BatchUpdateFindings" in str(statement["Action"]):
            assert resource == {"Fn::Sub": HUB}
            # "Configuring access to BatchUpdateFindings": only the statuses the auditor sets.
            assert statement["Condition"] == {
                "StringEquals": {"securityhub:ASFFSyntaxPath/Workflow.Status": ["NEW", "SUPPRESSED"]}
            }
        if "ssm:GetParameter" in str(statement["Action"]):
            assert resource == {"Fn::Sub": SUPPRESSIONS_PARAMETER}


@pytest.mark.parametrize("function", ["ScheduledScanFunction", "IamChangeFunction"])
def test_the_suppression_rules_are_readable_only_when_a_parameter_is_named(function: str) -> None:
    conditional = [s for s in RESOURCES[function]["Properties"]["Policies"][0]["Statement"] if "Fn::If" in s]
    assert conditional == [
        {
            "Fn::If": [
                "HasSuppressions",
                {
                    "Sid": "ReadTheSuppressionRules",
                    "Effect": "Allow",
                    "Action": "ssm:GetParameter",
                    "Resource": {"Fn::Sub": SUPPRESSIONS_PARAMETER},
                },
                {"Ref": "AWS::NoValue"},
            ]
        }
    ]
    assert TEMPLATE["Conditions"]["HasSuppressions"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "SuppressionsParameterName"}, ""]}]
    }


def test_the_suppressions_parameter_is_optional_and_reaches_both_functions() -> None:
    parameter = TEMPLATE["Parameters"]["SuppressionsParameterName"]
    assert parameter["Default"] == ""
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["VRA_SUPPRESSIONS_PARAMETER"] == {"Ref": "SuppressionsParameterName"}
    # The statement's ARN is ...:parameter<name>: only a name that starts with / makes it the parameter's.
    pattern = re.compile(parameter["AllowedPattern"])
    for accepted in ("", "/veeam-role-auditor/suppressions", "/a.b/c_d-e"):
        assert pattern.fullmatch(accepted), accepted
    for refused in ("veeam/suppressions", "/", "/a//b", "/a/", "/a b", "/a*"):
        assert not pattern.fullmatch(refused), refused


def test_every_checkov_suppression_has_a_written_reason() -> None:
    skips = [
        (name, skip)
        for name, resource in RESOURCES.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert len(skips) == 10
    for name, skip in skips:
        assert skip["id"].startswith("CKV_AWS_"), name
        assert len(skip["comment"].split()) >= 12, f"{name} {skip['id']}: the reason must say why"
