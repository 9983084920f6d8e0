import type { Results, RoundTally } from '@livevote/contract';

/**
 * What a public route may show of the current round: everything but the numbers while its
 * results are hidden, and then no seq or time that moves with votes either (counting frames or
 * seq steps would count the votes). Every public answer (GET /api/results, each SSE frame) goes
 * through here, so hidden numbers never leave the server.
 */
export function publicResults(t: RoundTally): Results {
  const hidden = t.results === 'hidden';
  return {
    round: t.round,
    voting: t.voting,
    results: t.results,
    cats: hidden ? null : t.cats,
    dogs: hidden ? null : t.dogs,
    total: hidden ? null : t.total,
    // While hidden, the seq and time of the last host change: a batch of votes moves neither.
    seq: hidden ? (t.changedSeq ?? t.seq) : t.seq,
    updatedAt: hidden ? (t.changedAt ?? t.updatedAt) : t.updatedAt,
  };
}

/**
 * Whether `next` shows the public anything `prev` did not. While results are hidden only a host
 * change does: a batch of votes moves nothing public, so nothing may treat it as news.
 */
export function publiclyDifferent(prev: RoundTally, next: RoundTally): boolean {
  const a = publicResults(prev);
  const b = publicResults(next);
  return (Object.keys(a) as (keyof Results)[]).some((k) => a[k] !== b[k]);
}
