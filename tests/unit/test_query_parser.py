"""The auditor's query-protocol parser (inventory.QueryParser) gives what botocore's parser gives, for any
response of any IAM, STS or SNS operation, and of a made-up service with the shapes those lack. The XML is
drawn from each operation's output shape (members present or not, empty elements, text that needs escaping,
elements no shape names, repeated elements), then parsed by both, each with the auditor's timestamp parser
so that only the structure walk differs. The same responses, parsed, then have their policy documents
decoded by botocore's handler and by the auditor's (inventory.PolicyDecoder): the same results."""

from __future__ import annotations

import base64
import copy
import json
import re
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import boto3
import botocore.session
import pytest
from botocore import parsers as botocore_parsers
from botocore.handlers import json_decode_policies
from botocore.model import ServiceModel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veeam_role_auditor.inventory import (
    AuditorParserFactory,
    PolicyDecoder,
    QueryParser,
    auditor_session,
    parse_timestamp,
)

_SESSION = botocore.session.get_session()
# What the auditor's clients read with the query protocol: IAM, STS and SNS (the alerts' topic), and a
# service of our own with what those lack: flattened lists and maps, an XML attribute, an error shape.
SYNTHETIC = ServiceModel(
    {
        "metadata": {"protocol": "query", "apiVersion": "2026-12-01", "endpointPrefix": "synthetic"},
        "operations": {
            "Describe": {
                "name": "Describe",
                "http": {"method": "POST", "requestUri": "/"},
                "output": {"shape": "DescribeResult", "resultWrapper": "DescribeResult"},
            },
            "Grow": {
                "name": "Grow",
                "http": {"method": "POST", "requestUri": "/"},
                "output": {"shape": "GrowResult", "resultWrapper": "GrowResult"},
            },
        },
        "shapes": {
            "DescribeResult": {
                "type": "structure",
                "members": {
                    "Flat": {"shape": "Names", "flattened": True},
                    "FlatNamed": {"shape": "NamedNames", "flattened": True, "locationName": "Outer"},
                    "FlatMap": {"shape": "Pairs", "flattened": True, "locationName": "Pair"},
                    "Inner": {"shape": "Inner"},
                    "Renamed": {"shape": "Text", "locationName": "OtherName"},
                    "Header": {"shape": "Text", "location": "header", "locationName": "x-header"},
                    "Failure": {"shape": "Failure"},
                    "Policy": {"shape": "policyDocumentType"},
                    "PolicyByName": {"shape": "PolicyByName"},
                    "PolicyGroups": {"shape": "PolicyGroups"},
                },
            },
            "GrowResult": {
                "type": "structure",
                "members": {"Tree": {"shape": "Tree"}, "Policy": {"shape": "Attached"}},
            },
            # policy documents where botocore's handler does not look (a map's values, a list's strings),
            # and where it does (in structures in lists of lists; in a shape that contains itself, in Grow)
            "PolicyByName": {"type": "map", "key": {"shape": "Text"}, "value": {"shape": "policyDocumentType"}},
            "PolicyGroups": {"type": "list", "member": {"shape": "PolicyGroup"}},
            "PolicyGroup": {"type": "list", "member": {"shape": "Attached"}},
            "Attached": {
                "type": "structure",
                "members": {"Document": {"shape": "policyDocumentType"}, "Loose": {"shape": "Documents"}},
            },
            "Documents": {"type": "list", "member": {"shape": "policyDocumentType"}},
            "Tree": {
                "type": "structure",
                "members": {"Document": {"shape": "policyDocumentType"}, "Children": {"shape": "Trees"}},
            },
            "Trees": {"type": "list", "member": {"shape": "Tree"}},
            "policyDocumentType": {"type": "string"},
            "Inner": {
                "type": "structure",
                "members": {
                    "Id": {"shape": "Text", "xmlAttribute": True, "locationName": "id"},
                    "Value": {"shape": "Number"},
                    "Names": {"shape": "Names"},
                },
            },
            "Failure": {"type": "structure", "members": {"Code": {"shape": "Text"}}, "exception": True},
            "Names": {"type": "list", "member": {"shape": "Text"}},
            "NamedNames": {"type": "list", "member": {"shape": "Text", "locationName": "Item"}},
            "Pairs": {"type": "map", "key": {"shape": "Text"}, "value": {"shape": "Number"}},
            "Text": {"type": "string"},
            "Number": {"type": "integer"},
        },
    },
    service_name="synthetic",
)
MODELS = {name: _SESSION.get_service_model(name) for name in ("iam", "sts", "sns")} | {"synthetic": SYNTHETIC}
OPERATIONS = [
    (name, operation)
    for name, model in MODELS.items()
    for operation in model.operation_names
    if model.operation_model(operation).output_shape is not None
]
NAMESPACE = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
    "sns": "http://sns.amazonaws.com/doc/2010-03-31/",
    "synthetic": "https://synthetic.example/doc/2026-12-01/",
}

# XML 1.0 text: no control characters but tab, newline and carriage return (the parser reads "\r" as "\n",
# the same for both parsers), no surrogates.
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="".join(map(chr, range(9))) + "\x0b\x0c"),
    max_size=12,
)


# Policy documents as IAM returns them (URL-encoded JSON), as some emulators do (plain JSON), and neither.
DOCUMENTS = st.one_of(
    st.builds(
        lambda document, encoded: quote(json.dumps(document)) if encoded else json.dumps(document),
        st.fixed_dictionaries(
            {"Version": st.just("2012-10-17")},
            optional={"Statement": st.lists(st.dictionaries(st.sampled_from(["Effect", "Action"]), TEXT), max_size=2)},
        ),
        st.booleans(),
    ),
    st.sampled_from(["%7B", "{", "not a policy", "%7B%22a%22%3A1%7D", "[1, 2]", "null"]),
    TEXT,
)


def scalar(draw: st.DrawFn, shape: Any) -> str:
    kind = shape.type_name
    if shape.name == "policyDocumentType":
        return escape(draw(DOCUMENTS))
    if kind == "boolean":
        return draw(st.sampled_from(["true", "false"]))
    if kind in ("integer", "long"):
        return str(draw(st.integers(-(2**40), 2**40)))
    if kind in ("float", "double"):
        return repr(draw(st.floats(allow_nan=False, allow_infinity=False)))
    if kind == "timestamp":
        return draw(
            st.sampled_from(["2024-05-06T07:08:09Z", "2019-08-07T06:05:04.321Z", "2024-05-07T08:09:10.25-05:30"])
        )
    if kind == "blob":
        return base64.b64encode(draw(st.binary(max_size=8))).decode()
    return escape(draw(TEXT))


def element(draw: st.DrawFn, shape: Any, name: str, depth: int) -> str:
    attributes = ""
    if shape.type_name == "structure":  # members read from the element's attributes, when drawn
        for member in shape.members.values():
            if member.serialization.get("xmlAttribute") and draw(st.booleans()):
                attributes += f' {member.serialization["name"]}="{escape(draw(TEXT), {chr(34): "&quot;"})}"'
    return f"<{name}{attributes}>{content(draw, shape, depth)}</{name}>"


def content(draw: st.DrawFn, shape: Any, depth: int, *, entry: bool = True) -> str:
    kind = shape.type_name
    if kind == "structure":
        if depth > 5:
            return ""
        parts = []
        for member_name, member in shape.members.items():
            if not draw(st.booleans()):
                continue
            name = member.serialization.get("name", member_name)
            if member.serialization.get("flattened") and member.type_name == "list":
                # the items stand in the structure itself, named as the list's member (else as the member)
                item_name = member.member.serialization.get("name", name)
                parts += [element(draw, member.member, item_name, depth + 1) for _ in range(draw(st.integers(0, 3)))]
                continue
            if member.serialization.get("flattened") and member.type_name == "map":
                parts += [f"<{name}>{content(draw, member, depth + 1, entry=False)}</{name}>" for _ in range(2)]
                continue
            parts.append(element(draw, member, name, depth + 1))
            if draw(st.integers(0, 9)) == 0:  # the same element again: botocore gathers repeats in a list
                parts.append(element(draw, member, member.serialization.get("name", member_name), depth + 1))
        if draw(st.integers(0, 4)) == 0:
            parts.insert(draw(st.integers(0, len(parts))), "<NotInTheModel>x</NotInTheModel>")
        return "".join(draw(st.permutations(parts)))
    if kind == "list":
        if depth > 5:
            return ""
        item_name = shape.member.serialization.get("name", "member")
        items = draw(st.integers(0, 3))
        return "".join(element(draw, shape.member, item_name, depth + 1) for _ in range(items))
    if kind == "map":
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        pair = f"{element(draw, shape.key, key_name, depth + 1)}{element(draw, shape.value, value_name, depth + 1)}"
        if not entry:  # one entry of a flattened map: its key and value
            return pair
        return "".join(
            f"<entry>{element(draw, shape.key, key_name, depth + 1)}"
            f"{element(draw, shape.value, value_name, depth + 1)}</entry>"
            for _ in range(draw(st.integers(0, 3)))
        )
    return scalar(draw, shape)


def holds_policies(shape: Any, enclosing: tuple[str, ...] = ()) -> bool:
    """Whether botocore's handler could decode a policy document somewhere in a response of this shape."""
    if shape.type_name == "structure" and shape.name not in enclosing:
        return any(
            member.name == "policyDocumentType" or holds_policies(member, (*enclosing, shape.name))
            for member in shape.members.values()
        )
    return shape.type_name == "list" and holds_policies(shape.member, enclosing)


POLICY_OPERATIONS = [
    (service, operation)
    for service, operation in OPERATIONS
    if holds_policies(MODELS[service].operation_model(operation).output_shape)
]
# The decoding property draws the made-up service's operations, GetAccountAuthorizationDetails (the scan's
# call, policy documents three levels deep) and the other IAM operations that return policy documents, each
# a third of the time.
DECODING_DRAWS = [
    (f"{service}-many" if operation == "GetAccountAuthorizationDetails" else service, operation)
    for service, operation in POLICY_OPERATIONS
]


@st.composite
def responses(draw: st.DrawFn, operations: list[tuple[str, str]] = OPERATIONS) -> tuple[Any, dict[str, Any]]:
    """A response of one of ``operations`` ((group, operation): a group is a service, or "<service>-<name>"
    for a share of its own), drawn group first (the made-up service as often as the others)."""
    services = sorted({service for service, _ in operations})
    group = draw(st.sampled_from(services))
    operation = draw(st.sampled_from([name for owner, name in operations if owner == group]))
    service = group.split("-")[0]
    model = MODELS[service].operation_model(operation)
    shape = model.output_shape
    wrapper = shape.serialization.get("resultWrapper", f"{operation}Result")
    body = (
        f'<{operation}Response xmlns="{NAMESPACE[service]}"><{wrapper}>{content(draw, shape, 0)}</{wrapper}>'
        f"<ResponseMetadata><RequestId>{draw(st.uuids())}</RequestId></ResponseMetadata></{operation}Response>"
    )
    return model, {"body": body.encode(), "headers": {}, "status_code": 200, "context": {}}


def outcome(parser: Any, model: Any, response: dict[str, Any]) -> Any:
    try:
        return comparable(parser.parse(response, model.output_shape))
    except Exception as error:  # noqa: BLE001 -- a response both parsers refuse: the same error
        return (type(error), re.sub(" at 0x[0-9a-f]+", "", str(error)))  # (elements' addresses aside)


def comparable(value: Any) -> Any:
    """Elements as their XML: botocore hands a repeated scalar element on as the elements themselves."""
    if isinstance(value, ElementTree.Element):
        return ("element", ElementTree.tostring(value))
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [comparable(item) for item in value]
    return value


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(responses())
def test_a_response_parses_as_botocore_parses_it(drawn: tuple[Any, dict[str, Any]]) -> None:
    model, response = drawn
    ours = outcome(QueryParser(timestamp_parser=parse_timestamp), model, response)
    theirs = outcome(botocore_parsers.QueryParser(timestamp_parser=parse_timestamp), model, response)
    assert ours == theirs


@settings(max_examples=100, deadline=None)
@given(st.lists(responses(), min_size=2, max_size=6))
def test_one_parser_serves_many_responses_as_botocore_parses_each(drawn: list[tuple[Any, dict[str, Any]]]) -> None:
    """A session keeps one parser for all its responses: its tables never carry over wrongly."""
    shared = AuditorParserFactory().create_parser("query")
    for model, response in drawn:
        theirs = outcome(botocore_parsers.QueryParser(timestamp_parser=parse_timestamp), model, response)
        assert outcome(shared, model, response) == theirs


@pytest.mark.parametrize(
    "body",
    [
        b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
        b"<Code>NoSuchEntity</Code><Message>The role with name x cannot be found.</Message></Error>"
        b"<RequestId>4c3e0c1b-2f3a-4b5c-8d9e-0f1a2b3c4d5e</RequestId></ErrorResponse>",
        b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        b"<Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message>"
        b"</Error><RequestId>0</RequestId></ErrorResponse>",
    ],
)
def test_an_error_response_parses_as_botocore_parses_it(body: bytes) -> None:
    model = MODELS["iam"].operation_model("GetRole")
    response = {"body": body, "headers": {}, "status_code": 404, "context": {}}
    ours = QueryParser(timestamp_parser=parse_timestamp).parse(response, model.output_shape)
    assert ours == botocore_parsers.QueryParser(timestamp_parser=parse_timestamp).parse(response, model.output_shape)
    assert ours["Error"]["Code"] in ("NoSuchEntity", "ExpiredToken")


def test_the_auditor_session_parses_query_responses_with_one_parser_of_its_own() -> None:
    factory = auditor_session(region_name="us-east-1")._session.get_component("response_parser_factory")
    parser = factory.create_parser("query")
    assert type(parser) is QueryParser
    assert factory.create_parser("query") is parser
    assert parser._timestamp_parser is parse_timestamp
    other = factory.create_parser("json")
    assert type(other) is botocore_parsers.JSONParser
    assert other._timestamp_parser is parse_timestamp


def decoded(decode: Any, parsed: Any, model: Any) -> Any:
    try:
        decode(parsed, model)
    except Exception as error:  # noqa: BLE001 -- a response both handlers refuse: the same error
        return (type(error), str(error))
    return comparable(parsed)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(responses(DECODING_DRAWS))
def test_policy_documents_decode_as_botocore_decodes_them(drawn: tuple[Any, dict[str, Any]]) -> None:
    model, response = drawn
    try:
        parsed = botocore_parsers.QueryParser(timestamp_parser=parse_timestamp).parse(response, model.output_shape)
    except Exception:  # noqa: BLE001 -- a response no parser reads never gets to the handlers
        return
    theirs = decoded(json_decode_policies, copy.deepcopy(parsed), model)
    assert decoded(PolicyDecoder(), copy.deepcopy(parsed), model) == theirs


def test_policy_operations_cover_iam_and_the_made_up_service() -> None:
    """The operations the decoding property draws: IAM's that return policy documents, and the made-up one."""
    assert {service for service, _ in POLICY_OPERATIONS} == {"iam", "synthetic"}
    assert {operation for service, operation in POLICY_OPERATIONS if service == "synthetic"} == {"Describe", "Grow"}
    iam = {operation for service, operation in POLICY_OPERATIONS if service == "iam"}
    assert {"GetAccountAuthorizationDetails", "GetRole", "GetRolePolicy", "GetPolicyVersion", "ListRoles"} <= iam


def test_the_auditor_session_decodes_iam_policy_documents_with_its_own_handler() -> None:
    """botocore's handler is replaced in the auditor's session only; a client of boto3's own session keeps it."""
    ours = auditor_session(region_name="us-east-1").client("iam").meta.events
    stock = boto3.client("iam", region_name="us-east-1").meta.events
    event = "after-call.iam.GetAccountAuthorizationDetails"
    ours_handlers = list(ours._emitter._handlers.prefix_search(event))
    stock_handlers = list(stock._emitter._handlers.prefix_search(event))
    assert json_decode_policies not in ours_handlers
    assert [type(handler) for handler in ours_handlers].count(PolicyDecoder) == 1
    assert json_decode_policies in stock_handlers
    assert not any(isinstance(handler, PolicyDecoder) for handler in stock_handlers)


def test_a_role_listing_decodes_every_policy_document_it_holds() -> None:
    """GetAccountAuthorizationDetails: the role's trust policy, its inline policy, and the trust policy of the
    role in its instance profile are decoded; its tags and dates are left alone."""
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}}]}
    inline = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    text = quote(json.dumps(trust))
    body = (
        '<GetAccountAuthorizationDetailsResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        "<GetAccountAuthorizationDetailsResult><IsTruncated>false</IsTruncated><RoleDetailList><member>"
        f"<RoleName>r</RoleName><AssumeRolePolicyDocument>{text}</AssumeRolePolicyDocument>"
        "<RolePolicyList><member><PolicyName>p</PolicyName>"
        f"<PolicyDocument>{quote(json.dumps(inline))}</PolicyDocument></member></RolePolicyList>"
        "<InstanceProfileList><member><InstanceProfileName>i</InstanceProfileName><Roles><member>"
        f"<RoleName>r</RoleName><AssumeRolePolicyDocument>{text}</AssumeRolePolicyDocument>"
        "</member></Roles></member></InstanceProfileList>"
        "<Tags><member><Key>%7B</Key><Value>%7B%7D</Value></member></Tags>"
        "</member></RoleDetailList></GetAccountAuthorizationDetailsResult>"
        "<ResponseMetadata><RequestId>0</RequestId></ResponseMetadata></GetAccountAuthorizationDetailsResponse>"
    )
    model = MODELS["iam"].operation_model("GetAccountAuthorizationDetails")
    response = {"body": body.encode(), "headers": {}, "status_code": 200, "context": {}}
    parsed = QueryParser(timestamp_parser=parse_timestamp).parse(response, model.output_shape)
    PolicyDecoder()(parsed, model)
    role = parsed["RoleDetailList"][0]
    assert role["AssumeRolePolicyDocument"] == trust
    assert role["RolePolicyList"] == [{"PolicyName": "p", "PolicyDocument": inline}]
    assert role["InstanceProfileList"][0]["Roles"][0]["AssumeRolePolicyDocument"] == trust
    assert role["Tags"] == [{"Key": "%7B", "Value": "%7B%7D"}]
