{{/*
The webhook's Prometheus alert rules, rendered once here and used twice: by prometheusrule.yaml (the
Prometheus operator's PrometheusRule) and, through `make monitoring-files`, as the plain rules file
deploy/monitoring/downward-webhook-alerts.yaml. Every threshold and `for` comes from .Values.alerts; the
slow-answer threshold from webhook.timeoutSeconds; the renewal deadline from the TLS mode's settings.
docs/operations.md ("Monitoring") is the runbook each runbook_url points into (anchor = the alert's name,
lower-cased). tests/monitoring/alerts-test.yaml unit-tests every rule with promtool.
*/}}

{{/*
downward-webhook.alerts.job: the `job` label of the webhook's scrape target: alerts.job, or "<fullname>"
(a ServiceMonitor names the job after the Service).
*/}}
{{- define "downward-webhook.alerts.job" -}}
{{- default (include "downward-webhook.fullname" .) .Values.alerts.job }}
{{- end }}

{{/*
downward-webhook.alerts.webhookNames: a PromQL regex (for a `name=~` matcher in a raw `...` string) of the
webhook entries of mutatingwebhookconfiguration.yaml: the `name` label of the apiserver's admission metrics.
*/}}
{{- define "downward-webhook.alerts.webhookNames" -}}
pods\.downward\.dev|namespace\.pods\.downward\.dev|workloads\.downward\.dev
{{- end }}

{{/*
downward-webhook.durationSeconds: a Go duration ("720h", "1h30m", "90s") as seconds (a float).
*/}}
{{- define "downward-webhook.durationSeconds" -}}
{{- $units := dict "h" 3600.0 "m" 60.0 "s" 1.0 "ms" 0.001 "us" 0.000001 "µs" 0.000001 "ns" 0.000000001 }}
{{- $total := 0.0 }}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)" . -1 }}
{{- $unit := regexFind "(ns|us|µs|ms|s|m|h)$" . }}
{{- $total = addf $total (mulf (float64 (trimSuffix $unit .)) (get $units $unit)) }}
{{- end }}
{{- $total }}
{{- end }}

{{/*
downward-webhook.alerts.notRenewedSeconds: the expiry distance (seconds) at which the serving certificate
should already have been renewed: in certManager mode tls.certManager.renewBefore minus
alerts.certificateNotRenewed.graceHours (cert-manager renews at renewBefore); otherwise, or when that is not
positive, alerts.certificateNotRenewed.days.
*/}}
{{- define "downward-webhook.alerts.notRenewedSeconds" -}}
{{- $a := .Values.alerts.certificateNotRenewed }}
{{- $seconds := mulf (float64 $a.days) 86400.0 }}
{{- if eq .Values.tls.mode "certManager" }}
{{- $renewBefore := include "downward-webhook.durationSeconds" .Values.tls.certManager.renewBefore | float64 }}
{{- $deadline := subf $renewBefore (mulf (float64 $a.graceHours) 3600.0) }}
{{- if gt $deadline 0.0 }}
{{- $seconds = $deadline }}
{{- end }}
{{- end }}
{{- $seconds | int64 }}
{{- end }}

{{/*
downward-webhook.alerts.common: the labels and annotations every alert carries. Called with
(dict "root" $ "name" "DownwardWebhookDown" "severity" "critical" "summary" "..." "description" "...").
*/}}
{{- define "downward-webhook.alerts.common" -}}
labels:
  severity: {{ .severity }}
  {{- with .root.Values.alerts.labels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  summary: {{ .summary | quote }}
  description: {{ .description | quote }}
  runbook_url: {{ printf "%s#%s" .root.Values.alerts.runbookBaseURL (lower .name) | quote }}
{{- end }}

{{/*
downward-webhook.alerts.groups: the rule groups, as the `groups:` list of a rules file (and the spec of a
PrometheusRule).
*/}}
{{- define "downward-webhook.alerts.groups" -}}
{{- $a := .Values.alerts }}
{{- $job := include "downward-webhook.alerts.job" . }}
{{- $names := include "downward-webhook.alerts.webhookNames" . }}
{{- $slow := mulf (float64 $a.slow.timeoutFraction) (float64 .Values.webhook.timeoutSeconds) }}
{{- $notRenewed := include "downward-webhook.alerts.notRenewedSeconds" . | int64 }}
groups:
  - name: downward-webhook
    rules:
      - alert: DownwardWebhookDown
        expr: |
          absent(up{job="{{ $job }}"} == 1)
        for: {{ $a.down.for }}
        {{- include "downward-webhook.alerts.common" (dict "root" . "name" "DownwardWebhookDown" "severity" $a.down.severity
            "summary" "No downward-webhook replica is up."
            "description" (printf "Prometheus has scraped no up target of job %s for %s. With failurePolicy Ignore, opted-in pods are created without injection; with Fail, they are rejected. Check the webhook pods (kubectl -n <namespace> get pods,endpointslices) and their logs." $job $a.down.for)) | nindent 8 }}
      - alert: DownwardWebhookFailOpen
        expr: |
          sum by (name) (increase(apiserver_admission_webhook_fail_open_count{name=~`{{ $names }}`}[{{ $a.failOpen.window }}])) > 0
          or
          sum by (name) (
            apiserver_admission_webhook_fail_open_count{name=~`{{ $names }}`}
            unless apiserver_admission_webhook_fail_open_count{name=~`{{ $names }}`} offset {{ $a.failOpen.window }}
          ) > 0
        for: {{ $a.failOpen.for }}
        {{- include "downward-webhook.alerts.common" (dict "root" . "name" "DownwardWebhookFailOpen" "severity" $a.failOpen.severity
            "summary" "The apiserver failed open on webhook {{ $labels.name }}: pods were created without injection."
            "description" (printf "The apiserver could not call webhook {{ $labels.name }} (down, timeout, TLS error) and, under failurePolicy Ignore, let requests through unchanged in the last %s. Find the cause in the apiserver's log (\"failing open\") and the webhook's pods, then recreate the pods that missed their injection (they lack the status annotation)." $a.failOpen.window)) | nindent 8 }}
      - alert: DownwardWebhookCallsRejected
        expr: |
          sum by (name, error_type) (increase(apiserver_admission_webhook_rejection_count{name=~`{{ $names }}`, error_type!="no_error"}[{{ $a.callsRejected.window }}])) > 0
          or
          sum by (name, error_type) (
            apiserver_admission_webhook_rejection_count{name=~`{{ $names }}`, error_type!="no_error"}
            unless apiserver_admission_webhook_rejection_count{name=~`{{ $names }}`, error_type!="no_error"} offset {{ $a.callsRejected.window }}
          ) > 0
        for: {{ $a.callsRejected.for }}
        {{- include "downward-webhook.alerts.common" (dict "root" . "name" "DownwardWebhookCallsRejected" "severity" $a.callsRejected.severity
            "summary" "The apiserver rejected requests because webhook {{ $labels.name }} failed ({{ $labels.error_type }})."
            "description" (printf "Requests were rejected in the last %s not by the webhook's decision but because calling it failed (failurePolicy Fail) or the apiserver failed (error_type {{ $labels.error_type }}). Pods that match the webhook cannot be created: restore the webhook (pods, Service, certificate), or in an emergency delete the MutatingWebhookConfiguration." $a.callsRejected.window)) | nindent 8 }}
      - alert: DownwardWebhookErrors
        expr: |
          sum(rate(downward_webhook_requests_total{job="{{ $job }}", outcome=~"error|timeout"}[{{ $a.errors.window }}]))
            / sum(rate(downward_webhook_requests_total{job="{{ $job }}"}[{{ $a.errors.window }}]))
            > {{ $a.errors.ratio }}
        for: {{ $a.errors.for }}
        {{- include "downward-webhook.alerts.common" (dict "root" . "name" "DownwardWebhookErrors" "severity" $a.errors.severity
            "summary" "downward-webhook answers {{ $value | humanizePercentage }} of its requests with an error or a timeout."
            "description" (printf "More than %.4g%% of the admission requests ended with outcome error or timeout for %s: those pods are admitted without injection (error) or the server gave up (timeout). The webhook logs one JSON line per request with its outcome and reason: kubectl -n <namespace> logs -l app.kubernetes.io/name=downward-webhook | grep '\"outcome\":\"error\"'." (mulf $a.errors.ratio 100.0) $a.errors.for)) | nindent 8 }}
      - alert: DownwardWebhookSlow
        expr: |
          histogram_quantile(0.99, sum by (le) (rate(downward_webhook_request_duration_seconds_bucket{job="{{ $job }}"}[{{ $a.slow.window }}])))
            > {{ $slow }}
        for: {{ $a.slow.for }}
        {{- include "downward-webhook.alerts.common" (dict "root" . "name" "DownwardWebhookSlow" "severity" $a.slow.severity
            "summary" "downward-webhook's p99 answer time is {{ $value | humanizeDuration }}, near the apiserver's timeout."
            "description" (printf "The 99th percentile of the webhook's answer time has been above %vs (%v of webhook.timeoutSeconds = %vs) for %s. Past the timeout the apiserver gives up: the pod is created without injection (Ignore) or rejected (Fail). Check the pods' CPU (requests, throttling) and add replicas." $slow $a.slow.timeoutFraction .Values.webhook.timeoutSeconds $a.slow.for)) | nindent 8 }}
      - alert: DownwardWebhookCertificateExpiresSoon
        expr: |
          (downward_webhook_certificate_expiry_timestamp_seconds{job="{{ $job }}"} - time()) / 86400 < {{ $a.certificateExpiresSoon.days }}
        for: {{ $a.certificateExpiresSoon.for }}
        {{- include "downward-webhook.alerts.common" (dict "root" . "name" "DownwardWebhookCertificateExpiresSoon" "severity" $a.certificateExpiresSoon.severity
            "summary" "downward-webhook's serving certificate expires in {{ $value | humanize }} days."
            "description" (printf "The certificate served by {{ $labels.instance }} expires in less than %v days. tls.mode chart: run helm upgrade (it renews within tls.chart.renewBeforeDays); certManager: check the Certificate (kubectl describe certificate); secret: replace the Secret." $a.certificateExpiresSoon.days)) | nindent 8 }}
      - alert: DownwardWebhookCertificateNotRenewed
        expr: |
          downward_webhook_certificate_expiry_timestamp_seconds{job="{{ $job }}"} - time() < {{ $notRenewed }}
        for: {{ $a.certificateNotRenewed.for }}
        {{- include "downward-webhook.alerts.common" (dict "root" . "name" "DownwardWebhookCertificateNotRenewed" "severity" $a.certificateNotRenewed.severity
            "summary" "downward-webhook's serving certificate should have been renewed by now."
            "description" (printf "The certificate served by {{ $labels.instance }} expires within %d hours, past the point where it should have been renewed (tls.mode %s). When it expires every call fails. Renew it now (see the runbook), and find out why rotation did not happen." (div $notRenewed 3600) .Values.tls.mode)) | nindent 8 }}
{{- end }}
