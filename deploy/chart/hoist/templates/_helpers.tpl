{{/* The name of the objects: the release name, with -hoist unless it has it. */}}
{{- define "hoist.fullname" -}}
{{- if contains "hoist" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-hoist" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hoist.labels" -}}
app.kubernetes.io/name: hoist
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "hoist.selectorLabels" -}}
app.kubernetes.io/name: hoist
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{/* One entry per controller: the shards, or "" for a single one. */}}
{{- define "hoist.shards" -}}
{{- if .Values.shards -}}
{{- toJson .Values.shards -}}
{{- else -}}
{{- toJson (list "") -}}
{{- end -}}
{{- end -}}

{{/* The rules of hoist's ClusterRole, or of its Role in each watched namespace. */}}
{{- define "hoist.rules" -}}
- apiGroups: [hoist.dev]
  resources: [imagerepositories, imagepolicies, imageupdateautomations, receivers, gitrepositories]
  verbs: [get, list, watch]
- apiGroups: [hoist.dev]
  resources: [imagerepositories/status, imagepolicies/status, imageupdateautomations/status, receivers/status, gitrepositories/status]
  verbs: [get, patch, update]
- apiGroups: [source.toolkit.fluxcd.io]
  resources: [gitrepositories]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
# serviceAccountName: the ServiceAccounts, watched (their image pull
# secrets and annotations; a pull secret's value is read with the
# secrets rule above when its resourceVersion changes), and a token of
# one for the cloud's workload identity.
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [serviceaccounts/token]
  verbs: [create]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
# Argo CD's Applications (the argocd write-back method patches their spec)
# and Argo CD Image Updater's ImageUpdaters.
- apiGroups: [argoproj.io]
  resources: [applications]
  verbs: [get, list, watch, patch]
- apiGroups: [argocd-image-updater.argoproj.io]
  resources: [imageupdaters]
  verbs: [get, list, watch]
# Flux's notification Providers and Alerts (read, never written), when
# their CustomResourceDefinitions are installed and --events-addr is not set.
- apiGroups: [notification.toolkit.fluxcd.io]
  resources: [providers, alerts]
  verbs: [get, list, watch]
# Argo CD Image Updater's ConfigMap, argocd-image-updater-config (the
# only ConfigMap read, in --argocd-image-updater-namespace).
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
{{- end -}}
