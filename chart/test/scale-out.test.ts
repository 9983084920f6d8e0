/**
 * The chart beyond one machine: Redis Sentinel and Cluster targets, stream shards, replica
 * acknowledgements, CloudNativePG (read URL, CA), KEDA on the consumer group's lag, the
 * PodDisruptionBudgets of the bundled data stores, and the PostgreSQL connection budget.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shardTags } from '@livevote/service-kit';
import { streamShardsTable } from '../../tools/write-stream-shards.ts';
import { chartDir, envOf, helm, type K8s, render, selects, templateArgs, workloads } from './lib.ts';

const PREFIX = 'lv:';
const only = (docs: K8s[], kind: string) => docs.filter((d) => d.kind === kind);
const container = (docs: K8s[], component: string) => {
  const w = workloads(docs).find((x) => x.component === component && x.kind === 'Deployment');
  if (!w) throw new Error(`no ${component} Deployment`);
  return { w, c: w.podSpec.containers[0] };
};
/** Egress ports a component's NetworkPolicies allow (to anywhere). */
const egressPorts = (docs: K8s[], component: string) => {
  const { w } = container(docs, component);
  return only(docs, 'NetworkPolicy')
    .filter((p) => p.metadata.namespace === w.namespace && selects(p.spec.podSelector, w.podLabels))
    .flatMap((p) => p.spec.egress ?? [])
    .flatMap((r: K8s) => (r.ports ?? []).map((x: K8s) => x.port));
};
const failure = (sets: string[], files: string[] = []) => {
  const r = helm(templateArgs(files, sets));
  return r.status === 0 ? null : r.stderr;
};

describe('stream shards', () => {
  it('chart/files/stream-shards.json holds the tags the services compute (node tools/write-stream-shards.ts)', () => {
    const file = JSON.parse(readFileSync(join(chartDir, 'files', 'stream-shards.json'), 'utf8'));
    expect(file).toEqual(streamShardsTable());
    expect(file['3']).toEqual(shardTags(3));
  });
});

describe('consumer.autoscaling.mode', () => {
  it('hpa (the default): a CPU HPA for the consumer, no KEDA object', () => {
    const docs = render([]);
    expect(only(docs, 'HorizontalPodAutoscaler').map((h) => h.spec.scaleTargetRef.name)).toContain('lv-livevote-consumer');
    expect(only(docs, 'ScaledObject')).toEqual([]);
  });

  it('keda with the bundled Redis: one redis-streams trigger per shard on the group lag, the scaler user let in', () => {
    const docs = render(['ci/bundled-shards-keda-values.yaml']);
    expect(only(docs, 'HorizontalPodAutoscaler').map((h) => h.spec.scaleTargetRef.name)).not.toContain('lv-livevote-consumer');
    const [so] = only(docs, 'ScaledObject');
    expect(so.spec.scaleTargetRef.name).toBe('lv-livevote-consumer');
    expect(so.spec.triggers.map((t: K8s) => t.metadata.stream)).toEqual(shardTags(2).map((t) => `${PREFIX}{${t}}votes`));
    for (const t of so.spec.triggers) {
      expect(t.type).toBe('redis-streams');
      expect(t.metadata).toMatchObject({ address: expect.stringMatching(/:6379$/), consumerGroup: 'tally-writers', lagCount: '5000', username: 'scaler' });
      expect(t.authenticationRef.name).toBe(only(docs, 'TriggerAuthentication')[0].metadata.name);
    }
    const [auth] = only(docs, 'TriggerAuthentication');
    expect(auth.spec.secretTargetRef).toEqual([{ parameter: 'password', name: 'lv-livevote-credentials', key: 'redis-scaler-password' }]);
    const consumerSecret = only(docs, 'Secret').find((s) => s.metadata.namespace === so.metadata.namespace && s.metadata.name === 'lv-livevote-credentials');
    expect(Object.keys(consumerSecret.data ?? consumerSecret.stringData)).toContain('redis-scaler-password');
    // KEDA's operator reaches the bundled Redis through its NetworkPolicy.
    const redisIngress = only(docs, 'NetworkPolicy').filter((p) => p.spec.podSelector.matchLabels?.['app.kubernetes.io/component'] === 'redis');
    expect(JSON.stringify(redisIngress)).toContain('"kubernetes.io/metadata.name":"keda"');
    for (const c of ['server', 'consumer']) expect(envOf(container(docs, c).c).STREAM_SHARDS, c).toBe('2');
  });

  it('keda on an external Redis Cluster: redis-cluster-streams per shard, TLS with the CA', () => {
    const docs = render(['ci/cluster-keda-values.yaml']);
    const [so] = only(docs, 'ScaledObject');
    expect(so.spec.triggers.map((t: K8s) => [t.type, t.metadata.stream, t.metadata.enableTLS])).toEqual(
      shardTags(3).map((t) => ['redis-cluster-streams', `${PREFIX}{${t}}votes`, 'true']),
    );
    expect(so.spec.triggers[0].metadata.addresses).toBe('redis-cluster-0.redis.svc:6379,redis-cluster-1.redis.svc:6379,redis-cluster-2.redis.svc:6379');
    const [auth] = only(docs, 'TriggerAuthentication');
    expect(auth.spec.secretTargetRef).toContainEqual({ parameter: 'ca', name: 'redis-ca', key: 'ca.crt' });
  });

  it('keda behind Sentinel: redis-sentinel-streams with the master name and the Sentinels\' password', () => {
    const docs = render(['ci/sentinel-cnpg-keda-values.yaml']);
    const [so] = only(docs, 'ScaledObject');
    expect(so.spec.triggers).toHaveLength(1);
    expect(so.spec.triggers[0].type).toBe('redis-sentinel-streams');
    expect(so.spec.triggers[0].metadata).toMatchObject({ sentinelMaster: 'livevote', stream: `${PREFIX}votes` });
    expect(only(docs, 'TriggerAuthentication')[0].spec.secretTargetRef).toContainEqual({ parameter: 'sentinelPassword', name: 'lv-livevote-credentials', key: 'redis-sentinel-password' });
  });
});

describe('external Redis modes', () => {
  it('sentinel: the services get REDIS_SENTINELS, their ACL user, the CA, and egress to 26379 as well as the data port', () => {
    const docs = render(['ci/sentinel-cnpg-keda-values.yaml']);
    for (const component of ['server', 'consumer']) {
      const { w, c } = container(docs, component);
      const env = envOf(c);
      expect(env, component).toMatchObject({
        REDIS_SENTINELS: 'redis-sentinel-0.redis.svc:26379,redis-sentinel-1.redis.svc:26379,redis-sentinel-2.redis.svc:26379',
        REDIS_SENTINEL_NAME: 'livevote',
        REDIS_USERNAME: component,
        REDIS_PASSWORD: '<from secretKeyRef>',
        REDIS_SENTINEL_PASSWORD: '<from secretKeyRef>',
        REDIS_CA_FILE: '/etc/livevote/redis-ca/ca.crt',
      });
      expect(env.REDIS_URL, component).toBeUndefined();
      expect(c.env.find((e: K8s) => e.name === 'REDIS_SENTINEL_PASSWORD').valueFrom.secretKeyRef.optional).toBe(true);
      expect(c.volumeMounts).toContainEqual({ name: 'redis-ca', mountPath: '/etc/livevote/redis-ca', readOnly: true });
      expect(w.podSpec.volumes).toContainEqual({ name: 'redis-ca', secret: { secretName: 'redis-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
      expect(egressPorts(docs, component), component).toEqual(expect.arrayContaining([26379, 6379]));
    }
    expect(envOf(container(docs, 'server').c)).toMatchObject({ REDIS_ACK_REPLICAS: '1', REDIS_ACK_TIMEOUT_MS: '1000' });
    expect(egressPorts(render([]), 'server')).not.toContain(26379);
  });

  it('cluster: REDIS_CLUSTER_NODES and STREAM_SHARDS; without shards the chart refuses to render', () => {
    const docs = render(['ci/cluster-keda-values.yaml']);
    for (const component of ['server', 'consumer']) {
      expect(envOf(container(docs, component).c), component).toMatchObject({
        REDIS_CLUSTER_NODES: 'redis-cluster-0.redis.svc:6379,redis-cluster-1.redis.svc:6379,redis-cluster-2.redis.svc:6379',
        STREAM_SHARDS: '3',
      });
    }
    expect(failure(['redis.streamShards=0'], ['ci/cluster-keda-values.yaml'])).toContain('redis.external.mode cluster needs redis.streamShards');
  });

  it('refuses a sentinel mode without Sentinels and an unknown mode, by the values schema', () => {
    expect(failure(['redis.enabled=false', 'redis.external.mode=sentinel', 'redis.external.sentinelName=x'])).toMatch(/sentinels/);
    expect(failure(['redis.enabled=false', 'redis.external.mode=replicated'])).toMatch(/mode/);
  });
});

describe('PostgreSQL on CloudNativePG or a managed service', () => {
  it('gives the server the read URL (DATABASE_READ_URL) from the Secret and mounts the CA for verify-full', () => {
    const docs = render(['ci/sentinel-cnpg-keda-values.yaml']);
    const server = container(docs, 'server');
    const read = server.c.env.find((e: K8s) => e.name === 'DATABASE_READ_URL');
    expect(read.valueFrom.secretKeyRef.key).toBe('database-server-read-url');
    expect(envOf(container(docs, 'consumer').c).DATABASE_READ_URL).toBeUndefined();
    for (const component of ['server', 'consumer']) {
      expect(container(docs, component).c.volumeMounts, component).toContainEqual({ name: 'postgres-ca', mountPath: '/etc/livevote/postgres-ca', readOnly: true });
    }
  });

  it('checks the connection budget against max_connections; a read URL\'s pool is not the primary\'s', () => {
    // Bundled: 10 server pods x 10 + 4 consumer pods x 4 + 1 + 10 = 127 of 200.
    expect(failure([])).toBeNull();
    expect(failure(['server.autoscaling.maxReplicas=17'])).toBeNull();
    expect(failure(['server.autoscaling.maxReplicas=18'])).toContain('PostgreSQL connection budget: 207 needed on the primary');
    expect(failure(['consumer.databasePoolMax=40'])).toContain('consumer 4 pods x 40');
    // Stream shards: a consumer holds one connection per shard loop plus one.
    expect(failure(['redis.streamShards=8', 'consumer.autoscaling.maxReplicas=12'])).toContain('consumer 12 pods x 9');
    // External: 0 means not checked; the read URL's pool (on the replicas) is not counted against the primary.
    const cnpg = ['ci/sentinel-cnpg-keda-values.yaml'];
    expect(failure([], cnpg)).toBeNull();
    expect(failure(['postgresql.external.maxConnections=100'], cnpg)).toContain('needed on the primary');
    expect(failure(['postgresql.external.maxConnections=150', 'consumer.databasePoolMax=1'], cnpg)).toBeNull();
    expect(failure(['server.databasePoolMax=18', 'consumer.autoscaling.maxReplicas=2', 'postgresql.reservedConnections=5'], cnpg)).toBeNull();
    expect(failure(['postgresql.external.maxConnections=0', 'server.autoscaling.maxReplicas=100'], cnpg)).toBeNull();
  });
});

describe('bundled data stores', () => {
  it('each has a PodDisruptionBudget (minAvailable 1) selecting its one pod, unless turned off', () => {
    const docs = render([]);
    const pdbs = only(docs, 'PodDisruptionBudget');
    for (const component of ['redis', 'postgresql']) {
      const w = workloads(docs).find((x) => x.component === component)!;
      const mine = pdbs.filter((p) => p.metadata.namespace === w.namespace && selects(p.spec.selector, w.podLabels));
      expect(mine.map((p) => p.spec), component).toEqual([{ minAvailable: 1, selector: expect.anything() }]);
    }
    const off = only(render([], ['redis.pdb.enabled=false', 'postgresql.pdb.enabled=false']), 'PodDisruptionBudget');
    expect(off.map((p) => p.metadata.labels['app.kubernetes.io/component']).sort()).toEqual(['client', 'consumer', 'server']);
  });
});
