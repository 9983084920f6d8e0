/**
 * The names the chart's alerts and dashboard query must be names the services really export.
 * Starts the real server and consumer (scripts/stack.ts) on a fresh database and Redis prefix,
 * makes every labelled series exist (accepted and rejected votes, a refused SSE connection, a
 * dead-lettered entry, PostgreSQL errors in both services), scrapes both /metrics endpoints, and
 * checks every livevote_* name of the rendered PrometheusRule and dashboard against them.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { redisKeys } from '@livevote/contract';
import { createTestEnv, startStack, type Stack, type TestEnv, TallyWatcher, castVote, results } from '@livevote/harness';
import { dashboardOf, dashboardQueries, dashboardVariableQueries, livevoteNames, renderMonitoring, ruleQueries, type Query } from '../chart/test/monitoring-lib.ts';

let env: TestEnv;
let stack: Stack;
let redis: Redis;
let watcher: TallyWatcher | undefined;

beforeAll(async () => {
  env = await createTestEnv('metrics_names');
  // One SSE stream per address, so a second one is refused and that labelled counter gets a series.
  stack = await startStack({ ...env, env: { RATE_LIMIT: 'off' }, serverEnv: { SSE_MAX_PER_IP: '1' } });
  redis = new Redis(env.redisUrl);
});
afterAll(async () => {
  watcher?.close();
  redis?.disconnect();
  await stack?.stop();
  await env?.cleanup();
});

interface Exposition {
  /** Names of the samples present, e.g. livevote_sse_vote_to_frame_seconds_bucket. */
  samples: Set<string>;
  /** Metric family name -> type, from the # TYPE lines. */
  types: Map<string, string>;
}

/** Reads the Prometheus text exposition format: sample names and declared types. */
function parseExposition(text: string): Exposition {
  const samples = new Set<string>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? \S+/.exec(line);
    if (sample) samples.add(sample[1]!);
  }
  return { samples, types };
}

/**
 * Why a name a query uses is not in the scrape, or null when it is. A name must have samples:
 * a histogram's shows as <name>_bucket, _sum and _count, and a family that is only declared
 * (# TYPE without a sample) would show nothing on the dashboard.
 */
function missingReason(name: string, scraped: Exposition): string | null {
  if (scraped.samples.has(name)) return null;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  const type = scraped.types.get(name) ?? scraped.types.get(base);
  if (type === 'histogram' && name === base) return `${name} is a histogram: query ${name}_bucket, _sum or _count`;
  if (type) return `${name} is declared (${type}) but has no samples`;
  return `${name} is not exported by the server or the consumer`;
}

async function scrape(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
  expect(res.status, `${baseUrl}/metrics`).toBe(200);
  return res.text();
}

const counterValue = (text: string, name: string, labels = ''): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ')[1]) : 0;
};

it('finds every livevote_* metric named by the alerts and the dashboard in the running services\' /metrics', async () => {
  const keys = redisKeys(env.redisPrefix);
  const consumerUrl = new URL(stack.consumers[0]!.options.readyUrl).origin;

  // The live path: one watcher gets a frame after the votes, so vote-to-frame is observed.
  watcher = new TallyWatcher(stack.url);
  await expect.poll(() => watcher!.frames.length, { message: 'the first SSE tally', timeout: 15_000 }).toBeGreaterThan(0);
  const refused = await fetch(`${stack.url}/api/stream`, { signal: AbortSignal.timeout(5000) });
  expect(refused.status, 'a second stream from the same address is refused').toBe(429);
  await refused.body?.cancel();

  for (const option of ['cats', 'dogs', 'cats']) expect((await castVote(stack.url, option)).status).toBe(202);
  expect((await castVote(stack.url, 'hamsters')).status).toBeGreaterThanOrEqual(400);
  await expect.poll(() => (watcher!.latest?.total ?? 0), { message: 'a frame with the three votes', timeout: 15_000 }).toBeGreaterThanOrEqual(3);

  // A malformed entry straight into the stream: the consumer dead-letters it.
  await redis.xadd(keys.votes, '*', 'garbage', 'x');
  await expect.poll(() => redis.xlen(keys.deadLetter), { message: 'one dead-lettered entry', timeout: 15_000 }).toBeGreaterThanOrEqual(1);

  // PostgreSQL failing under both services: the relations they name disappear for a moment (a
  // view follows a renamed table, so the server's view and the consumer's table go themselves).
  const db = new pg.Client({ connectionString: env.databaseUrl });
  await db.connect();
  try {
    await db.query('ALTER VIEW current_round RENAME TO current_round_hidden; ALTER TABLE tally_shards RENAME TO tally_shards_hidden');
    // The server keeps answering with the last known tally, marked stale (past its 250 ms cache).
    await expect
      .poll(async () => ((await (await fetch(`${stack.url}/api/results`, { signal: AbortSignal.timeout(5000) })).json()) as { stale?: boolean }).stale, {
        message: 'results without PostgreSQL marked stale',
        timeout: 15_000,
      })
      .toBe(true);
    await redis.xadd(keys.votes, '*', 'vid', `metrics-names-${Date.now()}`, 'option', 'dogs', 'ts', String(Date.now()));
    await expect
      .poll(async () => counterValue(await scrape(consumerUrl), 'livevote_consumer_errors_total', 'dependency="postgres"'), {
        message: 'the consumer counting a PostgreSQL error',
        timeout: 15_000,
      })
      .toBeGreaterThan(0);
  } finally {
    await db
      .query('ALTER VIEW IF EXISTS current_round_hidden RENAME TO current_round; ALTER TABLE IF EXISTS tally_shards_hidden RENAME TO tally_shards')
      .finally(() => db.end());
  }
  await expect.poll(async () => (await results(stack.url)).total, { message: 'the held-back vote counted once PostgreSQL is back', timeout: 15_000 }).toBe(4);

  const serverText = await scrape(stack.opsUrl);
  const consumerText = await scrape(consumerUrl);
  const server = parseExposition(serverText);
  const consumer = parseExposition(consumerText);
  // The scrape itself is what we think it is: each service's own metrics, with the series made above.
  expect(counterValue(serverText, 'livevote_votes_accepted_total', 'option="cats"')).toBe(2);
  expect(counterValue(consumerText, 'livevote_consumer_dead_lettered_total', 'reason="invalid"')).toBeGreaterThanOrEqual(1);
  expect(counterValue(serverText, 'livevote_sse_vote_to_frame_seconds_count')).toBeGreaterThan(0);
  expect(counterValue(serverText, 'livevote_server_dependency_errors_total', 'dependency="postgres"')).toBeGreaterThan(0);
  expect(server.samples.has('livevote_server_nodejs_eventloop_lag_seconds')).toBe(true);
  expect(consumer.samples.has('livevote_consumer_nodejs_eventloop_lag_seconds')).toBe(true);

  const both: Exposition = {
    samples: new Set([...server.samples, ...consumer.samples]),
    types: new Map([...server.types, ...consumer.types]),
  };
  const docs = renderMonitoring();
  const dash = dashboardOf(docs);
  const queries: Query[] = [...ruleQueries(docs), ...dashboardQueries(dash), ...dashboardVariableQueries(dash)];
  const used = new Map<string, string[]>();
  for (const q of queries) for (const n of livevoteNames(q.expr)) used.set(n, [...(used.get(n) ?? []), q.where]);
  expect(used.size, 'names found in the alerts and dashboard').toBeGreaterThan(20);

  const missing = [...used].flatMap(([name, where]) => {
    const why = missingReason(name, both);
    return why ? [`${why} (used by ${where.join(', ')})`] : [];
  });
  expect(missing).toEqual([]);
});

it('tells a misspelt, a bare histogram and a declared-only name apart from a real one', () => {
  const scraped = parseExposition([
    '# TYPE livevote_x_total counter', 'livevote_x_total 1',
    '# TYPE livevote_h_seconds histogram', 'livevote_h_seconds_bucket{le="0.1"} 0', 'livevote_h_seconds_sum 0', 'livevote_h_seconds_count 0',
    '# TYPE livevote_l_total counter',
  ].join('\n'));
  expect(missingReason('livevote_x_total', scraped)).toBeNull();
  expect(missingReason('livevote_h_seconds_bucket', scraped)).toBeNull();
  expect(missingReason('livevote_h_seconds_count', scraped)).toBeNull();
  expect(missingReason('livevote_x_totl', scraped)).toMatch(/not exported/);
  expect(missingReason('livevote_h_seconds', scraped)).toMatch(/is a histogram/);
  expect(missingReason('livevote_l_total', scraped)).toMatch(/no samples/);
});
