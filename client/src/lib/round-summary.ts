/** What the presenter says when voting closes: the winner (or a tie) and the totals. */
import { formatPercent, formatVotes, percentages } from './tally-format.ts';
import { OPTION_LABEL, type Tally, type VoteOption } from './tally.ts';

export interface RoundSummary {
  winner: VoteOption | 'tie';
  headline: string;
  detail: string;
}

/** Null while voting is open, while results are hidden (nothing to tell yet), or with no votes. */
export function roundSummary(t: Tally): RoundSummary | null {
  if (t.voting !== 'closed' || t.results !== 'shown' || t.total === 0) return null;
  const p = percentages(t.cats, t.dogs);
  const detail = `Cats ${formatPercent(p.cats)} (${formatVotes(t.cats)}) · Dogs ${formatPercent(p.dogs)} (${formatVotes(t.dogs)}) · ${formatVotes(t.total)} in all`;
  if (t.cats === t.dogs) return { winner: 'tie', headline: `Round ${t.round}: a tie!`, detail };
  const winner: VoteOption = t.cats > t.dogs ? 'cats' : 'dogs';
  return { winner, headline: `Round ${t.round}: ${OPTION_LABEL[winner]} win!`, detail };
}
