{{/*
The chart name, or nameOverride; at most 63 characters (a DNS label).
*/}}
{{- define "plancton.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the resources: fullnameOverride, else RELEASE-NAME (or RELEASE alone when it
already contains the name); at most 63 characters.
*/}}
{{- define "plancton.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "plancton.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource.
*/}}
{{- define "plancton.labels" -}}
helm.sh/chart: {{ include "plancton.chart" . }}
{{ include "plancton.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: pilot-factory
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels that select the pods; they never change across upgrades.
*/}}
{{- define "plancton.selectorLabels" -}}
app.kubernetes.io/name: {{ include "plancton.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount of the pods.
*/}}
{{- define "plancton.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "plancton.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Plancton image, tagged with the chart's appVersion unless image.tag is set.
*/}}
{{- define "plancton.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The Secret holding the credentials: the user's existingSecret, else the chart's own.
*/}}
{{- define "plancton.secretName" -}}
{{- .Values.credentials.existingSecret | default (include "plancton.fullname" .) }}
{{- end }}

{{/*
The key of the Secret that holds the metrics bearer token: existingSecretKeys.metricsToken in
the site's Secret (optional there), `metrics-token` in the chart's; empty when there is none.
*/}}
{{- define "plancton.metricsTokenKey" -}}
{{- if .Values.credentials.existingSecret }}{{ .Values.credentials.existingSecretKeys.metricsToken }}{{ else if .Values.credentials.metricsToken }}metrics-token{{ end }}
{{- end }}

{{/*
"true" when the chart creates its own Secret (some credential is set and no existingSecret).
*/}}
{{- define "plancton.createSecret" -}}
{{- if and (not .Values.credentials.existingSecret) (or .Values.credentials.influxdbPassword .Values.credentials.influxdbUrl .Values.credentials.metricsToken) }}true{{ end }}
{{- end }}

{{/*
The Docker socket Plancton uses, inside its container: the node's socket mounted at the usual
place, or the sidecar engine's socket in the volume both containers share.
*/}}
{{- define "plancton.dockerSocket" -}}
{{- if eq .Values.engine.mode "dind" }}/run/plancton-dind/docker.sock{{ else }}/var/run/docker.sock{{ end }}
{{- end }}

{{/*
The metrics port: the number at the end of config.metrics_listen (":9100", "0.0.0.0:9100",
"[::]:9100"), or nothing when metrics are off.
*/}}
{{- define "plancton.metricsPort" -}}
{{- with .Values.config.metrics_listen }}{{ regexFind "[0-9]+$" . }}{{ end }}
{{- end }}

{{/*
"true" in dind mode with engine.dind.placement top-level: the sidecar runs its engine through
files/dind-cgroups.sh, which shows it the node's cgroup root.
*/}}
{{- define "plancton.dindTopLevel" -}}
{{- if and (eq .Values.engine.mode "dind") (eq (.Values.engine.dind.placement | default "top-level") "top-level") }}true{{ end }}
{{- end }}

{{/*
Plancton's configuration as config.yaml carries it: the `config` value and, in dind mode with
placement in-pod, unless `config` sets them, dind_idle from engine.dind.idle, and cgroup_parent ""
when that is false (the pilots' parent then lands in the sidecar's cgroup at the engine's default,
and nothing is written there). With engine.dind.idle true, the default cgroup_parent (plancton)
lands inside the sidecar's cgroup, where Plancton finds it and the sidecar's own cgroup above it,
which gets cpu.idle=1. With placement top-level nothing is added: the engine sees the node's root,
and the default cgroup_parent is the node's /plancton, as with a host socket.
*/}}
{{- define "plancton.config" -}}
{{- $config := deepCopy .Values.config }}
{{- if and (eq .Values.engine.mode "dind") (not (include "plancton.dindTopLevel" .)) }}
{{- $idle := .Values.engine.dind.idle }}
{{- if not (hasKey $config "dind_idle") }}
{{- $_ := set $config "dind_idle" $idle }}
{{- end }}
{{- if and (not $idle) (not (hasKey $config "cgroup_parent")) }}
{{- $_ := set $config "cgroup_parent" "" }}
{{- end }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/*
The configuration keys Plancton reads only at start and that a user may set in config: a change
of any of them must restart the pods. (Plancton's other start-only keys, hostname, host_proc,
host_cgroup and docker_socket, are set by the chart itself.)
*/}}
{{- define "plancton.startOnlyConfig" -}}
{{- pick (include "plancton.config" . | fromYaml) "cgroup_parent" "instance_id" "metrics_listen" "io_mechanism" "io_devices" | toJson }}
{{- end }}

{{/*
Checks that values.schema.json cannot express, and the schema's own rules again for
installations that skip schema validation. Renders nothing, or fails with a message.
*/}}
{{- define "plancton.validate" -}}
{{- range $key := list "hostname" "host_proc" "host_cgroup" "docker_socket" }}
{{- if hasKey $.Values.config $key }}
{{- fail (printf "config.%s is set by the chart (node name, /host/proc, /sys/fs/cgroup, engine.mode): remove it from config" $key) }}
{{- end }}
{{- end }}
{{- if hasKey .Values.config "influxdb_password" }}
{{- fail "config.influxdb_password would land in a ConfigMap: use credentials.influxdbPassword or credentials.existingSecret" }}
{{- end }}
{{- if hasKey .Values.config "metrics_token" }}
{{- fail "config.metrics_token would land in a ConfigMap: use credentials.metricsToken or credentials.existingSecret" }}
{{- end }}
{{- range $key := list "registry_auth_file" "registry_username" "registry_password" }}
{{- if hasKey $.Values.config $key }}
{{- fail (printf "config.%s: registry credentials go in a Secret (kubectl create secret docker-registry), named in registryAuth.existingSecret" $key) }}
{{- end }}
{{- end }}
{{- if not (has .Values.engine.mode (list "host-socket" "dind")) }}
{{- fail (printf "engine.mode must be host-socket or dind, not %q" .Values.engine.mode) }}
{{- end }}
{{- if not (has (.Values.engine.dind.placement | default "top-level") (list "top-level" "in-pod")) }}
{{- fail (printf "engine.dind.placement must be top-level or in-pod, not %q" .Values.engine.dind.placement) }}
{{- end }}
{{- if include "plancton.dindTopLevel" . }}
{{- if not .Values.hostCgroup.enabled }}
{{- fail "engine.dind.placement top-level needs hostCgroup.enabled: Plancton keeps the pilots' top-level cgroup idle through it (or set engine.dind.placement in-pod)" }}
{{- end }}
{{- if and (hasKey .Values.config "cgroup_parent") (not .Values.config.cgroup_parent) }}
{{- fail "engine.dind.placement top-level needs a cgroup_parent: with config.cgroup_parent \"\" the sidecar's engine would put the pilots in the node's /docker at normal weight (or set engine.dind.placement in-pod)" }}
{{- end }}
{{- end }}
{{- $stopTimeout := 10 }}
{{- if hasKey .Values.config "stop_timeout" }}
{{- $stopTimeout = .Values.config.stop_timeout }}
{{- end }}
{{- if le (float64 .Values.terminationGracePeriodSeconds) (float64 $stopTimeout) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed config.stop_timeout (%v)" .Values.terminationGracePeriodSeconds $stopTimeout) }}
{{- end }}
{{- if and .Values.metrics.service.enabled (not (include "plancton.metricsPort" .)) }}
{{- fail "metrics.service.enabled needs config.metrics_listen with a port, e.g. \":9100\"" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled" }}
{{- end }}
{{- with .Values.updateStrategy.rollingUpdate }}
{{- if and (hasKey . "maxSurge") (not (has (toString .maxSurge) (list "0" "0%"))) }}
{{- fail "updateStrategy.rollingUpdate.maxSurge must be 0: two Planctons must never drive the same engine at once" }}
{{- end }}
{{- end }}
{{- end }}
