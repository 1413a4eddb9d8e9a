"""`downward-webhook check`: why a pod was injected, or why not, asked of the live cluster.

    verdicts.py  pure: the installed configuration, a pod, its namespace and owners -> one actionable sentence
    victims.py   pure: opted-in pods left without injection, grouped by owner, and the command restarting them
    manifests.py pure: the pod a manifest would create, what to dry-run for a live pod, the dry-run's answer
    kubeconfig.py pure: the files of $KUBECONFIG merged by kubectl's rules
    cluster.py   the cluster's API (kubeconfig and credentials through lightkube), dry-runs, the TLS probe
    output.py    the report as text or as a versioned JSON document
    command.py   the subcommand: arguments -> reads -> verdicts -> report -> exit status

Installed with the optional extra `downward-webhook[check]`; the webhook server never imports it.
"""
