{{/* Names */}}
{{- define "drift.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "drift.fullname" -}}
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

{{/* "<fullname>-<component>", at most 63 characters. Call with (dict "root" $ "component" "operator"). */}}
{{- define "drift.componentName" -}}
{{- printf "%s-%s" (include "drift.fullname" .root | trunc (int (sub 62 (len .component)))) .component | trimSuffix "-" }}
{{- end }}

{{- define "drift.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels. Call with (dict "root" $ "component" "operator"); component may be empty. */}}
{{- define "drift.labels" -}}
helm.sh/chart: {{ include "drift.chart" .root }}
{{ include "drift.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: drift
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "drift.selectorLabels" -}}
app.kubernetes.io/name: {{ include "drift.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/* The ServiceAccount of a component. */}}
{{- define "drift.serviceAccountName" -}}
{{- $sa := (index .root.Values .component).serviceAccount }}
{{- if $sa.create }}
{{- default (include "drift.componentName" .) $sa.name }}
{{- else }}
{{- default "default" $sa.name }}
{{- end }}
{{- end }}

{{/* repository:tag, or repository@digest. */}}
{{- define "drift.image" -}}
{{- $image := (index .root.Values .component).image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default .root.Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret the chart creates for DRIFT_REDIS_URL when no existingSecret is given. */}}
{{- define "drift.backendsSecretName" -}}
{{- include "drift.componentName" (dict "root" . "component" "backends") }}
{{- end }}

{{/* Environment shared by the operator and the worker (API.md, Operations). Call with the root context. */}}
{{- define "drift.commonEnv" -}}
- name: DRIFT_TEMPORAL_ADDRESS
{{- if .Values.temporal.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.temporal.existingSecret }}
      key: {{ .Values.temporal.addressKey }}
{{- else }}
  value: {{ .Values.temporal.address | quote }}
{{- end }}
- name: DRIFT_TEMPORAL_NAMESPACE
{{- if and .Values.temporal.existingSecret .Values.temporal.namespaceKey }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.temporal.existingSecret }}
      key: {{ .Values.temporal.namespaceKey }}
{{- else }}
  value: {{ .Values.temporal.namespace | quote }}
{{- end }}
- name: DRIFT_TASK_QUEUE
  value: {{ .Values.temporal.taskQueue | quote }}
- name: DRIFT_REDIS_URL
  valueFrom:
    secretKeyRef:
{{- if .Values.redis.existingSecret }}
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.urlKey }}
{{- else }}
      name: {{ include "drift.backendsSecretName" . }}
      key: redis-url
{{- end }}
- name: DRIFT_HBASE_HOST
{{- if .Values.hbase.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.hbase.existingSecret }}
      key: {{ .Values.hbase.hostKey }}
{{- else }}
  value: {{ .Values.hbase.host | quote }}
{{- end }}
- name: DRIFT_HBASE_PORT
{{- if and .Values.hbase.existingSecret .Values.hbase.portKey }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.hbase.existingSecret }}
      key: {{ .Values.hbase.portKey }}
{{- else }}
  value: {{ .Values.hbase.port | quote }}
{{- end }}
- name: DRIFT_TABLE_PREFIX
  value: {{ .Values.hbase.tablePrefix | quote }}
- name: DRIFT_CACHE_MEMORY_ENTRIES
  value: {{ .Values.cache.memoryEntries | quote }}
- name: DRIFT_CACHE_MEMORY_TTL_SECONDS
  value: {{ .Values.cache.memoryTtlSeconds | quote }}
- name: DRIFT_CACHE_REDIS_TTL_SECONDS
  value: {{ .Values.cache.redisTtlSeconds | quote }}
- name: DRIFT_METRICS_PORT
  value: {{ .Values.metrics.port | quote }}
- name: DRIFT_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end }}

{{/* Pod-level settings shared by the Deployments. Call with (dict "root" $ "component" "operator"). */}}
{{- define "drift.podCommon" -}}
{{- $values := index .root.Values .component -}}
serviceAccountName: {{ include "drift.serviceAccountName" . }}
automountServiceAccountToken: true
enableServiceLinks: false
terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with $values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ .root.Values.tmpSizeLimit }}
{{- with $values.extraVolumes }}
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Container-level settings shared by the Deployments (after name, image, env). */}}
{{- define "drift.containerCommon" -}}
{{- $values := index .root.Values .component -}}
{{- with $values.extraEnvFrom }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
ports:
  - name: metrics
    containerPort: {{ .root.Values.metrics.port }}
    protocol: TCP
  {{- if eq .component "events" }}
  - name: receiver
    containerPort: {{ .root.Values.events.port }}
    protocol: TCP
  {{- end }}
startupProbe:
  httpGet:
    path: /healthz
    port: metrics
  {{- toYaml $values.startupProbe | nindent 2 }}
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  {{- toYaml $values.livenessProbe | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  {{- toYaml $values.readinessProbe | nindent 2 }}
resources:
  {{- toYaml $values.resources | nindent 2 }}
securityContext:
  {{- toYaml .root.Values.securityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- with $values.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
