import { describe, expect, it } from 'vitest';
import { helm, render, templateArgs, valueSets } from './lib.ts';

describe('helm', () => {
  it('is the v3.22.0 that tools/install-helm.sh builds', () => {
    const r = helm(['version', '--short']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^v3\.22\.0(\+|$)/);
  });

  for (const set of valueSets) {
    describe(`values: ${set.name}`, () => {
      it('passes helm lint --strict', () => {
        const r = helm(['lint', '--strict', '.', ...set.files.flatMap((f) => ['-f', f])]);
        expect(r.status, r.stdout + r.stderr).toBe(0);
        expect(r.stdout).toContain('0 chart(s) failed');
      });

      it('renders with helm template into objects that all have kind, name and namespace', () => {
        const r = helm(templateArgs(set.files));
        expect(r.status, r.stderr).toBe(0);
        const docs = render(set.files);
        expect(docs.length).toBeGreaterThan(20);
        for (const d of docs) {
          expect(d.apiVersion, JSON.stringify(d).slice(0, 200)).toBeTruthy();
          expect(d.kind).toBeTruthy();
          expect(d.metadata?.name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
          // Cluster-scoped kinds aside, every object says where it goes: the layers are explicit.
          if (d.kind !== 'Namespace') expect(d.metadata?.namespace, `${d.kind}/${d.metadata?.name}`).toBeTruthy();
        }
      });
    });
  }
});
