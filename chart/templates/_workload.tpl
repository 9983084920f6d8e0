{{/*
The objects every application workload (server, consumer, client) has besides its Deployment.
Each takes (dict "ctx" $ "component" "server" …) and reads that component's values from
.Values.<component>; each renders one whole document without the "---" before it.
*/}}

{{/* ServiceAccount: its own per workload, never a token (none of them calls the Kubernetes API). */}}
{{- define "livevote.workload.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "livevote.fullname" .ctx }}-{{ .component }}
  namespace: {{ include "livevote.componentNs" . }}
  labels:
    {{- include "livevote.labels" . | nindent 4 }}
automountServiceAccountToken: false
{{- end -}}

{{/* ClusterIP Service on the container port named "http": (dict "ctx" $ "component" "server" "port" 3000).
     Optional "metricsPort": a second port, named "metrics", on the container port of that name. */}}
{{- define "livevote.workload.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "livevote.fullname" .ctx }}-{{ .component }}
  namespace: {{ include "livevote.componentNs" . }}
  labels:
    {{- include "livevote.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "livevote.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .port }}
      targetPort: http
      protocol: TCP
      appProtocol: http
    {{- with .metricsPort }}
    - name: metrics
      port: {{ . }}
      targetPort: metrics
      protocol: TCP
      appProtocol: http
    {{- end }}
{{- end -}}

{{/* HorizontalPodAutoscaler on CPU, rendered only when .Values.<component>.autoscaling.enabled.
     Optional "behavior": a YAML string for spec.behavior. Starts with its own "---". */}}
{{- define "livevote.workload.hpa" -}}
{{- $a := (index .ctx.Values .component).autoscaling -}}
{{- if $a.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "livevote.fullname" .ctx }}-{{ .component }}
  namespace: {{ include "livevote.componentNs" . }}
  labels:
    {{- include "livevote.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "livevote.fullname" .ctx }}-{{ .component }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $a.targetCPUUtilizationPercentage }}
  {{- with .behavior }}
  behavior:
    {{- . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* PodDisruptionBudget: .Values.<component>.pdb.maxUnavailable of the component's pods. */}}
{{- define "livevote.workload.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "livevote.fullname" .ctx }}-{{ .component }}
  namespace: {{ include "livevote.componentNs" . }}
  labels:
    {{- include "livevote.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ (index .ctx.Values .component).pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "livevote.selectorLabels" . | nindent 6 }}
{{- end -}}
