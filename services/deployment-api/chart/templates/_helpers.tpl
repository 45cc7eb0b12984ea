{{- define "deployment-api.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "deployment-api.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "deployment-api.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "deployment-api.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "deployment-api.selectorLabels" -}}
app.kubernetes.io/name: {{ include "deployment-api.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "deployment-api.labels" -}}
{{ include "deployment-api.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: api
app.kubernetes.io/part-of: sre-platform
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "deployment-api.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "deployment-api.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "deployment-api.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "deployment-api.serverSecret" -}}
{{- if eq .Values.tls.mode "certManager" -}}
{{- printf "%s-tls" (include "deployment-api.fullname" .) -}}
{{- else -}}
{{- .Values.tls.serverSecret -}}
{{- end -}}
{{- end -}}

{{- define "deployment-api.testClientSecret" -}}
{{- if eq .Values.tls.mode "certManager" -}}
{{- printf "%s-test-client" (include "deployment-api.fullname" .) -}}
{{- else -}}
{{- .Values.tls.testClientSecret -}}
{{- end -}}
{{- end -}}

{{- define "deployment-api.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
