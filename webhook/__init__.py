"""downward-webhook: inject Downward API env vars, files and a kubectl-proxy ambassador into pods."""

__version__ = "0.1.0"
