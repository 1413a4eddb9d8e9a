"""Table tests for issue 17: env-from-labels/annotations parsing and denials, otel's attributes and merging,
the operator's catalog entries and the namespace switch; each output pod checked like the apiserver would."""

from __future__ import annotations

import pytest

from tests.kube_rules import apply_patch_like_apiserver, check_pod, pod_create
from webhook.config import ConfigError, config_from_mapping
from webhook.core.annotations import InjectionRequest, NotRequested, env_name_for, parse
from webhook.core.catalog import EnvField
from webhook.core.config import Config
from webhook.core.errors import Denied
from webhook.core.otel import Owner, encode, fitted_warnings, keys_of, merge, owner_attributes, service_name
from webhook.core.review import review

P = "downward.dev/"


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("app.kubernetes.io/version", "APP_KUBERNETES_IO_VERSION"),
        ("team", "TEAM"),
        ("example.com/cost-center", "EXAMPLE_COM_COST_CENTER"),
        ("Tier_2", "TIER_2"),
    ],
)
def test_env_name_of_a_key(key: str, name: str) -> None:
    assert env_name_for(key) == name


def test_env_from_labels_and_annotations_items() -> None:
    request = parse(
        {
            P + "inject": "true",
            P + "env-from-labels": "app.kubernetes.io/version=APP_VERSION, team",
            P + "env-from-annotations": "example.com/owner",
        },
        Config(),
        inject_by_default=False,
    )
    assert isinstance(request, InjectionRequest)
    assert request.env_from == (
        EnvField("APP_VERSION", field_path="metadata.labels['app.kubernetes.io/version']"),
        EnvField("TEAM", field_path="metadata.labels['team']"),
        EnvField("EXAMPLE_COM_OWNER", field_path="metadata.annotations['example.com/owner']"),
    )


DENIED = [
    ("bad key", {P + "env-from-labels": "-team"}, ['item "-team"', "not a valid label key"]),
    ("bad prefix", {P + "env-from-labels": "Example.com/x"}, ["prefix must be a lower-case DNS subdomain"]),
    ("bad annotation key", {P + "env-from-annotations": "a b"}, ["not a valid annotation key"]),
    ("bad name", {P + "env-from-labels": "team=1TEAM"}, ['"1TEAM" is not a valid env var name']),
    ("derived name bad", {P + "env-from-labels": "1team"}, ["name it with 1team=ENV_NAME"]),
    ("empty name", {P + "env-from-labels": "team="}, ['"" is not a valid env var name']),
    ("two items one name", {P + "env-from-labels": "team,TEAM"}, ['TEAM is already produced by item "team"']),
    (
        "across labels and annotations",
        {P + "env-from-labels": "team", P + "env-from-annotations": "team"},
        ["downward.dev/env-from-annotations", "already produced"],
    ),
    ("catalog name", {P + "env-from-labels": "a=POD_NAME"}, ["POD_NAME is a variable downward-webhook injects"]),
    ("otel name", {P + "env-from-labels": "a=OTEL_SERVICE_NAME"}, ["OTEL_SERVICE_NAME is a variable"]),
    ("empty", {P + "env-from-labels": " , "}, ["is empty", "KEY=ENV_NAME"]),
    ("otel maybe", {P + "otel": "yes"}, ['annotation downward.dev/otel: "yes" is not accepted']),
]


@pytest.mark.parametrize(("annotations", "fragments"), [d[1:] for d in DENIED], ids=[d[0] for d in DENIED])
def test_denied(annotations: dict[str, str], fragments: list[str]) -> None:
    with pytest.raises(Denied) as denied:
        parse({P + "inject": "true", **annotations}, Config(), inject_by_default=False)
    for fragment in fragments:
        assert fragment in denied.value.message


def test_operator_entry_name_is_reserved_for_labels() -> None:
    config = config_from_mapping({"catalog": [{"name": "CLUSTER_NAME", "value": "prod-eu"}]}).core
    with pytest.raises(Denied, match="CLUSTER_NAME is a variable"):
        parse({P + "inject": "true", P + "env-from-labels": "c=CLUSTER_NAME"}, config, inject_by_default=False)


def test_otel_and_env_from_work_alone() -> None:
    request = parse({P + "otel": "true", P + "volume": "false"}, Config(), inject_by_default=False)
    assert isinstance(request, InjectionRequest)
    assert (request.env, request.volume, request.ambassador, request.otel) == ((), False, False, True)
    assert request.warnings == (f'{P}volume ignored: add {P}inject: "true" for more than otel/env-from',)
    alone = parse({P + "env-from-labels": "team"}, Config(), inject_by_default=False)
    assert isinstance(alone, InjectionRequest)
    assert alone.env == ()
    assert not alone.otel
    assert isinstance(parse({P + "otel": "false"}, Config(), inject_by_default=False), NotRequested)


def test_otel_per_namespace_on_the_namespace_wide_path() -> None:
    config = config_from_mapping({"otel": {"namespaces": ["shop"]}}).core
    on = parse({}, config, inject_by_default=True, namespace="shop")
    other = parse({}, config, inject_by_default=True, namespace="billing")
    off = parse({P + "otel": "false"}, config, inject_by_default=True, namespace="shop")
    per_pod = parse({P + "inject": "true"}, config, inject_by_default=False, namespace="shop")
    assert isinstance(on, InjectionRequest)
    assert on.otel
    assert isinstance(other, InjectionRequest)
    assert not other.otel
    assert isinstance(off, InjectionRequest)
    assert not off.otel
    assert isinstance(per_pod, InjectionRequest)
    assert not per_pod.otel


OWNERS = [
    ("deployment", Owner("apps", "ReplicaSet", "web-7d9f8b6c5d"), "7d9f8b6c5d",
     (("k8s.deployment.name", "web"), ("k8s.replicaset.name", "web-7d9f8b6c5d"))),
    ("bare replicaset", Owner("apps", "ReplicaSet", "web"), None, (("k8s.replicaset.name", "web"),)),
    ("hash not a suffix", Owner("apps", "ReplicaSet", "web-abc"), "xyz", (("k8s.replicaset.name", "web-abc"),)),
    ("statefulset", Owner("apps", "StatefulSet", "db"), None, (("k8s.statefulset.name", "db"),)),
    ("daemonset", Owner("apps", "DaemonSet", "agent"), None, (("k8s.daemonset.name", "agent"),)),
    ("job of a cronjob: the job only", Owner("batch", "Job", "report-29012345"), None,
     (("k8s.job.name", "report-29012345"),)),
    ("someone else's kind", Owner("example.com", "Workflow", "w"), None, ()),
    ("none", None, None, ()),
]  # fmt: skip


@pytest.mark.parametrize(("owner", "template_hash", "expected"), [o[1:] for o in OWNERS], ids=[o[0] for o in OWNERS])
def test_owner_attributes(
    owner: Owner | None, template_hash: str | None, expected: tuple[tuple[str, str], ...]
) -> None:
    assert owner_attributes(owner, template_hash) == expected


def test_service_name_order() -> None:
    owners = (("k8s.deployment.name", "web"), ("k8s.replicaset.name", "web-1"))
    assert service_name("shop", owners, "main") == "shop"
    assert service_name(None, owners, "main") == "web"
    assert service_name(None, (("k8s.job.name", "j"),), "main") == "j"
    assert service_name(None, (), "main") == "main"


def test_values_are_percent_encoded_and_references_are_not() -> None:
    pairs = (("a", "x,y=z"), ("b", "50%"), ("c", "two words"), ("d", "é"), ("k8s.pod.name", "$(OTEL_X)"))
    assert encode(pairs) == "a=x%2Cy%3Dz,b=50%25,c=two%20words,d=%C3%A9,k8s.pod.name=$(OTEL_X)"


def test_merge_keeps_every_user_key() -> None:
    ours = (("service.name", "web"), ("k8s.pod.name", "$(P)"))
    merged = merge("service.name=mine, team=a", ours)
    assert merged.value == "service.name=mine, team=a,k8s.pod.name=$(P)"
    assert (merged.added, merged.kept) == (("k8s.pod.name",), ("service.name",))
    assert merge("", ours).value == "service.name=web,k8s.pod.name=$(P)"
    assert merge("k8s.pod.name=x,service.name=y", ours).added == ()
    assert keys_of("a=1,,b,c=2=3") == ("a", "c")


def test_warnings_fit_under_120() -> None:
    items = tuple(f"k8s.attribute{i}.name" for i in range(20))
    lines = fitted_warnings("container: your OTEL_RESOURCE_ATTRIBUTES got", items)
    assert all(len(line) < 120 for line in lines)
    assert sum(line.count("k8s.attribute") for line in lines) == 20


def _pod(annotations: dict[str, str], env: list[dict[str, object]] | None = None) -> dict[str, object]:
    container: dict[str, object] = {"name": "app", "image": "busybox"}
    if env is not None:
        container["env"] = env
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "annotations": annotations},
        "spec": {"containers": [container]},
    }


def test_operator_entries_in_env_and_default_set() -> None:
    config = config_from_mapping(
        {
            "catalog": [
                {"name": "CLUSTER_NAME", "value": "prod-eu"},
                {"name": "POD_LABEL_TEAM", "fieldPath": "metadata.labels['team']"},
                {"name": "EPHEMERAL_MIB", "resource": "limits.ephemeral-storage", "divisor": "1Mi"},
            ],
            "defaults": {"env": ["POD_NAME", "CLUSTER_NAME"]},
        }
    ).core
    pod = _pod({P + "inject": "true", P + "volume": "false"})
    answer = review(pod_create(pod, "default"), config, inject_by_default=False)
    patched = apply_patch_like_apiserver(pod, list(answer.ops))
    check_pod(patched)
    env = patched["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env] == ["POD_NAME", "CLUSTER_NAME"]
    assert env[1] == {"name": "CLUSTER_NAME", "value": "prod-eu"}
    named = _pod({P + "inject": "true", P + "volume": "false", P + "env": "EPHEMERAL_MIB,POD_LABEL_TEAM"})
    answer = review(pod_create(named, "default"), config, inject_by_default=False)
    env = apply_patch_like_apiserver(named, list(answer.ops))["spec"]["containers"][0]["env"]
    assert env[0]["valueFrom"]["resourceFieldRef"]["divisor"] == "1Mi"
    assert env[1]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['team']"


def test_user_value_of_an_operator_entry_is_kept() -> None:
    config = config_from_mapping({"catalog": [{"name": "CLUSTER_NAME", "value": "prod-eu"}]}).core
    pod = _pod({P + "inject": "true", P + "env": "CLUSTER_NAME"}, [{"name": "CLUSTER_NAME", "value": "mine"}])
    answer = review(pod_create(pod, "default"), config, inject_by_default=False)
    assert "app: kept your CLUSTER_NAME; value 'prod-eu' not injected" in answer.warnings


BAD_ENTRIES = [
    ("shadows a built-in", [{"name": "POD_NAME", "value": "x"}], "catalog: entry 0 (POD_NAME): shadows the built-in"),
    ("two sources", [{"name": "A", "value": "x", "fieldPath": "metadata.name"}], "entry 0 (A): exactly one of"),
    ("no source", [{"name": "A"}], "entry 0 (A): exactly one of"),
    ("volume-only path", [{"name": "A", "fieldPath": "metadata.labels"}], "entry 0 (A): fieldPath"),
    ("bad subscript", [{"name": "A", "fieldPath": "metadata.labels['-x']"}], "entry 0 (A): fieldPath"),
    ("divisor not canonical", [{"name": "A", "resource": "limits.memory", "divisor": "1024"}], "divisor"),
    ("cpu divisor", [{"name": "A", "resource": "requests.cpu", "divisor": "1Ki"}], "divisor"),
    ("unknown resource", [{"name": "A", "resource": "limits.gpu", "divisor": "1"}], "resource"),
    ("resource without divisor", [{"name": "A", "resource": "limits.cpu"}], "divisor"),
    ("bad name", [{"name": "1A", "value": "x"}], "entry 0 (1A): the name"),
    ("twice", [{"name": "A", "value": "x"}, {"name": "A", "value": "y"}], "entry 1 (A) is defined twice"),
    ("unknown key", [{"name": "A", "value": "x", "vaule": "y"}], "catalog.0.vaule: unknown key"),
]


@pytest.mark.parametrize(("entries", "fragment"), [b[1:] for b in BAD_ENTRIES], ids=[b[0] for b in BAD_ENTRIES])
def test_bad_operator_entry_stops_the_server(entries: list[dict[str, str]], fragment: str) -> None:
    with pytest.raises(ConfigError) as error:
        config_from_mapping({"catalog": entries})
    assert fragment in error.value.message


def test_default_set_may_name_operator_entries_only_when_defined() -> None:
    with pytest.raises(ConfigError, match="CLUSTER_NAME"):
        config_from_mapping({"defaults": {"env": ["CLUSTER_NAME"]}})
