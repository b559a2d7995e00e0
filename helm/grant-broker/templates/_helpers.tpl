{{/* Chart name, truncated to the 63 characters a Kubernetes label value allows. */}}
{{- define "grant-broker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's resources. */}}
{{- define "grant-broker.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "grant-broker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "grant-broker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "grant-broker.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "grant-broker.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "grant-broker.serviceAccountName" -}}
{{- default (include "grant-broker.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "grant-broker.migrationServiceAccountName" -}}
{{- default (printf "%s-migrate" (include "grant-broker.fullname" . | trunc 55 | trimSuffix "-")) .Values.migration.serviceAccount.name }}
{{- end }}

{{- define "grant-broker.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Seconds from the start of termination until the kubelet kills the containers. */}}
{{- define "grant-broker.terminationGracePeriodSeconds" -}}
{{- $shutdown := .Values.shutdown }}
{{- add $shutdown.preStopSleepSeconds $shutdown.drainSeconds $shutdown.marginSeconds }}
{{- end }}

{{/*
The app's settings as GRANT_BROKER_* variables, one source for the ConfigMap and the migration
Job (a pre-install hook runs before the ConfigMap exists). Empty values are left out, so the
app's own defaults apply.
*/}}
{{- define "grant-broker.settings" -}}
{{- $config := .Values.config }}
{{- $settings := dict
  "GRANT_BROKER_ENV" $config.env
  "GRANT_BROKER_AUTH_MODE" $config.authMode
  "GRANT_BROKER_DATABASE_URL" $config.databaseUrl
  "GRANT_BROKER_DATABASE_POOL_SIZE" (toString $config.databasePoolSize)
  "GRANT_BROKER_NYLAS_REGION" $config.nylasRegion
  "GRANT_BROKER_NYLAS_API_URL" $config.nylasApiUrl
  "GRANT_BROKER_NYLAS_API_KEY_SECRET" $config.nylasApiKeySecret
  "GRANT_BROKER_NYLAS_WEBHOOK_SECRET_SECRET" $config.nylasWebhookSecretSecret
  "GRANT_BROKER_CALLER_TOKENS_SECRET" $config.callerTokensSecret
  "GRANT_BROKER_LOG_LEVEL" $config.logLevel
}}
{{- if .Values.callers }}
{{- $_ := set $settings "GRANT_BROKER_CALLERS" (toJson .Values.callers) }}
{{- end }}
{{- range $name, $value := $config.extraEnv }}
{{- $_ := set $settings (printf "GRANT_BROKER_%s" $name) (toString $value) }}
{{- end }}
{{- range $name, $value := $settings }}
{{- if $value }}
{{ $name }}: {{ $value | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* The restricted security context of every container in the chart. */}}
{{- define "grant-broker.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "grant-broker.podSecurityContext" -}}
runAsNonRoot: true
# The image's user, fixed here so that runAsNonRoot can be checked without reading the image.
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}
