import type { Results, RoundTally } from '@livevote/contract';

export interface CastOutcome {
  status: number;
  id?: string;
  retryAfter?: string | null;
  ms: number;
}

/** POSTs one vote the way the voter page does. */
export async function castVote(baseUrl: string, option: string, key?: string, timeoutMs = 5000): Promise<CastOutcome> {
  const t0 = performance.now();
  try {
    const res = await fetch(`${baseUrl}/api/vote`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
      body: JSON.stringify({ option }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json().catch(() => ({}))) as { id?: string };
    return { status: res.status, ...(body.id ? { id: body.id } : {}), retryAfter: res.headers.get('retry-after'), ms: performance.now() - t0 };
  } catch {
    return { status: 0, ms: performance.now() - t0 };
  }
}

/** Casts `n` votes with `concurrency` in flight, alternating options unless told otherwise. */
export async function castMany(
  baseUrl: string,
  n: number,
  concurrency: number,
  option: (i: number) => string = (i) => (i % 3 === 0 ? 'dogs' : 'cats'),
): Promise<CastOutcome[]> {
  const out: CastOutcome[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await castVote(baseUrl, option(i));
      }
    }),
  );
  return out;
}

/** `GET /api/results` as served: numbers are null while the round's results are hidden. */
export async function publicResults(baseUrl: string): Promise<Results> {
  const res = await fetch(`${baseUrl}/api/results`, { signal: AbortSignal.timeout(5000) });
  if (res.status !== 200) throw new Error(`GET /api/results answered ${res.status}`);
  return (await res.json()) as Results;
}

/** `GET /api/results` of a round whose results are shown; throws while they are hidden. */
export async function results(baseUrl: string): Promise<RoundTally> {
  const r = await publicResults(baseUrl);
  if (r.cats === null || r.dogs === null || r.total === null) throw new Error(`round ${r.round}'s results are hidden: GET /api/results has no numbers`);
  return { ...r, cats: r.cats, dogs: r.dogs, total: r.total };
}
