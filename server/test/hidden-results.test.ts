import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { HostRound, VoteStatus, type Results } from '@livevote/contract';
import { castVote, createTestEnv, publicResults, startStack, streamFrames, type Stack, type TestEnv } from '@livevote/harness';

let env: TestEnv;
let stack: Stack;

beforeAll(async () => {
  env = await createTestEnv('hidden_results');
  // No results cache: every GET /api/results below is what PostgreSQL says now, so an answer
  // that did not move is not an old one served from memory.
  stack = await startStack({ ...env, env: { RATE_LIMIT: 'off' }, serverEnv: { RESULTS_CACHE_MS: '0' } });
});
afterAll(async () => {
  await stack?.stop();
  await env?.cleanup();
});

/** A host route with the token; `body` as JSON. */
async function asHost(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${stack.hostToken}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${stack.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  expect(res.status, `${method} ${path}`).toBeLessThan(300);
  return res;
}
const hostView = async () => HostRound.parse(await (await asHost('GET', '/api/host/round')).json());
const voteStatus = async (id: string) => VoteStatus.parse(await (await fetch(`${stack.url}/api/vote/${id}`)).json());

/** Casts one vote and waits until the host view shows it counted: one consumer batch per call. */
async function castCounted(option: 'cats' | 'dogs'): Promise<{ id: string; hostSeq: number }> {
  const before = await hostView();
  const cast = await castVote(stack.url, option);
  expect(cast.status).toBe(202);
  const counted = await vi.waitFor(
    async () => {
      const now = await hostView();
      expect(now.total).toBe(before.total + 1);
      return now;
    },
    { timeout: 10_000, interval: 20 },
  );
  return { id: cast.id!, hostSeq: counted.seq };
}

it('counts batches while hidden with nothing public moving (results, SSE ids and frames, a resumed stream, vote status), then reveals above every hidden seq', async () => {
  await asHost('POST', '/api/host/rounds', { results: 'hidden' });
  const before = await publicResults(stack.url);
  expect(before).toMatchObject({ results: 'hidden', cats: null, dogs: null, total: null });
  const watcher = await streamFrames(stack.url);
  let resumed: Awaited<ReturnType<typeof streamFrames>> | undefined;
  try {
    await vi.waitFor(() => expect(watcher.frames).toHaveLength(1), { timeout: 5000 });
    expect(watcher.frames[0]).toEqual({ id: before.seq, data: before });

    const hostSeqs = [(await hostView()).seq];
    const votes: string[] = [];
    for (const option of ['cats', 'dogs', 'cats'] as const) {
      const { id, hostSeq } = await castCounted(option);
      votes.push(id);
      hostSeqs.push(hostSeq);
      const res = await fetch(`${stack.url}/api/results`);
      expect(res.headers.get('etag')).toBeNull();
      expect(await res.json()).toEqual(before);
    }
    // Three batches moved the real seq three times; none of it showed.
    expect(hostSeqs).toEqual([...hostSeqs].sort((a, b) => a - b));
    expect(new Set(hostSeqs).size).toBe(4);
    for (const id of votes) expect(await voteStatus(id)).toEqual({ id, counted: true, round: before.round });

    // A browser coming back with the id it holds gets that same frame: nothing moved, nothing went back.
    resumed = await streamFrames(stack.url, { lastEventId: before.seq });
    await vi.waitFor(() => expect(resumed!.frames).toHaveLength(1), { timeout: 5000 });
    expect(resumed.frames[0]).toEqual({ id: before.seq, data: before });

    // The barrier: a host change is the very next frame, so no batch wrote one before it.
    await asHost('PATCH', '/api/host/round', { voting: 'closed' });
    await vi.waitFor(() => expect(watcher.frames.at(-1)?.data.voting).toBe('closed'), { timeout: 5000 });
    const closed = watcher.frames.at(-1)!;
    expect(watcher.frames.map((f) => f.id)).toEqual([before.seq, closed.id]);
    expect(watcher.others).toBe(0);
    expect(closed.id).toBeGreaterThan(before.seq);
    expect(closed.data).toMatchObject({ results: 'hidden', voting: 'closed', cats: null, seq: closed.id });
    expect(Date.parse(closed.data.updatedAt)).toBeGreaterThanOrEqual(Date.parse(before.updatedAt));
    expect(await publicResults(stack.url)).toEqual(closed.data);
    await vi.waitFor(() => expect(resumed!.frames.map((f) => f.id)).toEqual([before.seq, closed.id]), { timeout: 5000 });

    // The reveal: the numbers, with a seq above every hidden one and every batch's.
    await asHost('PATCH', '/api/host/round', { results: 'shown' });
    await vi.waitFor(() => expect(watcher.frames.at(-1)?.data.results).toBe('shown'), { timeout: 5000 });
    const shown: { id: number; data: Results } = watcher.frames.at(-1)!;
    expect(watcher.frames).toHaveLength(3);
    expect(shown.data).toMatchObject({ cats: 2, dogs: 1, total: 3, seq: shown.id });
    expect(shown.id).toBeGreaterThan(Math.max(closed.id, ...hostSeqs));
    expect(Date.parse(shown.data.updatedAt)).toBeGreaterThanOrEqual(Date.parse(closed.data.updatedAt));
    for (const id of votes) {
      const status = await voteStatus(id);
      expect(status).toMatchObject({ counted: true, round: before.round });
      expect(status.seq).toBeLessThanOrEqual(shown.id);
    }
  } finally {
    await watcher.stop();
    await resumed?.stop();
  }
});

it('a round that ended hidden keeps its votes\' seq to itself, also once the next round runs', async () => {
  await asHost('POST', '/api/host/rounds', { results: 'hidden' });
  const { round } = await hostView();
  // Two of one voter's votes with another batch between them: their seqs would count it.
  const first = await castCounted('cats');
  await castCounted('dogs');
  const last = await castCounted('cats');
  await asHost('POST', '/api/host/rounds');
  expect(await hostView()).toMatchObject({ round: round + 1, results: 'shown' });
  for (const { id } of [first, last]) expect(await voteStatus(id)).toEqual({ id, counted: true, round });
  // A vote of a round that is shown has its seq, as before.
  const open = await castCounted('dogs');
  expect(await voteStatus(open.id)).toEqual({ id: open.id, counted: true, seq: open.hostSeq, round: round + 1 });
});
