{{/*
Helpers of the downward-webhook chart. Every helper is namespaced "downward-webhook." and commented.
*/}}

{{/*
downward-webhook.name: the chart name, or nameOverride; the app.kubernetes.io/name label.
*/}}
{{- define "downward-webhook.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
downward-webhook.fullname: the prefix of every object name, "<release>-<chart>" (just "<release>" when the
release name already contains the chart name), cut to 50 characters so suffixes such as "-selfsigned" still
fit the 63-character limit of label values and Service names.
*/}}
{{- define "downward-webhook.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
downward-webhook.namespace: the namespace every namespaced object goes to (the release namespace).
*/}}
{{- define "downward-webhook.namespace" -}}
{{- .Release.Namespace }}
{{- end }}

{{/*
downward-webhook.chart: the helm.sh/chart label, "<name>-<version>" with "+" (not allowed in labels) as "_".
*/}}
{{- define "downward-webhook.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
downward-webhook.selectorLabels: the labels that select the webhook pods (Deployment, Service, PDB, spread);
never change them in a chart upgrade: a Deployment's selector is immutable.
*/}}
{{- define "downward-webhook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "downward-webhook.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
downward-webhook.labels: the standard labels of every object: selector labels, version, component,
managed-by, part-of, helm.sh/chart, and commonLabels.
*/}}
{{- define "downward-webhook.labels" -}}
{{ include "downward-webhook.selectorLabels" . }}
app.kubernetes.io/version: {{ include "downward-webhook.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: admission-webhook
app.kubernetes.io/part-of: downward-webhook
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "downward-webhook.chart" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
downward-webhook.annotations: commonAnnotations as a YAML mapping ("" when there are none); callers write
`annotations:` only when this is not empty.
*/}}
{{- define "downward-webhook.annotations" -}}
{{- with .Values.commonAnnotations }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/*
downward-webhook.imageTag: image.tag, or the chart's appVersion when it is empty.
*/}}
{{- define "downward-webhook.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/*
downward-webhook.image: the full image reference, "repository@digest" when a digest is given, else
"repository:tag".
*/}}
{{- define "downward-webhook.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "downward-webhook.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
downward-webhook.serviceAccountName: the ServiceAccount the pods run as.
*/}}
{{- define "downward-webhook.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "downward-webhook.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
downward-webhook.serviceName: the Service the apiserver calls; the serving certificate is issued for it.
*/}}
{{- define "downward-webhook.serviceName" -}}
{{- include "downward-webhook.fullname" . }}
{{- end }}

{{/*
downward-webhook.dnsNames: the serving certificate's DNS names, one per line: "<svc>", "<svc>.<ns>",
"<svc>.<ns>.svc" (the name the apiserver dials) and "<svc>.<ns>.svc.cluster.local".
*/}}
{{- define "downward-webhook.dnsNames" -}}
{{- $svc := include "downward-webhook.serviceName" . }}
{{- $ns := include "downward-webhook.namespace" . }}
{{- printf "%s\n%s.%s\n%s.%s.svc\n%s.%s.svc.cluster.local" $svc $svc $ns $svc $ns $svc $ns }}
{{- end }}

{{/*
downward-webhook.tlsSecretName: the Secret holding tls.crt and tls.key (and ca.crt in chart and certManager
modes): tls.secretName, or "<fullname>-tls".
*/}}
{{- define "downward-webhook.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "downward-webhook.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{/*
downward-webhook.prefix: config.annotationPrefix, e.g. "downward.dev/". The schema restricts it to a DNS
subdomain plus "/", so it is safe inside the single-quoted CEL strings below.
*/}}
{{- define "downward-webhook.prefix" -}}
{{- .Values.config.annotationPrefix }}
{{- end }}

{{/*
downward-webhook.injectKey: the opt-in annotation, "<prefix>inject". Also the namespace label key of
namespace-wide injection (value "enabled").
*/}}
{{- define "downward-webhook.injectKey" -}}
{{- printf "%sinject" (include "downward-webhook.prefix" .) }}
{{- end }}

{{/*
downward-webhook.excludedNamespaces: the namespaces no webhook entry ever matches, as a YAML list: the
system namespaces, the release's own namespace (the webhook must never gate its own pods) and
webhook.excludeNamespaces.
*/}}
{{- define "downward-webhook.excludedNamespaces" -}}
{{- $names := list "kube-system" "kube-node-lease" "kube-public" (include "downward-webhook.namespace" .) }}
{{- $names = concat $names .Values.webhook.excludeNamespaces | uniq }}
{{- toYaml $names }}
{{- end }}

{{/*
downward-webhook.namespaceSelector: the namespaceSelector of one webhook entry. Called with
(dict "root" $ "entry" "annotation"|"namespace"|"workload"):
  every entry: kubernetes.io/metadata.name NotIn the excluded namespaces (that label is set by the apiserver
               on every namespace and cannot be forged), plus webhook.namespaceSelector;
  "annotation": "<prefix>inject" NotIn [enabled] when namespace-wide injection is on, so that a pod in a
               labelled namespace goes to the namespace entry only (NotIn also matches namespaces without
               the label);
  "namespace": matchLabels "<prefix>inject: enabled".
*/}}
{{- define "downward-webhook.namespaceSelector" -}}
{{- $root := .root }}
{{- $user := $root.Values.webhook.namespaceSelector }}
{{- $labels := dict }}
{{- if eq .entry "namespace" }}
{{- $_ := set $labels (include "downward-webhook.injectKey" $root) "enabled" }}
{{- end }}
{{- $labels = merge $labels (deepCopy (default dict $user.matchLabels)) }}
{{- if $labels }}
matchLabels:
  {{- toYaml $labels | nindent 2 }}
{{- end }}
matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values:
      {{- include "downward-webhook.excludedNamespaces" $root | nindent 6 }}
{{- if and (eq .entry "annotation") $root.Values.webhook.namespaceWide.enabled }}
  - key: {{ include "downward-webhook.injectKey" $root }}
    operator: NotIn
    values:
      - enabled
{{- end }}
{{- with $user.matchExpressions }}
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
downward-webhook.celHasAnnotations: a CEL guard that is true when "<path>.metadata.annotations" exists,
testing every step with has() so the expression never errors on a missing field (an evaluation error would
hand the decision to failurePolicy, i.e. reject the request under Fail). Called with the CEL path of the
object that owns the metadata, e.g. "object.spec.template" returns
"has(object.spec) && has(object.spec.template) && has(object.spec.template.metadata) && has(object.spec.template.metadata.annotations)".
*/}}
{{- define "downward-webhook.celHasAnnotations" -}}
{{- $parts := splitList "." . }}
{{- $guards := list }}
{{- $path := first $parts }}
{{- range (rest $parts) }}
{{- $path = printf "%s.%s" $path . }}
{{- $guards = append $guards (printf "has(%s)" $path) }}
{{- end }}
{{- $guards = append $guards (printf "has(%s.metadata)" $path) }}
{{- $guards = append $guards (printf "has(%s.metadata.annotations)" $path) }}
{{- join " && " $guards }}
{{- end }}

{{/*
downward-webhook.notMirrorPod: CEL, true unless the pod is a static pod's mirror (created by a kubelet,
which no webhook may change; the server skips them too).
*/}}
{{- define "downward-webhook.notMirrorPod" -}}
!({{ include "downward-webhook.celHasAnnotations" "object" }}) || !('kubernetes.io/config.mirror' in object.metadata.annotations)
{{- end }}

{{/*
downward-webhook.tlsData: the chart-generated TLS material (chart mode), as a dict with ca.crt, ca.key,
tls.crt, tls.key (PEM) and notAfter (Unix seconds), computed ONCE per render and shared by secret.yaml,
mutatingwebhookconfiguration.yaml and deployment.yaml (through the render's top-level scope, which all
templates of the chart share), so the caBundle always matches the Secret.
  - An existing Secret "<fullname>-tls" that holds ca.crt and ca.key: its CA is kept (the caBundle never
    changes on `helm upgrade`), and so is its serving certificate unless it expires within
    tls.chart.renewBeforeDays or was issued for other DNS names; then a new one is signed by the same CA.
  - No such Secret (first install, `helm template`, `--dry-run` without cluster access): a new ECDSA P-256
    CA and serving certificate.
Returns the dict as JSON; callers use `include ... | fromJson`.
*/}}
{{- define "downward-webhook.tlsData" -}}
{{- $root := . }}
{{- if not (hasKey $root "downwardWebhookTLS") }}
{{- $name := include "downward-webhook.tlsSecretName" $root }}
{{- $dnsNames := list }}
{{- range include "downward-webhook.dnsNames" $root | splitList "\n" }}
{{- $dnsNames = append $dnsNames . }}
{{- end }}
{{- $dnsKey := join "," $dnsNames }}
{{- $now := now | unixEpoch | int64 }}
{{- $renewBefore := mul (int64 $root.Values.tls.chart.renewBeforeDays) 86400 }}
{{- $existing := lookup "v1" "Secret" (include "downward-webhook.namespace" $root) $name }}
{{- $data := dict }}
{{- $annotations := dict }}
{{- if $existing }}
{{- $data = default dict $existing.data }}
{{- $annotations = default dict $existing.metadata.annotations }}
{{- end }}
{{- $ca := dict }}
{{- if and (index $data "ca.crt") (index $data "ca.key") }}
{{- $ca = buildCustomCert (index $data "ca.crt") (index $data "ca.key") }}
{{- else }}
{{- $ca = genCAWithKey "downward-webhook-ca" (int $root.Values.tls.chart.caValidityDays) (genPrivateKey "ecdsa") }}
{{- end }}
{{- $result := dict "ca.crt" $ca.Cert "ca.key" $ca.Key }}
{{- $oldNotAfter := index $annotations "downward.dev/tls-not-after" | default "0" | int64 }}
{{- $keepLeaf := and (index $data "ca.key") (index $data "tls.crt") (index $data "tls.key") }}
{{- $keepLeaf = and $keepLeaf (eq (index $annotations "downward.dev/tls-dns-names" | default "") $dnsKey) }}
{{- $keepLeaf = and $keepLeaf (gt $oldNotAfter (add $now $renewBefore)) }}
{{- if $keepLeaf }}
{{- $_ := set $result "tls.crt" (index $data "tls.crt" | b64dec) }}
{{- $_ := set $result "tls.key" (index $data "tls.key" | b64dec) }}
{{- $_ := set $result "notAfter" (toString $oldNotAfter) }}
{{- else }}
{{- $days := int $root.Values.tls.chart.certValidityDays }}
{{- $leaf := genSignedCertWithKey (first $dnsNames) (list) $dnsNames $days $ca (genPrivateKey "ecdsa") }}
{{- $_ := set $result "tls.crt" $leaf.Cert }}
{{- $_ := set $result "tls.key" $leaf.Key }}
{{- $_ := set $result "notAfter" (toString (add $now (mul $days 86400))) }}
{{- end }}
{{- $_ := set $result "dnsNames" $dnsKey }}
{{- $_ := set $root "downwardWebhookTLS" $result }}
{{- end }}
{{- toJson (get $root "downwardWebhookTLS") }}
{{- end }}

{{/*
downward-webhook.caBundle: the base64 PEM CA the apiserver trusts for this webhook: from the chart-generated
Secret (chart mode) or tls.caBundle (secret mode). Empty in certManager mode (cainjector fills it).
*/}}
{{- define "downward-webhook.caBundle" -}}
{{- if eq .Values.tls.mode "chart" }}
{{- index (include "downward-webhook.tlsData" . | fromJson) "ca.crt" | b64enc }}
{{- else if eq .Values.tls.mode "secret" }}
{{- required "tls.caBundle is required when tls.mode is secret (base64 PEM of the CA that signed tls.secretName)" .Values.tls.caBundle }}
{{- end }}
{{- end }}

{{/*
downward-webhook.tlsChecksum: what the Deployment's checksum/tls annotation hashes, so that a TLS change
made through Helm rolls the pods (renewals made outside Helm are picked up by the server's live reload):
  chart:       the serving certificate itself (changes when a new one is issued on upgrade);
  certManager: the Certificate's spec (renewals happen outside Helm, see docs/operations.md);
  secret:      the Secret's name and tls.caBundle.
*/}}
{{- define "downward-webhook.tlsChecksum" -}}
{{- if eq .Values.tls.mode "chart" }}
{{- index (include "downward-webhook.tlsData" . | fromJson) "tls.crt" | sha256sum }}
{{- else if eq .Values.tls.mode "certManager" }}
{{- include (print $.Template.BasePath "/certificate.yaml") . | sha256sum }}
{{- else }}
{{- printf "%s\n%s" (include "downward-webhook.tlsSecretName" .) .Values.tls.caBundle | sha256sum }}
{{- end }}
{{- end }}

{{/*
downward-webhook.certManagerCertName: the serving Certificate's name; cert-manager.io/inject-ca-from names it.
*/}}
{{- define "downward-webhook.certManagerCertName" -}}
{{- printf "%s-tls" (include "downward-webhook.fullname" .) }}
{{- end }}

{{/*
downward-webhook.webhookService: the clientConfig.service block of a webhook entry; called with
(dict "root" $ "path" "/mutate").
*/}}
{{- define "downward-webhook.webhookService" -}}
service:
  name: {{ include "downward-webhook.serviceName" .root }}
  namespace: {{ include "downward-webhook.namespace" .root }}
  path: {{ .path }}
  port: {{ .root.Values.service.port }}
{{- with include "downward-webhook.caBundle" .root }}
caBundle: {{ . }}
{{- end }}
{{- end }}

{{/*
downward-webhook.validate: cross-field checks the schema cannot express; fails the render with a message
naming the values to change. Included once, from deployment.yaml.
*/}}
{{- define "downward-webhook.validate" -}}
{{- $server := .Values.config.server }}
{{- $timeout := .Values.webhook.timeoutSeconds }}
{{- if and (hasKey $server "requestTimeoutSeconds") (ge (float64 $server.requestTimeoutSeconds) (float64 $timeout)) }}
{{- fail (printf "config.server.requestTimeoutSeconds (%v) must be below webhook.timeoutSeconds (%v): the apiserver gives up on the call first" $server.requestTimeoutSeconds $timeout) }}
{{- end }}
{{- $delay := 0.0 }}
{{- if hasKey $server "shutdownDelaySeconds" }}
{{- $delay = float64 $server.shutdownDelaySeconds }}
{{- end }}
{{- $needed := addf $delay (float64 $timeout) }}
{{- if lt (float64 .Values.terminationGracePeriodSeconds) $needed }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be at least config.server.shutdownDelaySeconds + webhook.timeoutSeconds (%v), or in-flight admission requests are cut off" .Values.terminationGracePeriodSeconds $needed) }}
{{- end }}
{{- if and .Values.tls.clientCA.enabled .Values.serviceMonitor.enabled (not .Values.serviceMonitor.tlsConfig) }}
{{- fail "serviceMonitor.tlsConfig must be set when tls.clientCA.enabled: the server then requires a client certificate signed by that CA on every connection, /metrics included (set tlsConfig.cert and tlsConfig.keySecret)" }}
{{- end }}
{{- end }}
