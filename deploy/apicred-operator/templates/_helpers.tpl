{{- define "apicred.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "apicred.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "apicred.selectorLabels" -}}
app.kubernetes.io/name: {{ include "apicred.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "apicred.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "apicred.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "apicred.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "apicred.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "apicred.leaseName" -}}
{{- default (include "apicred.fullname" .) .Values.operator.leaderElection.leaseName -}}
{{- end -}}

{{- define "apicred.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Fails rendering on value combinations the JSON schema cannot express. */}}
{{- define "apicred.validate" -}}
{{- if and (eq .Values.rbac.scope "namespaced") (empty .Values.operator.namespaces) -}}
{{- fail "rbac.scope=namespaced needs operator.namespaces: list the namespaces to watch, or use rbac.scope=cluster to watch all of them" -}}
{{- end -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.operator.leaderElection.enabled) -}}
{{- fail "replicaCount > 1 needs operator.leaderElection.enabled=true: two replicas without a leader would both renew every token" -}}
{{- end -}}
{{- if eq .Values.operator.metricsPort .Values.operator.healthPort -}}
{{- fail "operator.metricsPort and operator.healthPort must differ" -}}
{{- end -}}
{{- end -}}

{{/* The operator's permissions on the objects of the namespaces it watches, derived from the calls in src/. */}}
{{- define "apicred.rules" -}}
# List and watch (informers); patch for the finalizer (src/controller/reconciler.ts).
- apiGroups: [apicred.dev]
  resources: [apicredentials]
  verbs: [list, watch, patch]
- apiGroups: [apicred.dev]
  resources: [apicredentials/status]
  verbs: [patch]
# Secrets owned by an ApiCredential set blockOwnerDeletion, which the OwnerReferencesPermissionEnforcement
# admission plugin allows only to who may update the owner's finalizers.
- apiGroups: [apicred.dev]
  resources: [apicredentials/finalizers]
  verbs: [update]
# Informers; inputs and state read directly; the state Secret is created and replaced; the consumer
# Secret is written by server-side apply.
- apiGroups: ['']
  resources: [secrets]
  verbs: [get, list, watch, create, update, patch]
- apiGroups: ['']
  resources: [configmaps]
  verbs: [get, list, watch]
- apiGroups: ['']
  resources: [events]
  verbs: [create, patch]
{{- if .Values.rbac.rolloutRestart }}
# spec.rolloutRestartTargets: the pod template annotation of the named workloads.
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [get, patch]
{{- end }}
{{- if .Values.rbac.serviceAccountTokens }}
# oauth2 clientAuth service_account_token: TokenRequest for the ServiceAccount a credential names.
- apiGroups: ['']
  resources: [serviceaccounts/token]
  verbs: [create]
{{- end }}
{{- end -}}

{{/* toYaml of a map without its null values: a null set over a key the defaults lack stays out. */}}
{{- define "apicred.toYamlWithoutNulls" -}}
{{- $out := dict -}}
{{- range $key, $value := . -}}
{{- if not (kindIs "invalid" $value) -}}
{{- $_ := set $out $key $value -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}
