"""Operator configuration: defaults, every key, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from webhook.config import ConfigError, OperatorConfig, config_from_mapping, load_config
from webhook.core.catalog import SEED_ENV


def test_defaults_are_the_seed() -> None:
    loaded = load_config(None)
    assert loaded == OperatorConfig()
    config = loaded.core
    assert config.prefix == "downward.dev/"
    assert config.default_env == SEED_ENV
    assert config.default_mount_path == "/etc/downward"
    assert config.ambassador.port == 8001
    assert config.ambassador.mode == "native"
    assert config_from_mapping({}) == loaded
    assert config_from_mapping(None) == loaded


def test_every_key() -> None:
    loaded = config_from_mapping(
        {
            "annotationPrefix": "x.example/",
            "defaults": {"env": ["POD_NAME", "POD_NAME", "HOST_IP"], "volume": False, "mountPath": "/meta/"},
            "ambassador": {
                "allowed": False,
                "disabledNamespaces": ["prod"],
                "image": "example.com/kubectl:1",
                "imagePullPolicy": "Always",
                "port": 9001,
                "mode": "container",
                "resources": {"requests": {"cpu": "5m"}, "limits": {"memory": "1Gi"}},
                "runAsUser": 1000,
            },
            "server": {"maxBodyBytes": 1048576},
        }
    )
    config = loaded.core
    assert config.prefix == "x.example/"
    assert config.default_env == ("POD_NAME", "HOST_IP")
    assert config.default_volume is False
    assert config.default_mount_path == "/meta"
    amb = config.ambassador
    assert (amb.allowed, amb.disabled_namespaces, amb.image, amb.image_pull_policy) == (
        False,
        frozenset({"prod"}),
        "example.com/kubectl:1",
        "Always",
    )
    assert (amb.port, amb.mode, amb.requests, amb.limits, amb.run_as_user) == (
        9001,
        "container",
        (("cpu", "5m"),),
        (("memory", "1Gi"),),
        1000,
    )
    assert loaded.server.max_body_bytes == 1048576


BAD = [
    ({"ambassador": {"port": 80}}, "ambassador.port: Input should be greater than or equal to 1024"),
    ({"ambassador": {"port": "8001"}}, "ambassador.port: Input should be a valid integer"),
    ({"ambassador": {"mode": "sidecar"}}, "ambassador.mode: Input should be 'native' or 'container'"),
    ({"ambassador": {"imag": "x"}}, "ambassador.imag: unknown key"),
    ({"ambassador": {"runAsUser": 0}}, "ambassador.runAsUser"),
    ({"ambassador": {"resources": {"limits": {"cpu": "lots"}}}}, "ambassador.resources.limits: 'lots' is not"),
    ({"ambassador": {"resources": {"limits": {"gpu": "1"}}}}, "unknown resource 'gpu'"),
    ({"defaults": {"env": ["POD_NAM"]}}, "defaults.env: unknown env var(s) POD_NAM"),
    ({"defaults": {"mountPath": "rel"}}, "defaults.mountPath: must be an absolute path"),
    ({"defaults": {"volume": "yes"}}, "defaults.volume: Input should be a valid boolean"),
    ({"annotationPrefix": "Downward"}, "annotationPrefix: must be a DNS subdomain followed by '/'"),
    ({"server": {"maxBodyBytes": 10}}, "server.maxBodyBytes"),
    ({"colour": "blue"}, "colour: unknown key"),
]


@pytest.mark.parametrize(("raw", "fragment"), BAD, ids=[b[1].split(":")[0] for b in BAD])
def test_bad_config_names_the_key(raw: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping(raw)
    assert fragment in caught.value.message


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(listing)
