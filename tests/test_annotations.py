"""Table tests for annotation parsing: every accepted form and every denial message."""

from __future__ import annotations

import pytest

from webhook.config import config_from_mapping
from webhook.core.annotations import InjectionRequest, NotRequested, parse
from webhook.core.catalog import ENV_NAMES, SEED_ENV
from webhook.core.config import Config
from webhook.core.errors import Denied

P = "downward.dev/"
DEFAULT = Config()


def req(**overrides: object) -> InjectionRequest:
    base: dict[str, object] = {
        "env": SEED_ENV,
        "volume": True,
        "mount_path": "/etc/downward",
        "containers": None,
        "ambassador": False,
    }
    base.update(overrides)
    return InjectionRequest(**base)  # type: ignore[arg-type]


ACCEPTED = [
    ("defaults", {P + "inject": "true"}, req()),
    ("case and spaces", {P + "inject": " TRUE "}, req()),
    ("env all", {P + "inject": "true", P + "env": "all"}, req(env=ENV_NAMES)),
    ("env ALL", {P + "inject": "true", P + "env": "ALL"}, req(env=ENV_NAMES)),
    ("env none", {P + "inject": "true", P + "env": "none"}, req(env=())),
    ("env list", {P + "inject": "true", P + "env": "POD_UID, HOST_IPS"}, req(env=("POD_UID", "HOST_IPS"))),
    ("env dupes", {P + "inject": "true", P + "env": "POD_UID,POD_UID"}, req(env=("POD_UID",))),
    ("env trailing comma", {P + "inject": "true", P + "env": "POD_UID,"}, req(env=("POD_UID",))),
    ("volume false", {P + "inject": "true", P + "volume": "false"}, req(volume=False)),
    ("mount path", {P + "inject": "true", P + "mount-path": "/var/run/meta/"}, req(mount_path="/var/run/meta")),
    ("containers", {P + "inject": "true", P + "containers": "app, side"}, req(containers=("app", "side"))),
    ("ambassador", {P + "inject": "true", P + "ambassador": "true"}, req(ambassador=True)),
    ("status is ours", {P + "inject": "true", P + "status": "{}"}, req()),
    ("other prefixes ignored", {P + "inject": "true", "downward.dev.io/x": "1", "x/downward.dev": "1"}, req()),
]


@pytest.mark.parametrize(("annotations", "expected"), [a[1:] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED])
def test_accepted(annotations: dict[str, str], expected: InjectionRequest) -> None:
    assert parse(annotations, DEFAULT, inject_by_default=False) == expected


DENIED = [
    ("inject maybe", {P + "inject": "maybe"}, [P + "inject", '"maybe"', '"true" or "false"']),
    ("inject yes", {P + "inject": "yes"}, [P + "inject", '"yes"', '"true" or "false"']),
    ("volume 1", {P + "inject": "true", P + "volume": "1"}, [P + "volume", '"1"', '"true" or "false"']),
    ("ambassador on", {P + "inject": "true", P + "ambassador": "on"}, [P + "ambassador", '"on"']),
    (
        "unknown env",
        {P + "inject": "true", P + "env": "POD_NAME,POD_NAM"},
        [P + "env", '"POD_NAM"', "did you mean POD_NAME?", '"all", "none"', "HOST_IPS"],
    ),
    ("lower-case env", {P + "inject": "true", P + "env": "pod_name"}, [P + "env", '"pod_name"', "POD_NAME"]),
    ("empty env", {P + "inject": "true", P + "env": " , "}, [P + "env", "empty", '"none"']),
    ("mixed all", {P + "inject": "true", P + "env": "all,POD_NAME"}, [P + "env", '"all"']),
    ("relative path", {P + "inject": "true", P + "mount-path": "etc/x"}, [P + "mount-path", '"etc/x"', "absolute"]),
    ("dotdot path", {P + "inject": "true", P + "mount-path": "/etc/../x"}, [P + "mount-path", "'..'"]),
    ("root path", {P + "inject": "true", P + "mount-path": "/"}, [P + "mount-path", "must not be /"]),
    ("colon path", {P + "inject": "true", P + "mount-path": "/a:b"}, [P + "mount-path", "':'"]),
    ("bad container", {P + "inject": "true", P + "containers": "App_1"}, [P + "containers", '"App_1"']),
    ("empty containers", {P + "inject": "true", P + "containers": ""}, [P + "containers", "empty"]),
    (
        "typo key",
        {P + "inject": "true", P + "mountpath": "/x"},
        ['"downward.dev/mountpath"', "did you mean downward.dev/mount-path?", "known annotations"],
    ),
    ("typo inject", {P + "injct": "true"}, ['"downward.dev/injct"', "did you mean downward.dev/inject?"]),
    ("far key", {P + "inject": "true", P + "zzz": "1"}, ['"downward.dev/zzz"', "known annotations"]),
    (
        "control chars escaped",
        {P + "inject": "tr\nue\x1b"},
        [P + "inject", r'"tr\nue\x1b"'],
    ),
]


@pytest.mark.parametrize(("annotations", "fragments"), [d[1:] for d in DENIED], ids=[d[0] for d in DENIED])
def test_denied(annotations: dict[str, str], fragments: list[str]) -> None:
    with pytest.raises(Denied) as caught:
        parse(annotations, DEFAULT, inject_by_default=False)
    for fragment in fragments:
        assert fragment in caught.value.message
    assert "\n" not in caught.value.message


def test_long_values_are_bounded_in_messages() -> None:
    with pytest.raises(Denied) as caught:
        parse({P + "inject": "x" * 10_000}, DEFAULT, inject_by_default=False)
    assert len(caught.value.message) < 200


NOT_REQUESTED = [
    ("no annotations", {}, False, ()),
    ("explicit false", {P + "inject": "false"}, False, ()),
    ("false beats typos", {P + "inject": "false", P + "evn": "x"}, False, ()),
    ("false in namespace mode", {P + "inject": "False"}, True, ()),
    (
        "keys without inject",
        {P + "env": "all", P + "ambassador": "true"},
        False,
        (
            'downward.dev/env ignored: add downward.dev/inject: "true" to inject',
            'downward.dev/ambassador ignored: add downward.dev/inject: "true" to inject',
        ),
    ),
]


@pytest.mark.parametrize(
    ("annotations", "namespace_mode", "warnings"), [n[1:] for n in NOT_REQUESTED], ids=[n[0] for n in NOT_REQUESTED]
)
def test_not_requested(annotations: dict[str, str], namespace_mode: bool, warnings: tuple[str, ...]) -> None:
    result = parse(annotations, DEFAULT, inject_by_default=namespace_mode)
    assert isinstance(result, NotRequested)
    assert result.warnings == warnings


def test_namespace_mode_injects_without_annotation() -> None:
    assert parse({}, DEFAULT, inject_by_default=True) == req()


def test_namespace_mode_still_validates() -> None:
    with pytest.raises(Denied, match=r"downward\.dev/env"):
        parse({P + "env": "nope"}, DEFAULT, inject_by_default=True)


def test_operator_prefix_and_defaults() -> None:
    config = config_from_mapping(
        {
            "annotationPrefix": "meta.example.com/",
            "defaults": {"env": ["POD_UID"], "volume": False, "mountPath": "/run/meta"},
        }
    ).core
    assert parse({"meta.example.com/inject": "true"}, config, inject_by_default=False) == req(
        env=("POD_UID",), volume=False, mount_path="/run/meta"
    )
    # The default prefix means nothing under a custom one.
    assert isinstance(parse({P + "inject": "true"}, config, inject_by_default=False), NotRequested)


@pytest.mark.parametrize(
    "key",
    ["image", "ambassador-image", "ambassador-port", "port", "privileged", "capabilities", "run-as-user", "resources"],
)
def test_operator_settings_cannot_be_set_by_annotation(key: str) -> None:
    # Images, ports, privileges and resources belong to the operator's configuration: no annotation reaches them.
    with pytest.raises(Denied) as caught:
        parse({P + "inject": "true", P + "ambassador": "true", P + key: "x"}, DEFAULT, inject_by_default=False)
    assert caught.value.message.startswith(f'unknown annotation "{P}{key}"')
