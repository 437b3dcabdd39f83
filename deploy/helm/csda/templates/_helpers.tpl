{{/* Chart name. */}}
{{- define "csda.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified prefix for every object name (the release name alone when it contains the chart name). */}}
{{- define "csda.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Object name of one service's Deployment/Service/ServiceAccount/PDB. Args: root, name. */}}
{{- define "csda.serviceName" -}}
{{- printf "%s-%s" (include "csda.fullname" .root) .name -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "csda.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "csda.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: csda
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels selecting every pod of the release (NetworkPolicies). */}}
{{- define "csda.selectorLabels" -}}
app.kubernetes.io/name: {{ include "csda.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Labels selecting one kind of pod. Args: root, component (service name),
workload (server | migrate | bootstrap | cronjob). Services and PDBs select
workload=server so one-shot pods never receive traffic.
*/}}
{{- define "csda.componentSelector" -}}
{{ include "csda.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
csda.io/workload: {{ .workload }}
{{- end -}}

{{/* Full label set of a workload and its pod template. Args: root, component, workload. */}}
{{- define "csda.componentLabels" -}}
{{ include "csda.labels" .root }}
app.kubernetes.io/component: {{ .component }}
csda.io/workload: {{ .workload }}
{{- end -}}

{{/* Container image reference. */}}
{{- define "csda.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* <SERVICE>_URL for a called service, e.g. tool-runner -> TOOL_RUNNER_URL. */}}
{{- define "csda.urlEnvName" -}}
{{- printf "%s_URL" (. | upper | replace "-" "_") -}}
{{- end -}}

{{/*
NATS_URL, NATS_NAMESPACE and, with nats.users.existingSecret, the NATS user of
`user` (a service, or "provisioner"): NATS_USER = [<namespace>_]<user>,
NATS_PASSWORD from key <user> of that Secret (libs/service-kit/src/nats-permissions.ts).
Args: root, user.
*/}}
{{- define "csda.natsEnv" -}}
{{- $v := .root.Values -}}
{{- if $v.nats.existingSecret }}
- name: NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.nats.existingSecret }}
      key: {{ $v.nats.secretKey }}
{{- else }}
- name: NATS_URL
  value: {{ $v.nats.url | quote }}
{{- end }}
{{- if $v.nats.namespace }}
- name: NATS_NAMESPACE
  value: {{ $v.nats.namespace | quote }}
{{- end }}
{{- if $v.nats.users.existingSecret }}
- name: NATS_USER
  value: {{ ternary (printf "%s_%s" $v.nats.namespace .user) .user (ne $v.nats.namespace "") | quote }}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.nats.users.existingSecret }}
      key: {{ .user }}
{{- end }}
{{- end -}}

{{/*
A service's database URL (its own PostgreSQL role) as env var `envName`, from
services.<name>.database.existingSecret/secretKey, else the shared
database.existingSecret of older releases, else the Secret
<database.secretPrefix><name> (csda-db-vault, …); key database.secretKey.
Args: root, name, svc, envName.
*/}}
{{- define "csda.databaseUrlEnv" -}}
{{- $v := .root.Values -}}
{{- $own := default dict .svc.database -}}
- name: {{ .envName }}
  valueFrom:
    secretKeyRef:
      name: {{ $own.existingSecret | default $v.database.existingSecret | default (printf "%s%s" $v.database.secretPrefix .name) }}
      key: {{ $own.secretKey | default $v.database.secretKey }}
{{- end -}}

{{/*
Environment of one service's container (server, migration, one-shot alike,
so configuration validation at start sees the same settings). Args: root, name, svc.
Every container verifies internal identity tokens (INTERNAL_VERIFY_KEYS, the
public keys of every signing service); only services that call others on
their own behalf (internalIdentity.signers) get their own private
INTERNAL_SIGNING_KEY, each from its own key of the Secret.
*/}}
{{- define "csda.env" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $svc := .svc -}}
- name: NODE_ENV
  value: production
- name: LOG_LEVEL
  value: {{ default $v.logLevel $svc.logLevel | quote }}
- name: HOST
  value: 0.0.0.0
- name: RPC_PORT
  value: {{ $v.ports.rpc | quote }}
{{- if $svc.rest }}
- name: GATEWAY_PORT
  value: {{ $v.ports.http | quote }}
- name: TRUST_PROXY
  value: {{ $v.gateway.trustProxy | quote }}
{{- end }}
- name: OPS_PORT
  value: {{ $v.ports.ops | quote }}
{{- include "csda.databaseUrlEnv" (dict "root" $root "name" .name "svc" $svc "envName" "DATABASE_URL") | nindent 0 }}
{{- include "csda.natsEnv" (dict "root" $root "user" .name) }}
{{- if $svc.redis }}
{{- if $v.redis.existingSecret }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.redis.existingSecret }}
      key: {{ $v.redis.secretKey }}
{{- else }}
- name: REDIS_URL
  value: {{ $v.redis.url | quote }}
{{- end }}
{{- end }}
{{- if $v.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $v.otel.endpoint | quote }}
{{- end }}
- name: OTEL_SERVICE_NAME
  value: {{ printf "csda-%s" .name }}
{{- range $envName := list "INTERNAL_VERIFY_KEYS" "INTERNAL_SIGNING_KEY" }}
{{- if hasKey (default dict $svc.secretEnv) $envName }}
{{- fail (printf "services.%s.secretEnv.%s is not allowed: INTERNAL_VERIFY_KEYS and INTERNAL_SIGNING_KEY come from internalIdentity.existingSecret (keys internalIdentity.verifyKeysKey, internalIdentity.signingKeyPrefix<service>); remove it from secretEnv" $.name $envName) }}
{{- end }}
{{- end }}
- name: INTERNAL_VERIFY_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ $v.internalIdentity.existingSecret }}
      key: {{ $v.internalIdentity.verifyKeysKey }}
{{- if has .name $v.internalIdentity.signers }}
- name: INTERNAL_SIGNING_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $v.internalIdentity.existingSecret }}
      key: {{ printf "%s%s" $v.internalIdentity.signingKeyPrefix .name }}
{{- end }}
{{- range $target := $svc.calls }}
- name: {{ include "csda.urlEnvName" $target }}
  value: {{ printf "http://%s:%v" (include "csda.serviceName" (dict "root" $root "name" $target)) $v.ports.rpc }}
{{- end }}
{{- range $envName, $key := $svc.secretEnv }}
- name: {{ $envName }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "services.%s.existingSecret is required when secretEnv is set" $.name) $svc.existingSecret }}
      key: {{ $key }}
{{- end }}
{{- with $svc.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pod-level security context (Pod Security "restricted"). */}}
{{- define "csda.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security context (Pod Security "restricted"). */}}
{{- define "csda.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Writable /tmp on a read-only root filesystem. */}}
{{- define "csda.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end -}}

{{- define "csda.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Scheduling settings shared by every pod (YAML mapping, or empty). */}}
{{- define "csda.scheduling" -}}
{{- $s := dict -}}
{{- range $key := list "nodeSelector" "tolerations" "affinity" "priorityClassName" "imagePullSecrets" -}}
{{- with index $.Values $key }}{{ $_ := set $s $key . }}{{ end -}}
{{- end -}}
{{- if $s }}{{ toYaml $s }}{{ end -}}
{{- end -}}

{{/*
Pod spec of a one-shot (migration, bootstrap, CronJob run).
Args: root, name (service), svc, args (list), resources, serviceAccount (optional).
*/}}
{{- define "csda.oneShotPodSpec" -}}
restartPolicy: Never
{{- if .serviceAccount }}
serviceAccountName: {{ .serviceAccount }}
{{- end }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- include "csda.podSecurityContext" . | nindent 2 }}
{{- with include "csda.scheduling" .root }}
{{ . }}
{{- end }}
containers:
  - name: app
    image: {{ include "csda.image" .root }}
    imagePullPolicy: {{ .root.Values.image.pullPolicy }}
    args:
      {{- toYaml (concat (list "node" (printf "apps/%s/src/main.ts" .name)) .args) | nindent 6 }}
    env:
      {{- include "csda.env" . | nindent 6 }}
    resources:
      {{- toYaml .resources | nindent 6 }}
    securityContext:
      {{- include "csda.containerSecurityContext" . | nindent 6 }}
    volumeMounts:
      {{- include "csda.tmpVolumeMount" . | nindent 6 }}
volumes:
  {{- include "csda.tmpVolume" .root | nindent 2 }}
{{- end -}}
