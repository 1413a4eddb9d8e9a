"""The `downward-webhook` command: certs, serve, inject, check."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from . import __version__
from .certs import DEV_HOSTS, make_certificates, service_names, usable_dev_certificates, write_certificates
from .config import ConfigError, load_config
from .core.errors import Denied
from .documents import DocumentsError, read_documents

DEV_CERT_DIR = Path("certs")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="downward-webhook",
        description="Kubernetes mutating webhook: Downward API env vars, files and a kubectl-proxy ambassador.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    certs = sub.add_parser("certs", help="write a CA and a serving certificate (ECDSA P-256)")
    certs.add_argument("--out", type=Path, required=True, help="directory for ca.crt, tls.crt, tls.key")
    certs.add_argument("--host", action="append", default=[], help="a DNS name or IP for the SANs (repeatable)")
    certs.add_argument("--service", help="the webhook Service name (adds S, S.N, S.N.svc, S.N.svc.cluster.local)")
    certs.add_argument("--namespace", help="the Service's namespace (with --service)")
    certs.add_argument("--days", type=int, default=365, help="validity of the serving certificate (default 365)")

    serve = sub.add_parser("serve", help="run the HTTPS admission server")
    serve.add_argument("--tls-cert", type=Path, help="PEM certificate chain (default: dev certificates in ./certs)")
    serve.add_argument("--tls-key", type=Path, help="PEM private key")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8443, help="port to listen on (default 8443)")
    serve.add_argument("--config", type=Path, help="operator configuration (YAML)")
    serve.add_argument("--client-ca", type=Path, help="require apiserver client certificates signed by this CA")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    inject = sub.add_parser("inject", help="inject manifests offline, as the server would")
    inject.add_argument("-f", "--filename", required=True, help="a YAML file of Pods and workloads, or - for stdin")
    inject.add_argument("--config", type=Path, help="operator configuration (YAML)")
    inject.add_argument("--namespace", default="default", help="namespace for objects that name none")

    check = sub.add_parser(
        "check",
        help="why a pod was injected or not, asked of the live cluster (needs downward-webhook[check])",
        description="Why a pod was injected or not, asked of the live cluster. Exit status: 0 all well, "
        "1 not injected / opted-in pods left without injection / a dry-run denied / the webhook unhealthy, "
        "2 usage, kubeconfig, connection or permission errors.",
    )
    _check_arguments(check)
    return parser


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    try:
        from .check.command import add_arguments
    except ImportError:  # the optional extra is missing: say so when the command runs, not on every command
        parser.add_argument("rest", nargs=argparse.REMAINDER)
        return
    add_arguments(parser)


def _check(args: argparse.Namespace) -> int:
    try:
        from .check.command import run
    except ImportError as error:
        print(
            f"error: check needs the optional extra: pip install 'downward-webhook[check]' ({error})", file=sys.stderr
        )
        return 2
    return run(args)


def _certs(args: argparse.Namespace) -> int:
    hosts = list(args.host)
    if args.service or args.namespace:
        if not (args.service and args.namespace):
            print("error: --service and --namespace go together", file=sys.stderr)
            return 2
        hosts += service_names(args.service, args.namespace)
    if not hosts:
        print("error: give at least one --host, or --service with --namespace", file=sys.stderr)
        return 2
    paths = write_certificates(make_certificates(hosts, days=args.days), args.out)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .serving.logs import configure_logging
    from .serving.server import build_server
    from .serving.settings import ServeOptions

    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    if (args.tls_cert is None) != (args.tls_key is None):
        print("error: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    cert, key = args.tls_cert, args.tls_key
    if cert is None:
        wildcard = args.host in ("0.0.0.0", "::")  # noqa: S104 - comparing, not binding
        hosts = list(dict.fromkeys([*DEV_HOSTS, *([] if wildcard else [args.host])]))
        if not usable_dev_certificates(DEV_CERT_DIR, hosts):
            write_certificates(make_certificates(hosts), DEV_CERT_DIR)
        cert, key = DEV_CERT_DIR / "tls.crt", DEV_CERT_DIR / "tls.key"
        ca = (DEV_CERT_DIR / "ca.crt").resolve()
        print(f"development certificates in {DEV_CERT_DIR.resolve()}; trust the CA at {ca}", file=sys.stderr)
        print(f"  try: curl --cacert {ca} https://localhost:{args.port}/healthz", file=sys.stderr)
    for path in (cert, key, *([args.client_ca] if args.client_ca else [])):
        if not path.is_file():
            print(f"error: {path} does not exist or is not a file", file=sys.stderr)
            return 2
    configure_logging(args.log_level)
    options = ServeOptions(args.host, args.port, cert, key, args.log_level, args.client_ca)
    try:
        server = build_server(config.core, config.server, options)
    except (OSError, ValueError) as error:
        print(f"error: cannot load the TLS certificate/key: {error}", file=sys.stderr)
        return 2
    server.run()
    return 0 if server.started else 1


def _inject(args: argparse.Namespace) -> int:
    from .offline import inject_documents

    try:
        config = load_config(args.config)
        documents = read_documents(args.filename)
    except (ConfigError, DocumentsError) as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    try:
        result = inject_documents(documents, config.core, args.namespace)
    except Denied as denial:
        print(f"error: {denial.message}", file=sys.stderr)
        return 1
    for warning in result.warnings:
        print(f"Warning: {warning}", file=sys.stderr)
    sys.stdout.write(yaml.safe_dump_all(result.documents, sort_keys=False))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"certs": _certs, "serve": _serve, "inject": _inject, "check": _check}
    return handlers[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
