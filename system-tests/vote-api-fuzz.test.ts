import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestEnv, startStack, type Stack, type TestEnv } from '@livevote/harness';
import { figure } from './faults/figures.ts';

let env: TestEnv;
let stack: Stack;
beforeAll(async () => {
  env = await createTestEnv('fault_fuzz');
  stack = await startStack({ ...env, env: { RATE_LIMIT: 'off' } });
});
afterAll(async () => {
  await stack?.stop();
  await env?.cleanup();
});

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;

// Mostly JSON, so most bodies reach the parser and the schema rather than stopping at 415.
const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8') },
  { weight: 3, arbitrary: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/vnd.api+json', 'application/json; charset=latin1', '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);
const body = fc.oneof(
  { weight: 3, arbitrary: fc.json({ maxDepth: 4 }) },
  { weight: 2, arbitrary: fc.record({ option: fc.oneof(fc.constantFrom('cats', 'dogs', 'CATS', 'cat', ''), fc.string(), fc.integer(), fc.constant(null)) }, { requiredKeys: [] }).map((o) => JSON.stringify(o)) },
  { weight: 2, arbitrary: fc.string({ maxLength: 2000 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4096 }).map((b) => Buffer.from(b).toString('latin1')) },
  // Big bodies, up to 2 MB: cheap to generate, they must be refused without being buffered.
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1025, max: 2 * 1024 * 1024 }), fc.constantFrom('{"option":"cats","pad":"', 'x')).map(([n, head]) => head + 'a'.repeat(n)) },
);

it('10,000 generated bodies, content types and sizes up to 2 MB: only 202/400/413/415/422, no 5xx, memory bounded', async () => {
  const pid = stack.server.pid!;
  const rssBefore = rssMb(pid);
  const seen = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(contentType, body, fc.option(fc.string({ maxLength: 140 }), { nil: undefined }), async (ct, payload, key) => {
      const headers: Record<string, string> = {};
      if (ct) headers['content-type'] = ct;
      if (key !== undefined && /^[\x20-\x7e]*$/.test(key)) headers['idempotency-key'] = key;
      const res = await fetch(`${stack.url}/api/vote`, { method: 'POST', headers, body: payload });
      await res.arrayBuffer();
      seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
      expect([202, 400, 413, 415, 422]).toContain(res.status);
    }),
    { numRuns: 10_000 },
  );
  const rssAfter = rssMb(pid);
  expect(stack.server.running).toBe(true);
  expect((await fetch(`${stack.url}/readyz`)).status).toBe(200);
  figure('fuzzing POST /api/vote', { runs: 10_000, statuses: Object.fromEntries(seen), rssBeforeMb: Math.round(rssBefore), rssAfterMb: Math.round(rssAfter) });
  expect(rssAfter - rssBefore).toBeLessThan(150);
});
