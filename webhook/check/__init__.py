"""`downward-webhook check`: why a pod was injected, or why not, asked of the live cluster.

    verdicts.py  pure: the installed configuration, a pod, its namespace and owners -> one actionable sentence
    cluster.py   the cluster's API (kubeconfig and credentials through lightkube), dry-runs, the TLS probe
    output.py    the report as text or as a versioned JSON document
    command.py   the subcommand: arguments -> reads -> verdicts -> report -> exit status

Installed with the optional extra `downward-webhook[check]`; the webhook server never imports it.
"""
