/** Numbers and words shown for a tally: thousand separators, whole percentages that add up to 100. */
import type { Tally, VoteOption } from './tally.ts';

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });

/** No-break space between a number and its unit, so "62 %" never wraps. */
export const NBSP = '\u00a0';

/** 1204 → "1,204". Non-finite or negative input shows as "0". */
export function formatCount(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '0';
  return integer.format(Math.floor(n));
}

/** 2.345 → "2.3"; used for votes per second. */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond < 0) return '0.0';
  return perSecond >= 100 ? integer.format(Math.round(perSecond)) : oneDecimal.format(perSecond);
}

/** "1 vote", "1,204 votes". */
export function formatVotes(n: number): string {
  return `${formatCount(n)} ${n === 1 ? 'vote' : 'votes'}`;
}

export type Shares = Record<VoteOption, number>;

/**
 * Whole percentages by the largest-remainder method, so the two always add up to exactly 100
 * (plain rounding of 50.5/49.5 gives 51 + 50). No votes at all gives 0 and 0.
 */
export function percentages(cats: number, dogs: number): Shares {
  const c = Math.max(0, cats);
  const d = Math.max(0, dogs);
  const total = c + d;
  if (total === 0) return { cats: 0, dogs: 0 };
  const exactCats = (c * 100) / total;
  const exactDogs = (d * 100) / total;
  let pc = Math.floor(exactCats);
  let pd = Math.floor(exactDogs);
  const left = 100 - pc - pd; // 0 or 1 for two options
  if (left > 0) {
    const fc = exactCats - pc;
    const fd = exactDogs - pd;
    // Equal remainders (50.5 / 49.5) go to the option with more votes.
    if (fc > fd || (fc === fd && c >= d)) pc += left;
    else pd += left;
  }
  return { cats: pc, dogs: pd };
}

/** Exact shares (0–100, fractional) for bar lengths. */
export function shares(cats: number, dogs: number): Shares {
  const total = Math.max(0, cats) + Math.max(0, dogs);
  if (total === 0) return { cats: 0, dogs: 0 };
  return { cats: (Math.max(0, cats) * 100) / total, dogs: (Math.max(0, dogs) * 100) / total };
}

export function formatPercent(p: number): string {
  return `${formatCount(p)}${NBSP}%`;
}

/** What the polite live region reads: "Cats 62 %, Dogs 38 %, 1,204 votes". */
export function tallySummary(t: Pick<Tally, 'cats' | 'dogs' | 'total'>): string {
  if (t.total === 0) return 'No votes yet';
  const p = percentages(t.cats, t.dogs);
  return `Cats ${formatPercent(p.cats)}, Dogs ${formatPercent(p.dogs)}, ${formatVotes(t.total)}`;
}

/** "https://vote.example.org/" → "vote.example.org": the short form printed next to the QR code. */
export function shortUrl(url: string): string {
  try {
    const u = new URL(url);
    const path = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
    return `${u.host}${path}${u.search}`;
  } catch {
    return url.replace(/^https?:\/\//, '').replace(/\/$/, '');
  }
}
