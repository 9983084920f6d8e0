/**
 * The cats' share over the current round, as the presenter saw it: one point per tally that moved
 * the numbers. It starts when the page opens (or the round does); what came before is not known
 * to the browser. A new round starts it over; hidden results add nothing (there are no numbers).
 */
import { shares } from './tally-format.ts';
import type { Tally } from './tally.ts';

export interface SharePoint {
  /** ms since the epoch */
  at: number;
  /** the cats' share, 0–100 */
  cats: number;
  total: number;
}

export class ShareHistory {
  readonly maxPoints: number;
  round: number | null = null;
  points: SharePoint[] = [];

  constructor(maxPoints = 240) {
    this.maxPoints = maxPoints;
  }

  /** True when the history changed. */
  add(t: Tally, at: number): boolean {
    if (t.round !== this.round) {
      this.round = t.round;
      this.points = [];
    }
    if (t.results === 'hidden' || t.total === 0) return false;
    const last = this.points.at(-1);
    if (last && last.total === t.total) return false;
    this.points.push({ at, cats: shares(t.cats, t.dogs).cats, total: t.total });
    // Past the cap, every other old point goes: the line keeps its shape over the whole round.
    if (this.points.length > this.maxPoints) this.points = this.points.filter((_, i) => i % 2 === 0 || i === this.points.length - 1);
    return true;
  }
}

/** The SVG `points` of a polyline in a `width` × `height` box: time across, the share up (100 % at the top). */
export function chartPoints(points: readonly SharePoint[], width: number, height: number): string {
  if (points.length === 0) return '';
  const first = points[0]!.at;
  const span = Math.max(1, points.at(-1)!.at - first);
  const xy = (p: SharePoint) => {
    const x = points.length === 1 ? width : ((p.at - first) / span) * width;
    const y = height - (p.cats / 100) * height;
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  };
  // A single point is drawn as a flat line across, so it is visible.
  return points.length === 1 ? `0,${xy(points[0]!).split(',')[1]} ${xy(points[0]!)}` : points.map(xy).join(' ');
}
