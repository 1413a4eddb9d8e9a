"""`downward-webhook check`: the arguments, the reads, the verdicts, the report, the exit status.

Exit status: 0 all well; 1 a pod not injected, opted-in pods found without injection, a dry-run denied or not
injected although opted in, or the webhook unhealthy (its caBundle does not verify, no ready replica);
2 usage errors, no kubeconfig, an unreachable cluster, missing RBAC permissions.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..documents import DocumentsError, read_documents
from .cluster import CheckError, Cluster, Forbidden, load_kubeconfig
from .health import health, ours
from .manifests import DryRun, dry_run_verdict, respec, would_be_pods
from .output import PodLine, Report, as_json, as_text
from .verdicts import NOT_OPTED_IN, Entry, UsageError, Verdict, entries_of, limited_verdict, pod_verdict
from .victims import group_victims, top_owner


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pod", nargs="?", help="a pod's name: was it injected, and why (not)")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", help="the namespace (default: the kubeconfig context's)")
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="every opted-in pod left without injection, by owner"
    )
    parser.add_argument("-f", "--filename", help="dry-run the pods of these Pods/workloads (YAML; - for stdin)")
    parser.add_argument("--dry-run", action="store_true", help="with POD: dry-run its spec again (what happens now)")
    parser.add_argument("--kubeconfig", help="the kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    parser.add_argument("--context", help="the kubeconfig context (default: its current-context)")
    parser.add_argument("-o", "--output", choices=["text", "json"], default="text", help="text (default) or json")


def validate(args: argparse.Namespace) -> None:
    if args.pod and args.all_namespaces:
        raise UsageError("a POD name and -A do not go together")
    if args.pod and args.filename:
        raise UsageError("a POD name and -f do not go together")
    if args.filename and args.all_namespaces:
        raise UsageError("-f and -A do not go together (a manifest's namespace comes from it, or from -n)")
    if args.dry_run and not args.pod:
        raise UsageError("--dry-run needs a POD name (for a manifest, -f always dry-runs)")


def run(args: argparse.Namespace) -> int:
    try:
        validate(args)
        documents = read_documents(args.filename) if args.filename else None
        single, context_namespace = load_kubeconfig(args.kubeconfig, args.context)
        cluster = Cluster(single)
        try:
            report = _check(cluster, args, args.namespace or context_namespace, documents)
        finally:
            cluster.close()
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except DocumentsError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    except CheckError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    sys.stdout.write(as_json(report) if args.output == "json" else as_text(report))
    return report.exit_code


def _check(cluster: Cluster, args: argparse.Namespace, namespace: str, documents: list[Any] | None) -> Report:
    if args.pod:
        return _one_pod(cluster, namespace, args.pod, dry_run=args.dry_run)
    configurations = ours(cluster.configurations())
    entries = entries_of(configurations)
    report = Report("pod", [health(cluster, c) for c in configurations])
    if documents is not None:
        report.mode = "manifest"
        for would_be in would_be_pods(documents, namespace):
            if would_be.pod is None:
                report.dry_runs.append(DryRun(would_be.label, "skipped", would_be.skipped))
                continue
            report.dry_runs.append(_dry_run(cluster, would_be.label, would_be.namespace, would_be.pod, entries))
    else:
        report.mode = "all-namespaces" if args.all_namespaces else "namespace"
        scope = None if args.all_namespaces else namespace
        spaces = cluster.namespaces() if scope is None else [cluster.namespace(scope)]
        by_name = {str(ns["metadata"]["name"]): ns for ns in spaces}
        victims = []
        for pod in cluster.pods(scope):
            metadata = pod.get("metadata") or {}
            ns_name = str(metadata.get("namespace", ""))
            namespace_object = by_name.get(ns_name, {"metadata": {"name": ns_name}})
            # -A reads no owners but the victims' (one call per pod would not scale); -n looks for misplaced opt-ins.
            verdict = (
                pod_verdict(pod, namespace_object, entries)
                if scope is None
                else _verdict(cluster, pod, namespace_object, entries)
            )
            if scope is not None or verdict.opted_in:  # -A: the opted-in pods only, or a big cluster floods it
                report.pods.append(PodLine(ns_name, str(metadata.get("name", "")), verdict))
            if verdict.victim:
                victims.append((pod, top_owner(pod, cluster.owners(pod)), verdict))
        report.victims = group_victims(victims)
    return report


def _one_pod(cluster: Cluster, namespace: str, name: str, *, dry_run: bool) -> Report:
    """`check POD [--dry-run]` with what its user may read. Without the webhook configuration or the namespace (an
    app team's usual RBAC) the verdict comes from the pod's own annotations and names the permission the why
    needs; a dry-run's answer is read against the configuration, so --dry-run still needs it."""
    try:
        configurations = ours(cluster.configurations())
        unreadable = ""
    except Forbidden as denied:
        if dry_run:
            raise
        configurations, unreadable = [], denied.message
    entries = entries_of(configurations)
    pod = cluster.pod(namespace, name)
    report = Report("pod", [health(cluster, c) for c in configurations], unreadable=unreadable)
    if dry_run:
        what, again = respec(pod, cluster.owners(pod))
        label = f"Pod {namespace}/{name} ({what}, dry-run)"
        report.dry_runs.append(_dry_run(cluster, label, namespace, again, entries))
    if not unreadable:
        try:
            verdict = _verdict(cluster, pod, cluster.namespace(namespace), entries)
        except Forbidden as denied:  # the namespace's labels (its namespace-wide opt-in) are not readable
            if dry_run:
                raise
            report.unreadable = denied.message
    if report.unreadable:
        verdict = limited_verdict(pod, report.unreadable)
    report.pods.append(PodLine(namespace, name, verdict))
    return report


def _verdict(cluster: Cluster, pod: dict[str, Any], namespace: dict[str, Any], entries: list[Entry]) -> Verdict:
    verdict = pod_verdict(pod, namespace, entries)
    if verdict.code == NOT_OPTED_IN and (pod.get("metadata") or {}).get("ownerReferences"):
        verdict = pod_verdict(pod, namespace, entries, cluster.owners(pod))  # is the opt-in on its workload?
    return verdict


def _dry_run(cluster: Cluster, label: str, namespace: str, pod: dict[str, Any], entries: list[Entry]) -> DryRun:
    reply = cluster.dry_run_pod(namespace, pod)
    namespace_object = cluster.namespace(namespace) if reply.status < 400 else {}
    return dry_run_verdict(label, reply.status, reply.body, reply.warnings, namespace=namespace_object, entries=entries)
