#!/usr/bin/env bash
# Lints and renders the chart with its default values and each chart/ci/*-values.yaml, and validates
# every rendered object offline against the Kubernetes 1.30 schemas, the Gateway API CRDs and the
# Prometheus Operator's ServiceMonitor and PrometheusRule CRDs (chart/ci/monitoring-values.yaml).
# The same checks (and more) run in `npx vitest run --project chart`; this is the quick one by hand.
# Usage: bash tools/validate-manifests.sh [extra helm template flags, e.g. --set gateway.className=eg]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/tools/install-helm.sh" >/dev/null
helm="$root/.tools/bin/helm"
validate="$root/.tools/bin/kubectl-validate"
crds=$(ls -d "$root"/.tools/crds/gateway-api-* | head -1)
monitoring_crds=$(ls -d "$root"/.tools/crds/prometheus-operator-* | head -1)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

status=0
for values in "" "$root"/chart/ci/*-values.yaml; do
  name=$(basename "${values:-default}" -values.yaml)
  args=()
  [ -n "$values" ] && args=(-f "$values")
  echo "== $name"
  "$helm" lint --strict "$root/chart" "${args[@]}" "$@" | tail -1 || status=1
  if "$helm" template lv "$root/chart" --namespace livevote "${args[@]}" "$@" > "$out/$name.yaml"; then
    "$validate" "$out/$name.yaml" --version 1.30 --local-crds "$crds" --local-crds "$monitoring_crds" || status=1
  else
    status=1
  fi
done
exit $status
