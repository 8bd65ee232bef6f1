from __future__ import annotations

import pytest

from veeam_role_auditor.publish import PublishSettings
from veeam_role_auditor.settings import DEFAULT_TAG_KEY, LambdaConfig, ScanSettings, SettingsError, publish_settings

APPLIANCE = "arn:aws:iam::111122223333:role/veeam/Imp"


def test_environment_then_overrides() -> None:
    settings = ScanSettings.from_environment(
        {
            "VRA_APPLIANCE_ROLE_ARNS": f"{APPLIANCE}, arn:aws:iam::111122223333:role/Second",
            "VRA_TAG_VALUES": "true,yes",
            "VRA_EXTERNAL_ID": "",
        },
        tag_key="custom:key",
    )
    assert settings.appliance_role_arns == (APPLIANCE, "arn:aws:iam::111122223333:role/Second")
    assert (settings.tag_key, settings.tag_values, settings.external_id) == ("custom:key", ("true", "yes"), None)


def test_defaults() -> None:
    settings = ScanSettings(appliance_role_arns=(APPLIANCE,))
    assert (settings.tag_key, settings.tag_values, settings.path_prefix) == (DEFAULT_TAG_KEY, (), "/")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"appliance_role_arns": ()}, "at least one appliance (Impersonation) role ARN is required"),
        ({"appliance_role_arns": ("Imp",)}, "not an IAM role ARN: 'Imp'"),
        ({"appliance_role_arns": (APPLIANCE,), "path_prefix": "veeam/"}, "must start with '/'"),
    ],
)
def test_unusable_settings_say_what_is_wrong(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ScanSettings(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tags", "path", "values", "expected"),
    [
        ({"veeam:backup-role": "true"}, "/", (), True),
        ({"Veeam:Backup-Role": "anything"}, "/", (), True),
        ({"veeam:backup-role": "TRUE"}, "/", ("true",), True),
        ({"veeam:backup-role": "false"}, "/", ("true",), False),
        ({"other": "true"}, "/", (), False),
        ({"veeam:backup-role": "true"}, "/app/", (), True),
    ],
)
def test_scope(tags: dict[str, str], path: str, values: tuple[str, ...], expected: bool) -> None:
    assert ScanSettings(appliance_role_arns=(APPLIANCE,), tag_values=values).in_scope(tags, path) is expected


def test_path_prefix_scope() -> None:
    settings = ScanSettings(appliance_role_arns=(APPLIANCE,), path_prefix="/veeam/")
    assert settings.in_scope({"veeam:backup-role": "x"}, "/veeam/repos/")
    assert not settings.in_scope({"veeam:backup-role": "x"}, "/")


LAMBDA_ENVIRONMENT = {"VRA_APPLIANCE_ROLE_ARNS": APPLIANCE, "VRA_STATE_TABLE": "state"}


def test_the_lambda_configuration_is_read_from_the_environment_with_defaults() -> None:
    config = LambdaConfig.from_environment({**LAMBDA_ENVIRONMENT, "AWS_REGION": "eu-west-1", "VRA_TOPIC_ARN": ""})
    assert config.scan == ScanSettings(appliance_role_arns=(APPLIANCE,))
    assert config.publish == PublishSettings(region="eu-west-1")
    assert (config.table_name, config.topic_arn, config.recheck_queue_url, config.scan_function_name) == (
        "state",
        None,
        None,
        None,
    )
    assert (config.suppressions_parameter, config.appliance_max_age) == (None, 60.0)


def test_an_argument_wins_over_the_environment_which_wins_over_the_default() -> None:
    environment = {
        **LAMBDA_ENVIRONMENT,
        "VRA_SECURITY_HUB": "False",
        "VRA_REFRESH_DAYS": " 3 ",
        "VRA_DIGEST_THRESHOLD": "5",
        "VRA_MIN_ALERT_SEVERITY": "high",
        "VRA_APPLIANCE_MAX_AGE": "0",
        "VRA_SUPPRESSIONS_PARAMETER": "/vra/rules",
    }
    assert publish_settings(environment, digest_threshold=9, refresh_days=None) == PublishSettings(
        region="us-east-1", security_hub=False, refresh_days=3, digest_threshold=9, min_alert_severity="HIGH"
    )
    config = LambdaConfig.from_environment(environment, table_name="other", appliance_max_age=30.0)
    assert (config.table_name, config.appliance_max_age, config.suppressions_parameter) == ("other", 30.0, "/vra/rules")
    assert config.publish.digest_threshold == 5


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("VRA_REFRESH_DAYS", "seven", "VRA_REFRESH_DAYS must be a whole number of at least 1 (days after which"),
        ("VRA_REFRESH_DAYS", "0", "VRA_REFRESH_DAYS must be a whole number of at least 1 .*got '0'"),
        ("VRA_DIGEST_THRESHOLD", "2.5", "VRA_DIGEST_THRESHOLD must be a whole number of at least 1 .*got '2.5'"),
        ("VRA_SECURITY_HUB", "maybe", "VRA_SECURITY_HUB must be true or false, got 'maybe'"),
        ("VRA_MIN_ALERT_SEVERITY", "URGENT", "VRA_MIN_ALERT_SEVERITY must be one of INFORMATIONAL, LOW, MEDIUM"),
        ("VRA_APPLIANCE_MAX_AGE", "-1", "VRA_APPLIANCE_MAX_AGE must be 0 to 240 seconds .*got '-1'"),
        ("VRA_APPLIANCE_MAX_AGE", "nan", "VRA_APPLIANCE_MAX_AGE must be 0 to 240 seconds"),
        ("VRA_APPLIANCE_MAX_AGE", "300", "VRA_APPLIANCE_MAX_AGE must be 0 to 240 seconds .*got '300'"),
        ("VRA_STATE_TABLE", "", "VRA_STATE_TABLE is not set: the name of the DynamoDB state table is required"),
        ("VRA_APPLIANCE_ROLE_ARNS", "", "at least one appliance"),
    ],
)
def test_an_unusable_environment_value_is_named_in_the_error(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        LambdaConfig.from_environment({**LAMBDA_ENVIRONMENT, variable: value})
