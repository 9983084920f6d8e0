{{/* Names */}}
{{- define "livevote.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "livevote.fullname" -}}
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

{{/* Namespace of a layer: (dict "ctx" $ "layer" "api") */}}
{{- define "livevote.ns" -}}
{{- $ctx := .ctx -}}
{{- if $ctx.Values.namespaces.single -}}
{{- $ctx.Release.Namespace -}}
{{- else -}}
{{- $name := index $ctx.Values.namespaces .layer -}}
{{- default (printf "%s-%s" (include "livevote.fullname" $ctx) .layer) $name -}}
{{- end -}}
{{- end -}}

{{/* The layer each component runs in. */}}
{{- define "livevote.layerOf" -}}
{{- $layers := dict "client" "frontend" "test" "frontend" "server" "api" "consumer" "consumer" "migrations" "consumer" "redis" "data" "postgresql" "data" -}}
{{- index $layers . -}}
{{- end -}}

{{/* Namespace of a component: (dict "ctx" $ "component" "server") */}}
{{- define "livevote.componentNs" -}}
{{- include "livevote.ns" (dict "ctx" .ctx "layer" (include "livevote.layerOf" .component)) -}}
{{- end -}}

{{/* Labels */}}
{{- define "livevote.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "livevote.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: livevote
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "server").
     The component label is in every selector so no two workloads ever select each other's pods. */}}
{{- define "livevote.selectorLabels" -}}
app.kubernetes.io/name: {{ include "livevote.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "livevote.labels" -}}
{{ include "livevote.commonLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels that every pod of this release carries (used by the single-namespace default deny). */}}
{{- define "livevote.releasePodLabels" -}}
app.kubernetes.io/name: {{ include "livevote.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Image reference: (dict "ctx" $ "image" .Values.server.image) */}}
{{- define "livevote.image" -}}
{{- $tag := default .ctx.Chart.AppVersion .image.tag -}}
{{- if .image.digest -}}
{{- printf "%s:%s@%s" .image.repository $tag .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Pod-level security context meeting the "restricted" Pod Security Standard. */}}
{{- define "livevote.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security context: restricted, plus a read-only root filesystem. */}}
{{- define "livevote.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The distroless images run as "nonroot" (65532). */}}
{{- define "livevote.appUid" -}}65532{{- end -}}

{{/* Topology spread over nodes and zones; ScheduleAnyway so a small cluster still schedules. */}}
{{- define "livevote.topologySpread" -}}
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "livevote.selectorLabels" . | nindent 6 }}
  matchLabelKeys: [pod-template-hash]
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "livevote.selectorLabels" . | nindent 6 }}
  matchLabelKeys: [pod-template-hash]
{{- end -}}

{{/* Service host names */}}
{{- define "livevote.serverHost" -}}
{{- printf "%s-server.%s.svc" (include "livevote.fullname" .) (include "livevote.componentNs" (dict "ctx" . "component" "server")) -}}
{{- end -}}
{{- define "livevote.redisHost" -}}
{{- printf "%s-redis.%s.svc" (include "livevote.fullname" .) (include "livevote.componentNs" (dict "ctx" . "component" "redis")) -}}
{{- end -}}
{{- define "livevote.postgresqlHost" -}}
{{- printf "%s-postgresql.%s.svc" (include "livevote.fullname" .) (include "livevote.componentNs" (dict "ctx" . "component" "postgresql")) -}}
{{- end -}}

{{- define "livevote.credentialsSecretName" -}}
{{- default (printf "%s-credentials" (include "livevote.fullname" .)) .Values.credentials.existingSecret -}}
{{- end -}}

{{/*
Generated passwords, as YAML. Made once per render (memoised in .Values, because every
`include` would otherwise draw new random values) and read back from the live Secret on
upgrade, so they stay what the running Redis and PostgreSQL were initialised with.
*/}}
{{- define "livevote.generatedPasswords" -}}
{{- if not (hasKey .Values "livevoteGeneratedPasswords") -}}
{{- /* The host's token (HOST_TOKEN, 32 characters) is generated whatever the data stores are. */ -}}
{{- $keys := list "host-token" -}}
{{- if .Values.redis.enabled -}}
{{- $keys = concat $keys (list "redis-server-password" "redis-consumer-password" "redis-probe-password" "redis-admin-password" "redis-scaler-password") -}}
{{- end -}}
{{- if .Values.postgresql.enabled -}}
{{- $keys = concat $keys (list "postgres-superuser-password" "postgres-migrator-password" "postgres-server-password" "postgres-consumer-password") -}}
{{- end -}}
{{- $live := lookup "v1" "Secret" (include "livevote.ns" (dict "ctx" . "layer" "data")) (printf "%s-credentials" (include "livevote.fullname" .)) -}}
{{- $old := dict -}}
{{- if and $live $live.data -}}{{- $old = $live.data -}}{{- end -}}
{{- $out := dict -}}
{{- range $keys -}}
{{- if hasKey $old . -}}
{{- $_ := set $out . (index $old . | b64dec) -}}
{{- else -}}
{{- $_ := set $out . (randAlphaNum 32) -}}
{{- end -}}
{{- end -}}
{{- $_ := set .Values "livevoteGeneratedPasswords" $out -}}
{{- end -}}
{{- toYaml (index .Values "livevoteGeneratedPasswords") -}}
{{- end -}}

{{/* An env var read from the credentials Secret: (dict "ctx" $ "name" "REDIS_PASSWORD" "key" "redis-server-password") */}}
{{- define "livevote.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "livevote.credentialsSecretName" .ctx }}
      key: {{ .key }}
{{- end -}}

{{/* REDIS_URL for a service user: (dict "ctx" $ "user" "server") */}}
{{- define "livevote.redisUrlEnv" -}}
{{- $r := .ctx.Values.redis -}}
{{- if $r.enabled -}}
{{ include "livevote.secretEnv" (dict "ctx" .ctx "name" "REDIS_PASSWORD" "key" (printf "redis-%s-password" .user)) }}
- name: REDIS_URL
  value: {{ printf "redis://%s:$(REDIS_PASSWORD)@%s:6379/0" .user (include "livevote.redisHost" .ctx) | quote }}
{{- else if eq $r.external.mode "standalone" -}}
{{ include "livevote.secretEnv" (dict "ctx" .ctx "name" "REDIS_URL" "key" (printf "redis-%s-url" .user)) }}
{{- else -}}
{{ include "livevote.secretEnv" (dict "ctx" .ctx "name" "REDIS_PASSWORD" "key" (printf "redis-%s-password" .user)) }}
- name: REDIS_USERNAME
  value: {{ .user | quote }}
{{- if eq $r.external.mode "sentinel" }}
- name: REDIS_SENTINELS
  value: {{ join "," $r.external.sentinels | quote }}
- name: REDIS_SENTINEL_NAME
  value: {{ $r.external.sentinelName | quote }}
{{- with $r.external.sentinelUsername }}
- name: REDIS_SENTINEL_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- /* Optional: set only where the Secret has the key (sentinelPassword, or an existingSecret's). */}}
- name: REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "livevote.credentialsSecretName" .ctx }}
      key: redis-sentinel-password
      optional: true
{{- else }}
- name: REDIS_CLUSTER_NODES
  value: {{ join "," $r.external.clusterNodes | quote }}
{{- end }}
{{- end }}
{{- if and (not $r.enabled) $r.external.caSecret }}
- name: REDIS_CA_FILE
  value: /etc/livevote/redis-ca/ca.crt
{{- end }}
{{- if $r.streamShards }}
- name: STREAM_SHARDS
  value: {{ $r.streamShards | quote }}
{{- end }}
{{- end -}}

{{/* The CA Secrets of an external Redis and PostgreSQL, as volumes and mounts of the server and consumer. */}}
{{- define "livevote.caVolumes" -}}
{{- if and (not .Values.redis.enabled) .Values.redis.external.caSecret }}
- name: redis-ca
  secret:
    secretName: {{ .Values.redis.external.caSecret }}
    items: [{key: ca.crt, path: ca.crt}]
{{- end }}
{{- if and (not .Values.postgresql.enabled) .Values.postgresql.external.caSecret }}
- name: postgres-ca
  secret:
    secretName: {{ .Values.postgresql.external.caSecret }}
    items: [{key: ca.crt, path: ca.crt}]
{{- end }}
{{- end -}}
{{- define "livevote.caMounts" -}}
{{- if and (not .Values.redis.enabled) .Values.redis.external.caSecret }}
- name: redis-ca
  mountPath: /etc/livevote/redis-ca
  readOnly: true
{{- end }}
{{- if and (not .Values.postgresql.enabled) .Values.postgresql.external.caSecret }}
- name: postgres-ca
  mountPath: /etc/livevote/postgres-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* DATABASE_URL for a role: (dict "ctx" $ "role" "server") */}}
{{- define "livevote.databaseUrlEnv" -}}
{{- if .ctx.Values.postgresql.enabled -}}
{{ include "livevote.secretEnv" (dict "ctx" .ctx "name" "DATABASE_PASSWORD" "key" (printf "postgres-%s-password" .role)) }}
- name: DATABASE_URL
  value: {{ printf "postgres://livevote_%s:$(DATABASE_PASSWORD)@%s:5432/livevote" .role (include "livevote.postgresqlHost" .ctx) | quote }}
{{- else -}}
{{ include "livevote.secretEnv" (dict "ctx" .ctx "name" "DATABASE_URL" "key" (printf "database-%s-url" .role)) }}
{{- end -}}
{{- end -}}

{{/* Peers allowed to reach the client and the server from outside (Gateway / Ingress controller). */}}
{{- define "livevote.edgePeers" -}}
{{- if .Values.networkPolicy.ingressFrom -}}
{{- toYaml .Values.networkPolicy.ingressFrom -}}
{{- else if and .Values.gateway.enabled .Values.httpRoute.enabled -}}
- namespaceSelector: {}
  podSelector:
    matchLabels:
      gateway.networking.k8s.io/gateway-name: {{ include "livevote.fullname" . }}
{{- else -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: ingress-nginx
{{- end -}}
{{- end -}}

{{/* Peer selecting one component's pods, from any namespace: (dict "ctx" $ "component" "server") */}}
{{- define "livevote.componentPeer" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ include "livevote.componentNs" . }}
  podSelector:
    matchLabels:
      {{- include "livevote.selectorLabels" . | nindent 6 }}
{{- end -}}

{{- define "livevote.gatewayNs" -}}
{{- default .Release.Namespace .Values.gateway.namespace -}}
{{- end -}}

{{/* Egress rules towards the data stores, bundled or external (any address, that port only). */}}
{{- define "livevote.dataEgress" -}}
{{- $ctx := .ctx -}}
{{- if .redis }}
- ports: [{protocol: TCP, port: {{ ternary 6379 $ctx.Values.redis.external.port $ctx.Values.redis.enabled }}}]
  {{- if $ctx.Values.redis.enabled }}
  to:
    {{- include "livevote.componentPeer" (dict "ctx" $ctx "component" "redis") | nindent 4 }}
  {{- end }}
{{- if and (not $ctx.Values.redis.enabled) (eq $ctx.Values.redis.external.mode "sentinel") }}
- ports: [{protocol: TCP, port: {{ $ctx.Values.redis.external.sentinelPort }}}]
{{- end }}
{{- end }}
- ports: [{protocol: TCP, port: {{ ternary 5432 $ctx.Values.postgresql.external.port $ctx.Values.postgresql.enabled }}}]
  {{- if $ctx.Values.postgresql.enabled }}
  to:
    {{- include "livevote.componentPeer" (dict "ctx" $ctx "component" "postgresql") | nindent 4 }}
  {{- end }}
{{- end }}

{{/* The server's ops port (OPS_PORT): its /metrics, kept off the public port 3000 because the
     metrics count votes per option even while a round's results are hidden. */}}
{{- define "livevote.server.opsPort" -}}9464{{- end -}}

{{/* Monitoring: the Service port a component's metrics are scraped on: the server's own
     "metrics" port; the consumer's only port, "http", is all operations anyway. */}}
{{- define "livevote.metricsPortName" -}}
{{- if eq .component "server" }}metrics{{ else }}http{{ end -}}
{{- end -}}

{{/* Monitoring: the Prometheus pods allowed to scrape /metrics, as one NetworkPolicy peer. */}}
{{- define "livevote.prometheusPeers" -}}
- namespaceSelector:
    {{- toYaml .Values.monitoring.prometheus.namespaceSelector | nindent 4 }}
  podSelector:
    {{- toYaml .Values.monitoring.prometheus.podSelector | nindent 4 }}
{{- end -}}

{{/* Monitoring: the Prometheus "job" label of a component's targets. The Prometheus Operator names
     a ServiceMonitor's job after the Service it scrapes (no jobLabel is set), and the Service is
     "<fullname>-<component>". (dict "ctx" $ "component" "consumer") */}}
{{- define "livevote.scrapeJob" -}}
{{- printf "%s-%s" (include "livevote.fullname" .ctx) .component -}}
{{- end -}}

{{/* Monitoring: PromQL label matchers for one component's targets. (dict "ctx" $ "component" "consumer") */}}
{{- define "livevote.scrapeMatchers" -}}
{{- printf "job=%q, namespace=%q" (include "livevote.scrapeJob" .) (include "livevote.componentNs" .) -}}
{{- end -}}

{{/* Monitoring: runbook link of an alert: (dict "ctx" $ "alert" "LiveVoteNoConsumer") */}}
{{- define "livevote.runbookUrl" -}}
{{- printf "%s#%s" .ctx.Values.monitoring.prometheusRule.runbookBase (lower .alert) -}}
{{- end -}}

{{/* Redis ACL: the users of files/redis-acl.json (the one source, shared with the launcher's local
     stack), checked the way launcher/src/least-privilege.ts checks them: a field this chart does not
     render fails the render instead of being dropped. Returns the users as JSON: {"users": [...]}. */}}
{{- define "livevote.redisAclUsers" -}}
{{- $acl := .Files.Get "files/redis-acl.json" | fromJson -}}
{{- if or (hasKey $acl "Error") (not (kindIs "slice" $acl.users)) -}}
{{- fail (printf "chart/files/redis-acl.json: not a JSON object with a \"users\" list (%v)" (get $acl "Error")) -}}
{{- end -}}
{{- range $u := $acl.users -}}
{{- with without (keys $u) "$comment" "name" "enabled" "commands" "keys" "channels" "selectors" -}}
{{- fail (printf "chart/files/redis-acl.json: user %v: unknown field(s) %v" $u.name (sortAlpha .)) -}}
{{- end -}}
{{- include "livevote.redisAclCheckKeys" (dict "keys" $u.keys "where" (printf "user %v" $u.name)) -}}
{{- range $i, $s := $u.selectors | default list -}}
{{- $where := printf "user %v: selector %d" $u.name (add1 $i) -}}
{{- with without (keys $s) "$comment" "keys" "commands" -}}
{{- fail (printf "chart/files/redis-acl.json: %s: unknown field(s) %v" $where (sortAlpha .)) -}}
{{- end -}}
{{- if or (empty $s.keys) (empty $s.commands) -}}
{{- fail (printf "chart/files/redis-acl.json: %s: needs \"keys\" and \"commands\"" $where) -}}
{{- end -}}
{{- include "livevote.redisAclCheckKeys" (dict "keys" $s.keys "where" $where) -}}
{{- end -}}
{{- end -}}
{{- dict "users" $acl.users | toJson -}}
{{- end -}}

{{/* Fails on a key of files/redis-acl.json this chart cannot render: (dict "keys" <list> "where" "user x") */}}
{{- define "livevote.redisAclCheckKeys" -}}
{{- $where := .where -}}
{{- range $k := .keys | default list -}}
{{- with without (keys $k) "pattern" "access" -}}
{{- fail (printf "chart/files/redis-acl.json: %s: key %v: unknown field(s) %v" $where $k.pattern (sortAlpha .)) -}}
{{- end -}}
{{- if not (and (kindIs "string" $k.pattern) $k.pattern) -}}
{{- fail (printf "chart/files/redis-acl.json: %s: a key without a \"pattern\"" $where) -}}
{{- end -}}
{{- if and (hasKey $k "access") (not (has $k.access (list "R" "W" "RW"))) -}}
{{- fail (printf "chart/files/redis-acl.json: %s: key %v: \"access\" must be \"R\", \"W\" or \"RW\"" $where $k.pattern) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* One key pattern of files/redis-acl.json as an ACL rule, ~p, %R~p or %W~p: (dict "key" <key> "prefix" <prefix>) */}}
{{- define "livevote.redisAclKey" -}}
{{- if has .key.access (list "R" "W") }}%{{ .key.access }}{{ end }}~{{ replace "{prefix}" .prefix .key.pattern -}}
{{- end -}}

{{/* The rules of one Redis ACL user after its name, state and password: root commands, keys and
     channels, then one (selector) each: (dict "user" <a user of files/redis-acl.json> "prefix" .Values.redisPrefix).
     The same text as redisAclRules in launcher/src/least-privilege.ts. */}}
{{- define "livevote.redisAclRules" -}}
{{- $p := .prefix -}}
{{- $out := list "resetkeys" "resetchannels" "clearselectors" "-@all" -}}
{{- range .user.commands | default list }}{{ $out = append $out (printf "+%s" .) }}{{ end -}}
{{- range .user.keys | default list }}{{ $out = append $out (include "livevote.redisAclKey" (dict "key" . "prefix" $p)) }}{{ end -}}
{{- range .user.channels | default list }}{{ $out = append $out (printf "&%s" (replace "{prefix}" $p .)) }}{{ end -}}
{{- range $s := .user.selectors | default list -}}
{{- $sel := list -}}
{{- range $s.keys }}{{ $sel = append $sel (include "livevote.redisAclKey" (dict "key" . "prefix" $p)) }}{{ end -}}
{{- range $s.commands }}{{ $sel = append $sel (printf "+%s" .) }}{{ end -}}
{{- $out = append $out (printf "(%s)" (join " " $sel)) -}}
{{- end -}}
{{- join " " $out -}}
{{- end -}}

{{/* Whether a user of files/redis-acl.json may log in ("enabled" defaults to true): "true" or "". */}}
{{- define "livevote.redisAclEnabled" -}}
{{- if or (not (hasKey . "enabled")) .enabled }}true{{ end -}}
{{- end -}}
