/**
 * Shared by the chart's tests: where the tools are, rendering the chart, and walking what it renders.
 * Tests run the real helm built by tools/install-helm.sh; nothing here fakes a tool.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const chartDir = fileURLToPath(new URL('..', import.meta.url));
export const repoRoot = join(chartDir, '..');
export const toolsDir = join(repoRoot, '.tools');

/** Path of a tool in .tools/bin, or a clear failure telling how to get it. */
export function tool(name: string): string {
  const path = join(toolsDir, 'bin', name);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run "bash tools/install-helm.sh" from the repository root first`);
  }
  return path;
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): RunResult {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? chartDir,
    env: opts.env ?? process.env,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: opts.timeoutMs ?? 60_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function helm(args: string[]): RunResult {
  return run(tool('helm'), args);
}

/** The value sets CI renders: the defaults and every file under chart/ci/. */
export const valueSets: { name: string; files: string[] }[] = [
  { name: 'default', files: [] },
  ...readdirSync(join(chartDir, 'ci'))
    .filter((f) => f.endsWith('-values.yaml'))
    .sort()
    .map((f) => ({ name: f.replace(/-values\.yaml$/, ''), files: [join('ci', f)] })),
];

export const RELEASE = 'lv';
export const RELEASE_NS = 'livevote';

export function templateArgs(files: string[], sets: string[] = []): string[] {
  return [
    'template', RELEASE, '.', '--namespace', RELEASE_NS,
    ...files.flatMap((f) => ['-f', f]),
    ...sets.flatMap((s) => ['--set', s]),
  ];
}

/** Renders the chart (hooks and test pods included) and returns the YAML text, or throws with helm's message. */
export function renderText(files: string[], sets: string[] = []): string {
  const r = helm(templateArgs(files, sets));
  if (r.status !== 0) throw new Error(`helm template failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

// Manifests are untyped trees; tests reach into them by path.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type K8s = any;

export function parseManifests(text: string): K8s[] {
  const docs = parseAllDocuments(text);
  const out: K8s[] = [];
  for (const d of docs) {
    if (d.errors.length) throw new Error(`rendered YAML does not parse: ${d.errors.map((e) => e.message).join('; ')}`);
    const v = d.toJS();
    if (v != null) out.push(v);
  }
  return out;
}

export function render(files: string[], sets: string[] = []): K8s[] {
  return parseManifests(renderText(files, sets));
}

export const id = (o: K8s): string => `${o.kind}/${o.metadata?.namespace ?? '-'}/${o.metadata?.name}`;

export interface Workload {
  obj: K8s;
  kind: string;
  namespace: string;
  component: string;
  /** Labels of the pods it makes. */
  podLabels: Record<string, string>;
  /** Its own selector (none for Jobs and bare Pods). */
  selector?: Record<string, string>;
  podSpec: K8s;
  longRunning: boolean;
}

export function workloads(docs: K8s[]): Workload[] {
  const out: Workload[] = [];
  for (const o of docs) {
    const ns = o.metadata?.namespace ?? RELEASE_NS;
    if (o.kind === 'Deployment' || o.kind === 'StatefulSet' || o.kind === 'DaemonSet') {
      out.push({
        obj: o, kind: o.kind, namespace: ns, component: o.spec.template.metadata.labels['app.kubernetes.io/component'],
        podLabels: o.spec.template.metadata.labels, selector: o.spec.selector.matchLabels, podSpec: o.spec.template.spec, longRunning: true,
      });
    } else if (o.kind === 'Job') {
      out.push({
        obj: o, kind: o.kind, namespace: ns, component: o.spec.template.metadata.labels['app.kubernetes.io/component'],
        podLabels: o.spec.template.metadata.labels, podSpec: o.spec.template.spec, longRunning: false,
      });
    } else if (o.kind === 'Pod') {
      out.push({
        obj: o, kind: o.kind, namespace: ns, component: o.metadata.labels['app.kubernetes.io/component'],
        podLabels: o.metadata.labels, podSpec: o.spec, longRunning: false,
      });
    }
  }
  return out;
}

export function containersOf(podSpec: K8s): K8s[] {
  return [...(podSpec.initContainers ?? []), ...(podSpec.containers ?? [])];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Kubernetes label selector semantics; an empty selector matches everything. */
export function selects(sel: LabelSelector | undefined | null, labels: Record<string, string>): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    switch (e.operator) {
      case 'In': if (!has || !e.values?.includes(labels[e.key]!)) return false; break;
      case 'NotIn': if (has && e.values?.includes(labels[e.key]!)) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
      default: throw new Error(`unknown selector operator ${e.operator}`);
    }
  }
  return true;
}

/** Every env var of a container as name -> value (valueFrom ones as a marker). */
export function envOf(container: K8s): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) env[e.name] = e.value ?? `<from ${Object.keys(e.valueFrom ?? {}).join(',')}>`;
  return env;
}
