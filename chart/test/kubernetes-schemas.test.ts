/**
 * Offline validation of everything the chart renders against the official Kubernetes OpenAPI
 * schemas (embedded in kubectl-validate), the Gateway API CRDs (standard channel), the Prometheus
 * Operator's ServiceMonitor and PrometheusRule CRDs and KEDA's ScaledObject and TriggerAuthentication, at the chart's minimum Kubernetes version. Unknown fields, wrong types and bad enum values all fail.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderText, run, tool, toolsDir, valueSets } from './lib.ts';

const KUBE_VERSION = '1.30';
const dir = mkdtempSync(join(tmpdir(), 'livevote-kv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The CRD folders install-helm.sh fills: the Gateway API, the Prometheus Operator (monitoring) and KEDA. */
function crdDirs(): string[] {
  const crds = join(toolsDir, 'crds');
  const found = (() => {
    try {
      return readdirSync(crds);
    } catch {
      return [];
    }
  })();
  return ['gateway-api-', 'prometheus-operator-', 'keda-'].map((prefix) => {
    const dirs = found.filter((d) => d.startsWith(prefix));
    if (dirs.length !== 1) throw new Error(`expected one ${prefix}* CRD folder in ${crds}: run "bash tools/install-helm.sh" first`);
    return join(crds, dirs[0]!);
  });
}

function validate(file: string) {
  return run(tool('kubectl-validate'), [file, '--version', KUBE_VERSION, ...crdDirs().flatMap((d) => ['--local-crds', d])]);
}

describe(`manifests against the Kubernetes ${KUBE_VERSION}, Gateway API, Prometheus Operator and KEDA schemas (kubectl-validate)`, () => {
  for (const set of valueSets) {
    it(`validates everything rendered with values: ${set.name}`, () => {
      const file = join(dir, `${set.name}.yaml`);
      writeFileSync(file, renderText(set.files));
      const r = validate(file);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('OK');
    });
  }

  it('is really checking: a misspelt field, a wrong type, a bad route timeout and bad KEDA objects are all refused', () => {
    const text = renderText([]);
    const broken = [
      ['preStop action', text.replace(/^(\s+)sleep:$/m, '$1slep:')],
      ['integer field', text.replace('maxSkew: 1', 'maxSkew: one')],
      ['HTTPRoute timeout', text.replace('request: "0s"', 'request: "forever"')],
    ] as [string, string][];
    const keda = renderText(['ci/bundled-shards-keda-values.yaml']);
    broken.push(
      ['ScaledObject replica count', keda.replace('minReplicaCount: 2', 'minReplicaCount: two')],
      ['TriggerAuthentication field', keda.replace('secretTargetRef:', 'secretTargetRefs:')],
    );
    for (const [what, manifest] of broken) {
      expect(manifest === text || manifest === keda, what).toBe(false);
      const file = join(dir, `broken-${what.replace(/\W+/g, '-')}.yaml`);
      writeFileSync(file, manifest);
      const r = validate(file);
      expect(r.status, `${what} should be refused`).not.toBe(0);
    }
  });
});
