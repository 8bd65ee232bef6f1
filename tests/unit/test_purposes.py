"""Veeam purpose profiles: every version's data validates, and the loader's answers are exact."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veeam_role_auditor.purposes import (
    PURPOSES,
    PurposeProfile,
    available_versions,
    default_version,
    load_extra_profiles,
    load_version,
    parse_purpose_tag,
    policy_size,
    purpose_actions,
    required_policy,
    required_trust_policy,
    resolve_version,
    split_policy,
    validate_profile,
    version_difference,
)

HELP_CENTER = re.compile(r"^https://helpcenter\.veeam\.com/(docs|archive)/(vbaws|vbr)/\S+\.html$")

# Action counts per purpose at 10.0.0.232, as read from the pages (plus changelog additions a page lacks).
V10_COUNTS = {
    "organization-rescan": 8,
    "ec2-backup": 62,
    "ec2-restore": 56,
    "rds-backup": 46,
    "rds-instance-restore": 48,
    "rds-database-restore": 53,
    "dynamodb-backup": 49,
    "dynamodb-restore": 35,
    "redshift-backup": 43,
    "redshift-restore": 33,
    "redshift-serverless-backup": 33,
    "redshift-serverless-restore": 33,
    "efs-backup": 69,
    "efs-restore": 50,
    "fsx-backup": 50,
    "fsx-restore": 40,
    "vpc-backup": 48,
    "vpc-restore": 179,
    "repository": 28,
    "worker-deployment": 77,
    "worker-production": 33,
    "worker-flr": 83,
    "worker-configuration": 6,
    "full-access": 451,
}
BACKUP = ("backup.amazonaws.com",)
TRUST = {
    "rds-database-restore": ("rds.amazonaws.com",),
    "dynamodb-backup": BACKUP,
    "dynamodb-restore": BACKUP,
    "redshift-backup": BACKUP,
    "redshift-restore": BACKUP,
    "efs-backup": BACKUP,
    "efs-restore": BACKUP,
    "fsx-backup": BACKUP,
    "fsx-restore": BACKUP,
    "repository": ("batchoperations.s3.amazonaws.com",),
    "worker-production": ("ec2.amazonaws.com",),
    "worker-flr": ("ec2.amazonaws.com",),
    "full-access": ("backup.amazonaws.com", "batchoperations.s3.amazonaws.com", "ec2.amazonaws.com"),
}


def lower(actions: tuple[str, ...]) -> set[str]:
    return {action.lower() for action in actions}


@pytest.mark.parametrize("version", available_versions())
def test_every_version_loads_every_purpose_and_validates(version: str) -> None:
    profiles = load_version(version)
    assert tuple(profiles) == PURPOSES
    for purpose, profile in profiles.items():
        validate_profile(profile, f"{version} {purpose}")
        assert profile.purpose == purpose
        assert profile.version == version
        assert len(lower(profile.actions)) == len(profile.actions)
        assert profile.sources
        assert all(HELP_CENTER.match(source) for source in profile.sources), profile.sources
        assert all(HELP_CENTER.match(statement.source) for statement in profile.statements)
        assert profile.trust_services == TRUST.get(purpose, ())
        assert profile.instance_profile == (purpose in {"worker-production", "worker-flr", "full-access"})


def test_default_version_is_the_newest_complete_one_and_v11_is_derived_from_it() -> None:
    assert available_versions() == ("10.0.0.232", "11")
    assert default_version() == "10.0.0.232"
    assert not any(profile.derived for profile in load_version("10.0.0.232").values())
    assert all(profile.derived for profile in load_version("11").values())


def test_v10_action_counts_are_those_read_from_the_pages() -> None:
    assert {purpose: len(profile.actions) for purpose, profile in load_version("10.0.0.232").items()} == V10_COUNTS


@pytest.mark.parametrize("version", available_versions())
def test_full_access_holds_every_other_purposes_actions(version: str) -> None:
    profiles = load_version(version)
    union = set().union(*(lower(profile.actions) for profile in profiles.values()))
    assert lower(profiles["full-access"].actions) == union


def test_changelog_additions_a_page_lacks_are_their_own_statement() -> None:
    ec2 = load_version("10")["ec2-backup"]
    assert [statement.sid for statement in ec2.statements] == ["Page", "Changelog"]
    assert ec2.statements[1].actions == ("kms:GenerateDataKeyWithoutPlaintext",)
    assert ec2.statements[1].source == "https://helpcenter.veeam.com/archive/vbaws/9/guide/permissions_changelog.html"
    assert ec2.statements[0].source == "https://helpcenter.veeam.com/docs/vbaws/guide/role_permissions_backup_ec2.html"
    assert "ec2:DescribeImages" in load_version("10")["worker-flr"].actions
    assert "rds:DeleteTenantDatabase" in load_version("10")["full-access"].actions


def test_casing_is_kept_as_published() -> None:
    assert "iam:listInstanceProfiles" in load_version("10")["ec2-restore"].actions
    assert "servicequotas:listServiceQuotas" in load_version("10")["rds-database-restore"].actions


def test_upgrade_to_11_adds_the_changelog_actions() -> None:
    differences = {purpose: version_difference(purpose, "10", "11") for purpose in PURPOSES}
    changed = {purpose: difference.added_actions for purpose, difference in differences.items() if difference}
    assert changed == {
        "ec2-backup": ("ebs:GetSnapshotBlock", "kms:Decrypt"),
        "worker-production": ("pricing:GetProducts",),
        "full-access": ("ebs:GetSnapshotBlock", "pricing:GetProducts"),
    }
    assert all(not difference.removed_actions for difference in differences.values())
    assert load_version("11")["ec2-backup"].statements[-1].source == (
        "https://helpcenter.veeam.com/docs/vbr/userguide/aws_permissions_changelog.html"
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (None, "10.0.0.232"),
        ("10", "10.0.0.232"),
        ("10.0", "10.0.0.232"),
        (" 10.0.0.232 ", "10.0.0.232"),
        ("11", "11"),
        ("11.0", "11"),
        ("11.0.0.1234", "11"),
    ],
)
def test_versions_are_named_by_build_or_its_leading_parts(name: str | None, expected: str) -> None:
    assert resolve_version(name) == expected


@pytest.mark.parametrize("name", ["9", "10.1", "10.0.0.2", "twelve", ""])
def test_an_unknown_version_names_the_known_ones(name: str) -> None:
    with pytest.raises(ValueError, match=r"unknown Veeam version .*: known versions are 10\.0\.0\.232, 11$"):
        load_version(name)


def test_required_policy_of_two_small_purposes_is_exact() -> None:
    required = required_policy(["worker-configuration", "organization-rescan"], "10")
    assert required.document == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "VeeamRequired1",
                "Effect": "Allow",
                "Action": [
                    "ec2:DescribeAccountAttributes",
                    "ec2:DescribeAvailabilityZones",
                    "ec2:DescribeRegions",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeVpcs",
                    "iam:GetContextKeysForPrincipalPolicy",
                    "iam:ListAccountAliases",
                    "iam:SimulatePrincipalPolicy",
                    "organizations:DescribeAccount",
                    "organizations:DescribeOrganization",
                    "organizations:DescribeOrganizationalUnit",
                    "organizations:ListChildren",
                    "organizations:ListRoots",
                ],
                "Resource": "*",
            }
        ],
    }
    assert required.trust_services == ()
    assert required.instance_profile is False


def test_required_policy_merges_case_insensitively_keeping_the_first_spelling() -> None:
    required = required_policy(["ec2-backup", "ec2-restore", "repository", "worker-flr"], "10")
    actions = required.document["Statement"][0]["Action"]
    assert "iam:ListInstanceProfiles" in actions
    assert "iam:listInstanceProfiles" not in actions
    assert actions == sorted(actions, key=str.lower)
    profiles = load_version("10")
    union = lower(profiles["ec2-backup"].actions) | lower(profiles["ec2-restore"].actions)
    union |= lower(profiles["repository"].actions) | lower(profiles["worker-flr"].actions)
    assert len(actions) == len(union)
    assert required.trust_services == ("batchoperations.s3.amazonaws.com", "ec2.amazonaws.com")
    assert required.instance_profile is True
    reversed_order = required_policy(["ec2-restore", "ec2-backup"], "10").document["Statement"][0]["Action"]
    assert "iam:listInstanceProfiles" in reversed_order


def test_required_policy_rejects_unknown_and_empty_purposes() -> None:
    with pytest.raises(ValueError, match=r"unknown purpose 'ec2-bakup': known purposes are organization-rescan, "):
        required_policy(["ec2-bakup"])
    with pytest.raises(ValueError, match="no purposes given"):
        required_policy([])


def write(tmp_path: Path, document: object, name: str = "extra.json") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return path


def test_an_extra_profile_file_adds_a_custom_purpose(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "purposes": {
                "s3-export": {
                    "title": "Export to our audit bucket",
                    "statements": [
                        {"actions": ["s3:PutObject", "s3:ListBucket"], "resources": ["arn:aws:s3:::audit/*"]},
                        {"actions": ["kms:Decrypt"]},
                    ],
                    "trust_services": ["batchoperations.s3.amazonaws.com"],
                    "notes": ["ours"],
                }
            }
        },
    )
    extra = load_extra_profiles(path)
    profile = extra["s3-export"]
    assert isinstance(profile, PurposeProfile)
    assert profile.version == "custom"
    assert profile.actions == ("s3:PutObject", "s3:ListBucket", "kms:Decrypt")
    assert profile.sources == (str(path),)
    assert parse_purpose_tag("repository S3-Export", extra) == (("repository", "s3-export"), ())
    required = required_policy(["worker-configuration", "s3-export"], "10", extra)
    assert required.document["Statement"] == [
        {
            "Sid": "VeeamRequired1",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeAccountAttributes",
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeRegions",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeVpcs",
                "kms:Decrypt",
            ],
            "Resource": "*",
        },
        {
            "Sid": "VeeamRequired2",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:PutObject"],
            "Resource": "arn:aws:s3:::audit/*",
        },
    ]
    assert required.trust_services == ("batchoperations.s3.amazonaws.com",)
    # The repository purpose requires both S3 actions on "*": the narrower statement would add nothing.
    with_repository = required_policy(["repository", "s3-export"], "10", extra).document["Statement"]
    assert [statement["Resource"] for statement in with_repository] == ["*"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"extra\.json: not JSON \(Expecting property name enclosed in double quotes at line 1\)"),
        ({"purposes": {}}, r'extra\.json: expected an object \{"purposes"'),
        ([], r'extra\.json: expected an object \{"purposes"'),
        ({"purposes": {"Bad Name": {"actions": ["s3:GetObject"]}}}, r"purpose 'Bad Name': a name is lower-case"),
        ({"purposes": {"repository": {"actions": ["s3:GetObject"]}}}, r"purpose 'repository': is one of Veeam's"),
        ({"purposes": {"x": ["s3:GetObject"]}}, r"purpose 'x': must be an object"),
        (
            {"purposes": {"x": {"actions": ["s3:GetObject"], "resource": "*"}}},
            r"purpose 'x': unknown field\(s\) resource",
        ),
        ({"purposes": {"x": {}}}, r"""purpose 'x': give either "actions" or "statements\""""),
        ({"purposes": {"x": {"actions": ["s3:Get*"]}}}, r"purpose 'x': 's3:Get\*' is not an IAM action name"),
        ({"purposes": {"x": {"actions": ["GetObject"]}}}, r"purpose 'x': 'GetObject' is not an IAM action name"),
        ({"purposes": {"x": {"actions": "s3:GetObject"}}}, r"purpose 'x': actions must be a list of strings"),
        ({"purposes": {"x": {"actions": []}}}, r"purpose 'x': no actions"),
        (
            {"purposes": {"x": {"actions": ["s3:GetObject", "S3:getobject"]}}},
            r"purpose 'x': actions listed twice: s3:getobject",
        ),
        (
            {"purposes": {"x": {"actions": ["s3:GetObject"], "trust_services": ["backup"]}}},
            r"purpose 'x': 'backup' is not a service principal",
        ),
        (
            {"purposes": {"x": {"actions": ["s3:GetObject"], "instance_profile": "yes"}}},
            r"purpose 'x': instance_profile must be true or false",
        ),
        (
            {"purposes": {"x": {"statements": [{"actions": ["s3:GetObject"], "resources": ["bucket"]}]}}},
            r"""purpose 'x': resources must be "\*" or ARNs""",
        ),
        ({"purposes": {"x": {"statements": []}}}, r"purpose 'x': statements must be a non-empty list"),
        (
            {"purposes": {"x": {"statements": [{"actions": ["s3:GetObject"], "effect": "Deny"}]}}},
            r"purpose 'x': statement 0 must be",
        ),
    ],
)
def test_extra_profile_defects_name_the_file_the_purpose_and_the_defect(
    tmp_path: Path, content: object, message: str
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ValueError, match=message) as raised:
        load_extra_profiles(path)
    assert str(raised.value).startswith(f"{path}: ")


def test_a_missing_extra_profile_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"absent\.json: cannot read the extra profile file \(No such file"):
        load_extra_profiles(tmp_path / "absent.json")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ec2-backup", (("ec2-backup",), ())),
        ("  ec2-backup   repository\t", (("ec2-backup", "repository"), ())),
        ("EC2-Backup,repository, ec2-backup", (("ec2-backup", "repository"), ())),
        ("ec2-bakup Worker-FLR ec2-BAKUP", (("worker-flr",), ("ec2-bakup",))),
        ("", ((), ())),
        ("   ", ((), ())),
    ],
)
def test_purpose_tags_are_split_on_spaces_and_read_case_insensitively(
    value: str, expected: tuple[tuple[str, ...], tuple[str, ...]]
) -> None:
    assert parse_purpose_tag(value) == expected


@given(
    st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=6),
    st.lists(st.sampled_from([" ", "  ", "\t", ",", " , "]), min_size=6, max_size=6),
    st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_any_spacing_and_casing_of_known_purposes_parses_to_them(
    names: list[str], separators: list[str], upper: list[bool]
) -> None:
    typed = [name.upper() if up else name for name, up in zip(names, upper, strict=False)]
    value = "".join(word + separators[index] for index, word in enumerate(typed))
    assert parse_purpose_tag(value) == (tuple(dict.fromkeys(names)), ())


def test_policy_size_counts_characters_without_white_space() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}],
    }
    assert policy_size(document) == len(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":"*"}]}'
    )


def test_the_full_access_policy_splits_into_managed_policies_in_order() -> None:
    document = required_policy(["full-access"], "10").document
    assert policy_size(document) > 6144
    parts = split_policy(document)
    assert len(parts) == 3
    assert all(policy_size(part) <= 6144 for part in parts)
    assert [statement["Sid"] for part in parts for statement in part["Statement"]] == [
        "VeeamRequired1",
        "VeeamRequired1Part2",
        "VeeamRequired1Part3",
    ]
    joined = [action for part in parts for statement in part["Statement"] for action in statement["Action"]]
    assert joined == document["Statement"][0]["Action"]


def test_split_policy_cuts_between_statements_and_refuses_an_action_too_long() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"},
            {"Sid": "B", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:*:*:key/*"},
        ],
    }
    listed = {
        **document,
        "Statement": [document["Statement"][0], {**document["Statement"][1], "Action": ["kms:Decrypt"]}],
    }
    whole = policy_size(listed)
    assert split_policy(document, whole) == [listed]
    parts = split_policy(document, whole - 1)
    assert [[(s["Sid"], s["Action"]) for s in part["Statement"]] for part in parts] == [
        [("A", ["s3:GetObject", "s3:PutObject"])],
        [("B", ["kms:Decrypt"])],
    ]
    assert all(policy_size(part) <= whole - 1 for part in parts)
    with pytest.raises(ValueError, match=r"'s3:GetObject' alone does not fit in a policy of 40 characters"):
        split_policy(document, 40)


@given(
    st.lists(
        st.lists(st.from_regex(r"[a-z]{2,8}:[A-Z][a-zA-Z]{0,20}", fullmatch=True), min_size=1, max_size=40),
        min_size=1,
        max_size=4,
    ),
    st.integers(min_value=150, max_value=1500),
)
def test_split_policy_parts_fit_and_keep_every_action_in_order(groups: list[list[str]], limit: int) -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": f"S{index}", "Effect": "Allow", "Action": actions, "Resource": "*"}
            for index, actions in enumerate(groups)
        ],
    }
    parts = split_policy(document, limit)
    assert all(policy_size(part) <= limit for part in parts)
    assert [(s["Sid"].split("Part")[0], a) for part in parts for s in part["Statement"] for a in s["Action"]] == [
        (f"S{index}", action) for index, actions in enumerate(groups) for action in actions
    ]
    sids = [s["Sid"] for part in parts for s in part["Statement"]]
    assert len(sids) == len(set(sids))


def test_the_readme_purposes_table_matches_the_data() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Veeam role purposes: what each one needs", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    v10, v11 = load_version("10.0.0.232"), load_version("11")
    expected = []
    for purpose in PURPOSES:
        trust = ", ".join(f"`{service}`" for service in v10[purpose].trust_services) or "-"
        grown = len(v11[purpose].actions) - len(v10[purpose].actions)
        page = v10[purpose].statements[0].source
        expected.append(
            f"| `{purpose}` | {trust} | {'yes' if v10[purpose].instance_profile else '-'} | {len(v10[purpose].actions)}"
            f" | {len(v11[purpose].actions)}{f' (+{grown})' if grown else ''} | [{page.rsplit('/', 1)[1]}]({page}) |"
        )
    assert rows == expected


def test_the_required_trust_policy_names_the_appliance_and_the_purposes_services() -> None:
    required = required_policy(["repository", "worker-production", "efs-backup"], "10")
    appliance = "arn:aws:iam::111122223333:role/VeeamImpersonation"
    assert required_trust_policy(appliance, required.trust_services) == {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "VeeamAppliance", "Effect": "Allow", "Principal": {"AWS": appliance}, "Action": "sts:AssumeRole"},
            {
                "Sid": "VeeamServices",
                "Effect": "Allow",
                "Principal": {
                    "Service": ["backup.amazonaws.com", "batchoperations.s3.amazonaws.com", "ec2.amazonaws.com"]
                },
                "Action": "sts:AssumeRole",
            },
        ],
    }
    assert required_trust_policy("arn:aws:iam::111122223333:root", ["rds.amazonaws.com"])["Statement"][1][
        "Principal"
    ] == {"Service": "rds.amazonaws.com"}
    assert len(required_trust_policy(appliance)["Statement"]) == 1
    with pytest.raises(ValueError, match="the appliance principal must be an ARN, not '111122223333'"):
        required_trust_policy("111122223333")


def test_purpose_actions_lists_each_action_and_its_resources_once() -> None:
    pairs = purpose_actions(["ec2-backup", "ec2-restore"], "10")
    profiles = load_version("10")
    assert len(pairs) == len(lower(profiles["ec2-backup"].actions) | lower(profiles["ec2-restore"].actions))
    assert pairs[:2] == (("ebs:ListSnapshotBlocks", ("*",)), ("ebs:ListChangedBlocks", ("*",)))
    assert ("iam:ListInstanceProfiles", ("*",)) in pairs
    assert ("iam:listInstanceProfiles", ("*",)) not in pairs
    assert purpose_actions(["worker-production"], "11")[-1] == ("pricing:GetProducts", ("*",))
    assert purpose_actions([]) == ()


def test_the_purposes_module_ships_in_the_lambda_layer_with_its_data(tmp_path: Path) -> None:
    # The layer holds the files LAYER_FILES names (layers/auditor/Makefile); when the functions import the
    # purposes module, LAYER_FILES gains these two entries, and this is what they ship.
    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-s",
            "-C",
            str(root / "layers" / "auditor"),
            "build-AuditorLayer",
            f"ARTIFACTS_DIR={tmp_path}",
            "PY313=",
            "LAYER_FILES=__init__.py purposes/__init__.py purposes/data/*.json",
        ],
        check=True,
        capture_output=True,
    )
    layer = tmp_path / "python"
    shipped = sorted(path.name for path in (layer / "veeam_role_auditor" / "purposes" / "data").iterdir())
    assert shipped == ["10.0.0.232.json", "11.json"]
    loaded = subprocess.run(
        [sys.executable, "-c", "import veeam_role_auditor.purposes as p; print(p.__file__, len(p.load_version('11')))"],
        env={**os.environ, "PYTHONPATH": str(layer)},
        check=True,
        capture_output=True,
        text=True,
    )
    assert loaded.stdout == f"{layer / 'veeam_role_auditor' / 'purposes' / '__init__.py'} 24\n"
