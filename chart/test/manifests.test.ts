/**
 * Reads every manifest the chart renders, for the defaults and each chart/ci values file, and checks
 * what a cluster would only reveal at run time: pod security, probes, resources, selectors,
 * where secret values end up, and which connections the NetworkPolicies let through.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  chartDir, containersOf, envOf, id, type K8s, RELEASE, RELEASE_NS, render, selects, valueSets, workloads,
} from './lib.ts';
import { type Endpoint, allowedConnections } from './netpol.ts';

const ALLOWED_VOLUME_TYPES = new Set(['configMap', 'secret', 'emptyDir', 'persistentVolumeClaim', 'projected', 'downwardAPI', 'ephemeral', 'csi']);
const APP_COMPONENTS = ['client', 'server', 'consumer'];

for (const set of valueSets) {
  const values = { ...parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) };
  const overrides = set.files.map((f) => parse(readFileSync(join(chartDir, f), 'utf8')));
  const docs = render(set.files);
  const wls = workloads(docs);
  const byComponent = (c: string) => wls.filter((w) => w.component === c);
  const redisBundled = overrides.every((o) => o?.redis?.enabled !== false);
  const pgBundled = overrides.every((o) => o?.postgresql?.enabled !== false);

  describe(`rendered with values: ${set.name}`, () => {
    it('has every workload the product needs', () => {
      for (const c of ['client', 'server', 'consumer', 'migrations', 'test']) expect(byComponent(c), c).toHaveLength(1);
      expect(byComponent('redis')).toHaveLength(redisBundled ? 1 : 0);
      expect(byComponent('postgresql')).toHaveLength(pgBundled ? 1 : 0);
    });

    it('meets the "restricted" Pod Security Standard in every pod, with a read-only root and no token', () => {
      expect(wls.length).toBeGreaterThan(4);
      for (const w of wls) {
        const where = `${w.kind} ${w.obj.metadata.name}`;
        const p = w.podSpec;
        expect(p.automountServiceAccountToken, where).toBe(false);
        expect(p.hostNetwork ?? false, where).toBe(false);
        expect(p.hostPID ?? false, where).toBe(false);
        expect(p.hostIPC ?? false, where).toBe(false);
        const psc = p.securityContext ?? {};
        for (const v of p.volumes ?? []) {
          const types = Object.keys(v).filter((k) => k !== 'name');
          expect(types.every((t) => ALLOWED_VOLUME_TYPES.has(t)), `${where} volume ${v.name}: ${types}`).toBe(true);
        }
        expect(psc.runAsUser ?? 1, where).not.toBe(0);
        for (const c of containersOf(p)) {
          const at = `${where} container ${c.name}`;
          const sc = c.securityContext ?? {};
          expect(sc.runAsNonRoot ?? psc.runAsNonRoot, at).toBe(true);
          expect(sc.runAsUser ?? psc.runAsUser ?? 1, at).not.toBe(0);
          expect(sc.allowPrivilegeEscalation, at).toBe(false);
          expect(sc.privileged ?? false, at).toBe(false);
          expect(sc.readOnlyRootFilesystem, at).toBe(true);
          expect(sc.capabilities?.drop, at).toContain('ALL');
          expect(sc.capabilities?.add ?? [], at).toEqual([]);
          const seccomp = sc.seccompProfile?.type ?? psc.seccompProfile?.type;
          expect(['RuntimeDefault', 'Localhost'], at).toContain(seccomp);
          for (const port of c.ports ?? []) expect(port.hostPort, at).toBeUndefined();
        }
      }
    });

    it('gives every container requests and limits for CPU and memory', () => {
      for (const w of wls) {
        for (const c of containersOf(w.podSpec)) {
          const at = `${w.kind} ${w.obj.metadata.name} container ${c.name}`;
          for (const kind of ['requests', 'limits']) {
            for (const r of ['cpu', 'memory']) expect(c.resources?.[kind]?.[r], `${at} ${kind}.${r}`).toBeDefined();
          }
        }
      }
    });

    it('probes every long-running container, the apps on their real endpoints', () => {
      for (const w of wls.filter((x) => x.longRunning)) {
        for (const c of w.podSpec.containers) {
          const at = `${w.kind} ${w.obj.metadata.name} container ${c.name}`;
          expect(c.livenessProbe, at).toBeDefined();
          expect(c.readinessProbe, at).toBeDefined();
          if (APP_COMPONENTS.includes(w.component)) {
            const port = c.ports.find((p: K8s) => p.name === c.livenessProbe.httpGet.port);
            expect(port, `${at} probes a named port it has`).toBeDefined();
            expect(c.livenessProbe.httpGet.path, at).toBe('/healthz');
            // The client has no dependencies to check; server and consumer report Redis and PostgreSQL.
            expect(c.readinessProbe.httpGet.path, at).toBe(w.component === 'client' ? '/healthz' : '/readyz');
          }
        }
      }
    });

    it('lets SSE clients drain: preStop sleep, and a grace period that covers it plus the app shutdown', () => {
      for (const c of ['client', 'server']) {
        const [w] = byComponent(c);
        const container = w!.podSpec.containers[0];
        const sleep = container.lifecycle?.preStop?.sleep?.seconds;
        expect(sleep, c).toBeGreaterThan(0);
        const env = envOf(container);
        const appSeconds = c === 'server' ? Number(env.SHUTDOWN_GRACE_MS) / 1000 : Number(env.SHUTDOWN_TIMEOUT);
        expect(appSeconds, c).toBeGreaterThan(0);
        expect(w!.podSpec.terminationGracePeriodSeconds, c).toBeGreaterThanOrEqual(sleep + appSeconds + 1);
      }
      const [consumer] = byComponent('consumer');
      const env = envOf(consumer!.podSpec.containers[0]);
      expect(consumer!.podSpec.terminationGracePeriodSeconds).toBeGreaterThan(Number(env.SHUTDOWN_GRACE_MS) / 1000);
    });

    it('never lets one workload select another\'s pods, and every selector names its component', () => {
      const selecting = wls.filter((w) => w.selector);
      for (const w of selecting) {
        expect(w.selector!['app.kubernetes.io/component'], id(w.obj)).toBe(w.component);
        expect(selects({ matchLabels: w.selector }, w.podLabels), `${id(w.obj)} selects its own pods`).toBe(true);
      }
      for (const a of selecting) {
        for (const b of wls) {
          if (a === b || a.namespace !== b.namespace) continue;
          expect(selects({ matchLabels: a.selector }, b.podLabels), `${id(a.obj)} would select pods of ${id(b.obj)}`).toBe(false);
        }
      }
      const components = wls.map((w) => w.component);
      expect(new Set(components).size, components.join()).toBe(components.length);
    });

    it('points every Service, PodDisruptionBudget and HPA at exactly one workload', () => {
      for (const o of docs.filter((d) => d.kind === 'Service' || d.kind === 'PodDisruptionBudget')) {
        const sel = o.kind === 'Service' ? { matchLabels: o.spec.selector } : o.spec.selector;
        const hits = wls.filter((w) => w.namespace === o.metadata.namespace && w.selector && selects(sel, w.podLabels));
        expect(hits.map((h) => id(h.obj)), id(o)).toHaveLength(1);
        if (o.kind === 'Service') {
          const c = hits[0]!.podSpec.containers;
          for (const p of o.spec.ports) {
            const target = p.targetPort;
            const found = c.some((ct: K8s) => (ct.ports ?? []).some((cp: K8s) => cp.name === target || cp.containerPort === target));
            expect(found, `${id(o)} port ${p.name} targets ${target}`).toBe(true);
          }
        }
      }
      for (const h of docs.filter((d) => d.kind === 'HorizontalPodAutoscaler')) {
        const target = docs.find((d) => d.kind === h.spec.scaleTargetRef.kind && d.metadata.name === h.spec.scaleTargetRef.name && d.metadata.namespace === h.metadata.namespace);
        expect(target, id(h)).toBeDefined();
        expect(target.spec.replicas, `${id(h)}: the Deployment must not fight the HPA over replicas`).toBeUndefined();
        expect(h.spec.minReplicas).toBeLessThanOrEqual(h.spec.maxReplicas);
      }
      for (const d of docs.filter((x) => x.kind === 'Deployment')) {
        const pdb = docs.find((p) => p.kind === 'PodDisruptionBudget' && p.metadata.namespace === d.metadata.namespace && selects(p.spec.selector, d.spec.template.metadata.labels));
        expect(pdb, `${id(d)} has a PodDisruptionBudget`).toBeDefined();
        const spread = d.spec.template.spec.topologySpreadConstraints ?? [];
        expect(spread.map((t: K8s) => t.topologyKey).sort(), id(d)).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
        for (const t of spread) expect(selects(t.labelSelector, d.spec.template.metadata.labels), id(d)).toBe(true);
      }
    });

    it('keeps every secret value inside Secrets: no credential in a pod spec, ConfigMap or annotation', () => {
      const secretValues = new Set<string>();
      for (const s of docs.filter((d) => d.kind === 'Secret')) {
        for (const v of Object.values<string>(s.data ?? {})) secretValues.add(Buffer.from(v, 'base64').toString('utf8'));
        for (const v of Object.values<string>(s.stringData ?? {})) secretValues.add(v);
      }
      // Also what the values files themselves call secret: passwords inside external URLs.
      const urlPasswords = JSON.stringify(overrides).match(/(?<=:\/\/[^:/@"]+:)[^@"]+(?=@)/g) ?? [];
      for (const p of urlPasswords) secretValues.add(p);
      for (const v of [...secretValues]) if (v.length < 8) throw new Error(`secret value too short to search for safely: ${v.length} chars`);
      for (const o of docs.filter((d) => d.kind !== 'Secret')) {
        const text = JSON.stringify(o);
        for (const v of secretValues) expect(text.includes(v), `${id(o)} contains a secret value`).toBe(false);
      }
      // A URL with an inline password in a plain env value would be a leak even if no Secret holds it.
      for (const w of wls) {
        for (const c of containersOf(w.podSpec)) {
          for (const e of c.env ?? []) {
            if (e.value === undefined) continue;
            const m = /:\/\/[^/@:]+:([^@]+)@/.exec(e.value);
            if (m) expect(m[1], `${id(w.obj)} ${c.name} ${e.name}`).toMatch(/^\$\([A-Z_]+\)$/);
          }
        }
      }
    });

    it('reads every Secret key a pod refers to from a Secret in the pod\'s own namespace, unless an existing Secret is used', () => {
      const existing = overrides.find((o) => o?.credentials?.existingSecret)?.credentials?.existingSecret as string | undefined;
      for (const w of wls) {
        for (const c of containersOf(w.podSpec)) {
          for (const e of c.env ?? []) {
            const ref = e.valueFrom?.secretKeyRef;
            if (!ref) continue;
            if (existing) {
              expect(ref.name).toBe(existing);
              continue;
            }
            const secret = docs.find((d) => d.kind === 'Secret' && d.metadata.name === ref.name && d.metadata.namespace === w.namespace);
            expect(secret, `${id(w.obj)} ${e.name}: Secret ${ref.name} in ${w.namespace}`).toBeDefined();
            expect(Object.keys(secret.data ?? {}), `${id(w.obj)} ${e.name}`).toContain(ref.key);
          }
        }
      }
    });

    it('gives the server its HOST_TOKEN from the credentials Secret (generated, 32 characters), never from values', () => {
      const existing = overrides.find((o) => o?.credentials?.existingSecret)?.credentials?.existingSecret as string | undefined;
      const server = wls.find((w) => w.component === 'server')!;
      const env = containersOf(server.podSpec).find((c: K8s) => c.name === 'server').env as K8s[];
      const token = env.find((e) => e.name === 'HOST_TOKEN');
      expect(token?.value, 'HOST_TOKEN is never a plain value').toBeUndefined();
      expect(token?.valueFrom?.secretKeyRef?.key).toBe('host-token');
      if (existing) return;
      const secret = docs.find((d) => d.kind === 'Secret' && d.metadata.name === token.valueFrom.secretKeyRef.name && d.metadata.namespace === server.namespace);
      expect(Buffer.from(secret.data['host-token'], 'base64').toString()).toMatch(/^[A-Za-z0-9]{32}$/);
    });

    it('allows exactly the documented connections through the NetworkPolicies, and DNS for every pod', () => {
      const gatewayCreated = overrides.every((o) => o?.gateway?.enabled !== false);
      const ingressFrom = overrides.find((o) => o?.networkPolicy?.ingressFrom)?.networkPolicy?.ingressFrom;
      // The edge (Gateway data plane / Ingress controller) as the chart is told to expect it.
      const edge: Endpoint = ingressFrom
        ? { name: 'edge', namespace: ingressFrom[0].namespaceSelector.matchLabels['kubernetes.io/metadata.name'], labels: {}, ports: [] }
        : gatewayCreated
          ? { name: 'edge', namespace: 'envoy-gateway-system', labels: { 'gateway.networking.k8s.io/gateway-name': `${RELEASE}-livevote` }, ports: [] }
          : { name: 'edge', namespace: 'ingress-nginx', labels: { 'app.kubernetes.io/name': 'ingress-nginx' }, ports: [] };
      const pods: Endpoint[] = wls.map((w) => ({
        name: w.component,
        namespace: w.namespace,
        labels: w.podLabels,
        ports: containersOf(w.podSpec).flatMap((c: K8s) => (c.ports ?? []).map((p: K8s) => ({ port: p.containerPort, protocol: p.protocol ?? 'TCP', name: p.name }))),
      }));
      const external: Endpoint[] = [];
      const redisPort = overrides.find((o) => o?.redis?.external?.port)?.redis.external.port ?? 6379;
      if (!redisBundled) external.push({ name: 'external-redis', external: true, namespace: '', labels: {}, ports: [{ port: redisPort, protocol: 'TCP' }] });
      if (!pgBundled) external.push({ name: 'external-postgresql', external: true, namespace: '', labels: {}, ports: [{ port: 5432, protocol: 'TCP' }] });
      const dns: Endpoint = { name: 'dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' }, ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] };
      // Pods the chart knows nothing of: they must reach nothing of ours, and ours must not reach them.
      const stranger: Endpoint = { name: 'stranger', namespace: 'default', labels: { app: 'other' }, ports: [{ port: 3000, protocol: 'TCP' }, { port: 8080, protocol: 'TCP' }] };
      const neighbour: Endpoint = {
        name: 'neighbour', namespace: pods.find((p) => p.name === 'server')!.namespace, labels: { app: 'neighbour' }, ports: [{ port: 8080, protocol: 'TCP' }],
      };
      // Prometheus where monitoring.prometheus says it runs; it may scrape only with monitoring on.
      // The impostor wears its labels in another namespace and must get nowhere either way.
      const monitoringOn = overrides.some((o) => o?.monitoring?.enabled === true);
      const promValues = { ...values.monitoring.prometheus, ...overrides.find((o) => o?.monitoring?.prometheus)?.monitoring.prometheus };
      const prometheus: Endpoint = {
        name: 'prometheus', namespace: promValues.namespaceSelector.matchLabels['kubernetes.io/metadata.name'], labels: promValues.podSelector.matchLabels, ports: [],
      };
      const impostor: Endpoint = { name: 'impostor', namespace: 'default', labels: promValues.podSelector.matchLabels, ports: [] };

      const namespaceLabels: Record<string, Record<string, string>> = {};
      for (const n of docs.filter((d) => d.kind === 'Namespace')) namespaceLabels[n.metadata.name] = n.metadata.labels ?? {};
      const policies = docs.filter((d) => d.kind === 'NetworkPolicy');
      const allowed = allowedConnections(
        [...pods, edge, stranger, neighbour, prometheus, impostor],
        [...pods, dns, stranger, neighbour, ...external],
        policies,
        namespaceLabels,
      );

      const redis = redisBundled ? 'redis:6379/TCP' : `external-redis:${redisPort}/TCP`;
      const pg = pgBundled ? 'postgresql:5432/TCP' : 'external-postgresql:5432/TCP';
      const expected = new Set([
        'edge -> client:3000/TCP', 'edge -> server:3000/TCP',
        'client -> server:3000/TCP',
        'test -> server:3000/TCP',
        `server -> ${redis}`, `server -> ${pg}`,
        `consumer -> ${redis}`, `consumer -> ${pg}`,
        `migrations -> ${pg}`,
        ...pods.flatMap((p) => [`${p.name} -> dns:53/UDP`, `${p.name} -> dns:53/TCP`]),
        // Outside our namespaces the chart sets no policy, so strangers talk among themselves.
        'stranger -> stranger:3000/TCP', 'stranger -> stranger:8080/TCP',
        'edge -> stranger:3000/TCP', 'edge -> stranger:8080/TCP',
        'edge -> dns:53/UDP', 'edge -> dns:53/TCP', 'stranger -> dns:53/UDP', 'stranger -> dns:53/TCP',
      ]);
      for (const src of ['prometheus', 'impostor']) {
        for (const c of ['stranger:3000/TCP', 'stranger:8080/TCP', 'dns:53/UDP', 'dns:53/TCP']) expected.add(`${src} -> ${c}`);
      }
      // The server's metrics are on its ops port, never on the public 3000.
      if (monitoringOn) for (const c of ['prometheus -> server:9464/TCP', 'prometheus -> consumer:3001/TCP']) expected.add(c);
      // Traffic to and from the outside world (external endpoints) for strangers is not ours to police.
      for (const ext of external) for (const src of ['edge', 'stranger', 'prometheus', 'impostor']) expected.add(`${src} -> ${ext.name}:${ext.ports[0]!.port}/TCP`);
      const ownNamespaceShared = overrides.some((o) => o?.namespaces?.single);
      if (ownNamespaceShared) {
        // In a shared namespace the default deny covers this release's pods only; in a layer
        // namespace of ours it covers everything, neighbours included.
        for (const c of ['edge -> neighbour:8080/TCP', 'stranger -> neighbour:8080/TCP', 'prometheus -> neighbour:8080/TCP', 'impostor -> neighbour:8080/TCP', 'neighbour -> neighbour:8080/TCP', 'neighbour -> stranger:3000/TCP', 'neighbour -> stranger:8080/TCP', 'neighbour -> dns:53/UDP', 'neighbour -> dns:53/TCP']) expected.add(c);
        for (const ext of external) expected.add(`neighbour -> ${ext.name}:${ext.ports[0]!.port}/TCP`);
      }
      expect([...allowed].sort()).toEqual([...expected].sort());
    });

    it('puts a default-deny policy in every namespace that holds a workload', () => {
      for (const ns of new Set(wls.map((w) => w.namespace))) {
        const deny = docs.find((d) => d.kind === 'NetworkPolicy' && d.metadata.namespace === ns && d.metadata.name.endsWith('-default-deny'));
        expect(deny, ns).toBeDefined();
        expect(deny.spec.policyTypes.sort()).toEqual(['Egress', 'Ingress']);
        expect(deny.spec.ingress ?? []).toEqual([]);
        expect(deny.spec.egress ?? []).toEqual([]);
        for (const w of wls.filter((x) => x.namespace === ns)) expect(selects(deny.spec.podSelector, w.podLabels), id(w.obj)).toBe(true);
      }
    });

    it('routes /api to the server with no timeout on the SSE stream, and the rest to the client', () => {
      const route = docs.find((d) => d.kind === 'HTTPRoute');
      const ingresses = docs.filter((d) => d.kind === 'Ingress');
      expect(route || ingresses.length, 'some route into the app').toBeTruthy();
      if (route) {
        const rules = route.spec.rules as K8s[];
        const stream = rules.find((r) => r.matches.some((m: K8s) => m.path.value === '/api/stream'));
        expect(stream.timeouts.request).toBe('0s');
        expect(stream.backendRefs[0].name).toBe(`${RELEASE}-livevote-server`);
        const api = rules.find((r) => r.matches.some((m: K8s) => m.path.type === 'PathPrefix' && m.path.value === '/api'));
        expect(api.backendRefs[0].name).toBe(`${RELEASE}-livevote-server`);
        const rest = rules.find((r) => r.matches.some((m: K8s) => m.path.value === '/'));
        expect(rest.backendRefs[0].name).toBe(`${RELEASE}-livevote-client`);
        const serverNs = byComponent('server')[0]!.namespace;
        if (serverNs !== route.metadata.namespace) {
          const grant = docs.find((d) => d.kind === 'ReferenceGrant' && d.metadata.namespace === serverNs);
          expect(grant.spec.from[0].namespace).toBe(route.metadata.namespace);
          expect(stream.backendRefs[0].namespace).toBe(serverNs);
        }
      }
      for (const ing of ingresses) {
        const paths = ing.spec.rules[0].http.paths;
        const svc = docs.find((d) => d.kind === 'Service' && d.metadata.name === paths[0].backend.service.name);
        expect(svc.metadata.namespace, `${id(ing)} must sit with its Service`).toBe(ing.metadata.namespace);
        if (paths[0].path === '/api') {
          expect(ing.metadata.annotations['nginx.ingress.kubernetes.io/proxy-buffering']).toBe('off');
          expect(Number(ing.metadata.annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThanOrEqual(3600);
        }
      }
    });

    it('gives the server its metrics on a named ops port apart from the public one, which no route reaches', () => {
      const server = wls.find((w) => w.component === 'server')!;
      const c = containersOf(server.podSpec).find((x: K8s) => x.name === 'server');
      const env = envOf(c);
      const ports = Object.fromEntries((c.ports as K8s[]).map((p) => [p.name, p.containerPort]));
      expect(ports).toEqual({ http: Number(env.PORT), metrics: Number(env.OPS_PORT) });
      expect(env.OPS_PORT).not.toBe(env.PORT);
      // Prometheus scrapes the pod from outside it; the NetworkPolicy is what keeps others out.
      expect(env.OPS_HOST).toBe('0.0.0.0');
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) expect(c[probe].httpGet.port, probe).toBe('http');
      const svc = docs.find((d) => d.kind === 'Service' && d.metadata.name === `${RELEASE}-livevote-server`);
      expect(svc.spec.ports.map((p: K8s) => [p.name, p.port, p.targetPort])).toEqual([['http', 3000, 'http'], ['metrics', Number(env.OPS_PORT), 'metrics']]);
      // Every way in from the edge names the public port.
      const route = docs.find((d) => d.kind === 'HTTPRoute');
      for (const ref of (route?.spec.rules ?? []).flatMap((r: K8s) => r.backendRefs)) expect(ref.port, JSON.stringify(ref)).not.toBe(Number(env.OPS_PORT));
      for (const ing of docs.filter((d) => d.kind === 'Ingress')) {
        for (const p of ing.spec.rules.flatMap((r: K8s) => r.http.paths)) expect([3000, 'http'], id(ing)).toContain(p.backend.service.port.number ?? p.backend.service.port.name);
      }
    });

    it('runs the migrations as a hook Job with the project\'s migration command, as the migrator role', () => {
      const [job] = byComponent('migrations');
      expect(job!.obj.metadata.annotations['helm.sh/hook']).toMatch(/pre-upgrade/);
      const c = job!.podSpec.containers[0];
      expect(c.args).toEqual(['consumer/src/migrate.ts']);
      const env = c.env.map((e: K8s) => e.name);
      expect(env).toContain('DATABASE_URL');
      const url = c.env.find((e: K8s) => e.name === 'DATABASE_URL');
      if (pgBundled) expect(url.value).toMatch(/^postgres:\/\/livevote_migrator:\$\(DATABASE_PASSWORD\)@/);
      else expect(url.valueFrom.secretKeyRef.key).toBe('database-migrator-url');
    });

    it('gives each service its own Redis user and PostgreSQL role', () => {
      const urls = (c: string) => envOf(byComponent(c)[0]!.podSpec.containers[0]);
      if (redisBundled) {
        expect(urls('server').REDIS_URL).toMatch(/^redis:\/\/server:/);
        expect(urls('consumer').REDIS_URL).toMatch(/^redis:\/\/consumer:/);
        const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === `${RELEASE}-livevote-redis`);
        expect(cm.data['write-acl.sh']).toMatch(/user default off/);
        expect(cm.data['redis.conf']).toMatch(/^appendonly yes$/m);
        expect(cm.data['redis.conf']).toMatch(/^maxmemory-policy noeviction$/m);
      }
      if (pgBundled) {
        expect(urls('server').DATABASE_URL).toMatch(/^postgres:\/\/livevote_server:/);
        expect(urls('consumer').DATABASE_URL).toMatch(/^postgres:\/\/livevote_consumer:/);
      }
    });
  });
}

describe('values.yaml defaults', () => {
  it('hold no secret: every credential is generated, or comes from an existing Secret', () => {
    const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
    const leaks: string[] = [];
    const walk = (v: unknown, path: string) => {
      if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
      } else if (typeof v === 'string' && v !== '') {
        if (/pass(word)?|secret|token|key$|url$/i.test(path.split('.').pop()!) && !/^publicUrl$/.test(path)) leaks.push(`${path}=${v}`);
        if (/:\/\/[^/]*:[^@]*@/.test(v)) leaks.push(`${path} has credentials in a URL`);
      }
    };
    walk(values, '');
    expect(leaks).toEqual([]);
  });

  it('keeps generated passwords stable: they are read back from the live Secret before new ones are drawn', () => {
    const helpers = readFileSync(join(chartDir, 'templates', '_helpers.tpl'), 'utf8');
    expect(helpers).toMatch(/lookup "v1" "Secret"/);
    const docs = render([]);
    const data = docs.find((d) => d.kind === 'Secret' && d.metadata.annotations?.['helm.sh/resource-policy'] === 'keep');
    expect(data, 'the data namespace Secret is kept on uninstall').toBeDefined();
    const dataNs = docs.find((d) => d.kind === 'Namespace' && d.metadata.name === data.metadata.namespace);
    expect(dataNs.metadata.annotations['helm.sh/resource-policy'], 'and so is its namespace, volumes and all').toBe('keep');
    for (const s of docs.filter((d) => d.kind === 'StatefulSet')) expect(s.spec.persistentVolumeClaimRetentionPolicy.whenDeleted, id(s)).toBe('Retain');
    // One draw per render: the same password in every namespace that holds it.
    const apiSecret = docs.find((d) => d.kind === 'Secret' && d.metadata.namespace === `${RELEASE}-livevote-api`);
    expect(apiSecret.data['redis-server-password']).toBe(data.data['redis-server-password']);
    expect(apiSecret.data['postgres-server-password']).toBe(data.data['postgres-server-password']);
    expect(RELEASE_NS).toBeTruthy();
  });
});
