/** Wrong values must fail `helm template` with a message that names the problem. */
import { describe, expect, it } from 'vitest';
import { helm, templateArgs } from './lib.ts';

const rejected: [string, string[], RegExp][] = [
  ['an unknown top-level key', ['replicas=3'], /additional properties 'replicas' not allowed/],
  ['an unknown nested key (a typo)', ['server.replicaCont=3'], /additional properties 'replicaCont' not allowed/],
  ['zero replicas', ['server.replicaCount=0'], /\/server\/replicaCount/],
  ['a Redis fsync policy that can lose more than a second', ['redis.appendfsync=no'], /\/redis\/appendfsync/],
  ['a rate limit switch other than on/off', ['server.rateLimit=maybe'], /\/server\/rateLimit/],
  ['a malformed image digest', ['server.image.digest=sha256:abc'], /\/server\/image\/digest/],
  ['an image pull policy Kubernetes does not know', ['client.image.pullPolicy=Sometimes'], /\/client\/image\/pullPolicy/],
  ['a string where a number belongs', ['consumer.batchSize=lots'], /\/consumer\/batchSize/],
  ['a batch size the consumer refuses', ['consumer.batchSize=20000'], /\/consumer\/batchSize/],
  ['an SSE tick of zero', ['server.sseTickMs=0'], /\/server\/sseTickMs/],
  ['a log level pino does not know', ['server.logLevel=verbose'], /\/server\/logLevel/],
  ['a CPU target over 100%', ['client.autoscaling.targetCPUUtilizationPercentage=150'], /targetCPUUtilizationPercentage/],
  ['a non-URL public URL', ['publicUrl=vote.example.com'], /\/publicUrl/],
  ['a namespace name Kubernetes refuses', ['namespaces.api=API_Layer'], /\/namespaces\/api/],
  ['a Redis key prefix the services refuse', ['redisPrefix=lv votes'], /\/redisPrefix/],
  ['an external Redis URL with another scheme', ['redis.enabled=false', 'redis.external.serverUrl=http://r:6379'], /\/redis\/external\/serverUrl/],
  ['an external PostgreSQL URL with another scheme', ['postgresql.enabled=false', 'postgresql.external.serverUrl=mysql://db/x'], /\/postgresql\/external\/serverUrl/],
  ['an unknown migration hook', ['migrations.hookEvents={pre-rollback}'], /\/migrations\/hookEvents/],
  ['a malformed volume size', ['redis.persistence.size=lots'], /\/redis\/persistence\/size/],
  ['a TLS-less Gateway hostname with a scheme', ['gateway.hostname=https://vote.example.com'], /\/gateway\/hostname/],
  ['an HTTPRoute with neither our Gateway nor parentRefs', ['gateway.enabled=false'], /\/gateway\/enabled|allOf/],
  ['an HPA whose minimum is above its maximum', ['server.autoscaling.minReplicas=5', 'server.autoscaling.maxReplicas=3'], /minReplicas \(5\) is above maxReplicas \(3\)/],
  ['two layers in one namespace without namespaces.single', ['namespaces.api=shared', 'namespaces.consumer=shared'], /namespaces.api and namespaces.consumer are both "shared"/],
  ['external Redis without its URLs', ['redis.enabled=false'], /redis.external.serverUrl \(or credentials.existingSecret\) is required/],
  ['external PostgreSQL without the migrator URL', ['postgresql.enabled=false', 'postgresql.external.serverUrl=postgres://a:b@h/d', 'postgresql.external.consumerUrl=postgres://a:b@h/d'], /postgresql.external.migratorUrl .* is required/],
];

const accepted: [string, string[]][] = [
  ['appendfsync everysec', ['redis.appendfsync=everysec']],
  ['a digest-pinned image', [`server.image.digest=sha256:${'a'.repeat(64)}`]],
  ['rate limiting off', ['server.rateLimit=off']],
  ['an existing Secret instead of generated credentials', ['credentials.existingSecret=my-credentials']],
  ['a pre-install migration hook for an external, pre-provisioned database', ['migrations.hookEvents={pre-install,pre-upgrade}']],
];

describe('values.schema.json and the chart\'s own checks', () => {
  for (const [what, sets, message] of rejected) {
    it(`rejects ${what}`, () => {
      const r = helm(templateArgs([], sets));
      expect(r.status, `helm template --set ${sets.join(' --set ')} should fail`).not.toBe(0);
      expect(r.stderr).toMatch(message);
    });
  }
  for (const [what, sets] of accepted) {
    it(`accepts ${what}`, () => {
      const r = helm(templateArgs([], sets));
      expect(r.status, r.stderr).toBe(0);
    });
  }
});
