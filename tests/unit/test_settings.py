from __future__ import annotations

import pytest

from veeam_role_auditor.settings import DEFAULT_TAG_KEY, ScanSettings, SettingsError

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
