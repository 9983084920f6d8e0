#!/usr/bin/env bash
# Builds the project's checking tools from their Go modules into the git-ignored .tools/bin:
#   helm            v3.22.0  (lint, template)
#   kubectl-validate         (offline validation against the Kubernetes OpenAPI schemas it embeds)
#   Gateway API CRDs         (for kubectl-validate: the Gateway, HTTPRoute and ReferenceGrant schemas)
#   Prometheus Operator CRDs (for kubectl-validate: ServiceMonitor and PrometheusRule, chart monitoring)
#   KEDA CRDs                (for kubectl-validate: ScaledObject and TriggerAuthentication, consumer autoscaling)
# Idempotent: a tool already built at the wanted version is kept. Needs Go and the Go module proxy;
# no other download happens (kubeconform would need its schemas from the internet, which CI lacks).
# Usage: bash tools/install-helm.sh [--no-validate]
set -euo pipefail

HELM_VERSION=v3.22.0
# The latest tag of kubectl-validate (its schemas go up to the Kubernetes release it was cut with).
KUBECTL_VALIDATE_VERSION=${KUBECTL_VALIDATE_VERSION:-v0.0.4}
# Gateway API release whose standard-channel CRDs the manifests are validated against.
GATEWAY_API_VERSION=v1.3.0
# Prometheus Operator release whose ServiceMonitor and PrometheusRule CRDs the monitoring objects are validated against.
PROMETHEUS_OPERATOR_VERSION=v0.85.0
# KEDA release whose ScaledObject and TriggerAuthentication CRDs the keda autoscaling mode is validated against.
KEDA_VERSION=v2.21.0

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.tools/bin"
mkdir -p "$bin"

if ! command -v go >/dev/null 2>&1; then
  echo "install-helm: Go is needed to build helm (https://go.dev/doc/install)" >&2
  exit 1
fi

# The module version recorded in a binary built with `go install`.
module_version() { # <binary> <module path>
  [ -x "$1" ] || return 0
  go version -m "$1" 2>/dev/null | awk -v m="$2" '$1 == "mod" && $2 == m { print $3 }'
}

if [ -x "$bin/helm" ] && "$bin/helm" version --short 2>/dev/null | grep -Eq "^${HELM_VERSION//./\\.}(\+|$)"; then
  echo "install-helm: helm $HELM_VERSION already in .tools/bin"
else
  echo "install-helm: building helm $HELM_VERSION (a few minutes on 2 cores)"
  # Stamp what Helm's own Makefile stamps: its version, and the Kubernetes version that
  # `helm template` and `helm lint` assume (client-go v0.N.x is Kubernetes 1.N). Without it a
  # `go install` build assumes Kubernetes 1.20 and rejects the chart's kubeVersion.
  gomod=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | awk -F'"' '$2 == "GoMod" { print $4 }')
  k8s_minor=$(awk '$1 == "k8s.io/client-go" { split($2, v, "."); print v[2] }' "$gomod")
  if [ -z "$k8s_minor" ]; then
    echo "install-helm: cannot read the client-go version from $gomod" >&2
    exit 1
  fi
  ldflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ldflags="$ldflags -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
  done
  GOBIN="$bin" GOFLAGS=-buildvcs=false go install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi
"$bin/helm" version --short

if [ "${1:-}" = "--no-validate" ]; then exit 0; fi

if [ "$(module_version "$bin/kubectl-validate" sigs.k8s.io/kubectl-validate)" = "$KUBECTL_VALIDATE_VERSION" ]; then
  echo "install-helm: kubectl-validate $KUBECTL_VALIDATE_VERSION already in .tools/bin"
else
  echo "install-helm: building kubectl-validate $KUBECTL_VALIDATE_VERSION"
  GOBIN="$bin" GOFLAGS=-buildvcs=false go install "sigs.k8s.io/kubectl-validate@$KUBECTL_VALIDATE_VERSION"
fi

# CRDs that ship inside a project's Go module, copied into .tools/crds/<folder> so kubectl-validate
# can check the objects of those kinds too.
copy_crds() { # <what> <folder> <module@version> <a file it must hold> <pattern inside the module>...
  local what=$1 folder=$2 module=$3 marker=$4 crds="$root/.tools/crds/$2" dir pattern
  shift 4
  if [ -f "$crds/$marker" ]; then
    echo "install-helm: $what CRDs already in .tools/crds/$folder"
    return
  fi
  dir=$(go mod download -json "$module" | awk -F'"' '$2 == "Dir" { print $4 }')
  mkdir -p "$crds"
  # shellcheck disable=SC2086 # the patterns are globs
  for pattern in "$@"; do cp "$dir"/$pattern "$crds/"; done
  chmod u+w "$crds"/*.yaml
  echo "install-helm: $what CRDs copied to .tools/crds/$folder"
}

# Gateway API: the Gateway, HTTPRoute and ReferenceGrant; the standard channel is what the chart targets.
copy_crds "Gateway API $GATEWAY_API_VERSION" "gateway-api-$GATEWAY_API_VERSION" "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" \
  gateway.networking.k8s.io_httproutes.yaml 'config/crd/standard/*.yaml'
# Prometheus Operator: ServiceMonitor and PrometheusRule (chart monitoring).
copy_crds "Prometheus Operator $PROMETHEUS_OPERATOR_VERSION" "prometheus-operator-$PROMETHEUS_OPERATOR_VERSION" \
  "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" monitoring.coreos.com_prometheusrules.yaml \
  'example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml' 'example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml'
# KEDA: ScaledObject and TriggerAuthentication (consumer.autoscaling.mode keda).
copy_crds "KEDA $KEDA_VERSION" "keda-$KEDA_VERSION" "github.com/kedacore/keda/v2@$KEDA_VERSION" keda.sh_scaledobjects.yaml \
  'config/crd/bases/keda.sh_scaledobjects.yaml' 'config/crd/bases/keda.sh_triggerauthentications.yaml'
