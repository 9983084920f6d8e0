import { describe, expect, it } from 'vitest';
import {
  GAVE_UP_MESSAGE,
  INITIAL_VOTE_STATE,
  isBusy,
  voteStatusText,
  voteTransition,
  waitSeconds,
  type VoteEvent,
  type VoteState,
} from './vote-machine.ts';
import type { SendOutcome } from './vote-sender.ts';

const T0 = 1_700_000_000_000;
const tap = (option: 'cats' | 'dogs', key: string, now = T0): VoteEvent => ({ type: 'tap', option, key, now });
const settled = (outcome: SendOutcome, now = T0): VoteEvent => ({ type: 'settled', outcome, now });
const run = (events: VoteEvent[], from: VoteState = INITIAL_VOTE_STATE): VoteState => events.reduce(voteTransition, from);

const sending: VoteState = { phase: 'sending', option: 'cats', key: 'key-1' };
const retrying: VoteState = { phase: 'retrying', option: 'cats', key: 'key-1', attempt: 2 };
const sent: VoteState = { phase: 'sent', option: 'cats', id: 'vote-1' };
const counted: VoteState = { phase: 'counted', option: 'cats' };
const failed: VoteState = { phase: 'failed', option: 'cats', message: 'nope' };
const limited: VoteState = { phase: 'rate-limited', until: T0 + 10_000 };

describe('vote state machine: tap', () => {
  it('starts in idle, and a tap sends with that tap’s Idempotency-Key', () => {
    expect(INITIAL_VOTE_STATE).toEqual({ phase: 'idle' });
    expect(voteTransition(INITIAL_VOTE_STATE, tap('dogs', 'key-A'))).toEqual({ phase: 'sending', option: 'dogs', key: 'key-A' });
  });

  it.each([
    ['sent', sent],
    ['counted', counted],
    ['failed', failed],
  ] as const)('a tap after %s starts a new vote with the new key', (_name, from) => {
    expect(voteTransition(from, tap('dogs', 'key-B'))).toEqual({ phase: 'sending', option: 'dogs', key: 'key-B' });
  });

  it.each([
    ['sending', sending],
    ['retrying', retrying],
  ] as const)('a tap while %s is ignored (same object back)', (_name, from) => {
    expect(voteTransition(from, tap('dogs', 'key-B'))).toBe(from);
  });

  it('a tap during a 429 wait is ignored, and accepted once the wait is over', () => {
    expect(voteTransition(limited, tap('cats', 'key-C', T0 + 9_999))).toBe(limited);
    expect(voteTransition(limited, tap('cats', 'key-C', T0 + 10_000))).toEqual({ phase: 'sending', option: 'cats', key: 'key-C' });
  });
});

describe('vote state machine: retry with the same Idempotency-Key', () => {
  it('sending → retrying → retrying keeps the option and the key of the tap', () => {
    const s = run([tap('cats', 'key-same'), { type: 'retry', attempt: 1 }, { type: 'retry', attempt: 2 }]);
    expect(s).toEqual({ phase: 'retrying', option: 'cats', key: 'key-same', attempt: 2 });
  });

  it('a retry is accepted after the retries, still for the key of the tap', () => {
    const s = run([tap('cats', 'key-same'), { type: 'retry', attempt: 1 }, settled({ kind: 'accepted', id: 'key-same', attempts: 2, replayed: true })]);
    expect(s).toEqual({ phase: 'sent', option: 'cats', id: 'key-same' });
  });

  it.each([
    ['idle', INITIAL_VOTE_STATE],
    ['sent', sent],
    ['counted', counted],
    ['rate-limited', limited],
    ['failed', failed],
  ] as const)('a late retry while %s is ignored', (_name, from) => {
    expect(voteTransition(from, { type: 'retry', attempt: 3 })).toBe(from);
  });
});

describe('vote state machine: settled', () => {
  for (const [name, from] of [['sending', sending], ['retrying', retrying]] as const) {
    it(`${name} + accepted → sent, with the vote id`, () => {
      expect(voteTransition(from, settled({ kind: 'accepted', id: 'vote-9', attempts: 1, replayed: false }))).toEqual({ phase: 'sent', option: 'cats', id: 'vote-9' });
    });
    it(`${name} + rate-limited → rate-limited until now + Retry-After`, () => {
      expect(voteTransition(from, settled({ kind: 'rate-limited', retryAfterSeconds: 12 }, T0))).toEqual({ phase: 'rate-limited', until: T0 + 12_000 });
    });
    it(`${name} + rejected → failed with the API’s reason`, () => {
      expect(voteTransition(from, settled({ kind: 'rejected', status: 422, message: 'bad option' }))).toEqual({
        phase: 'failed',
        option: 'cats',
        message: 'Sorry, that vote was refused (bad option).',
      });
    });
    it(`${name} + rejected with 409 → closed: not stored, not retried, and the next tap may go`, () => {
      const closed = voteTransition(from, settled({ kind: 'rejected', status: 409, message: 'voting is closed' }));
      expect(closed).toEqual({ phase: 'closed', option: 'cats' });
      expect(isBusy(closed, T0)).toBe(false);
      expect(voteStatusText(closed, T0)).toBe('Voting is closed: your vote for Cats was not counted.');
    });
    it(`${name} + gave-up → failed, asking to check the connection`, () => {
      expect(voteTransition(from, settled({ kind: 'gave-up', attempts: 8 }))).toEqual({ phase: 'failed', option: 'cats', message: GAVE_UP_MESSAGE });
    });
    it(`${name} + aborted → idle`, () => {
      expect(voteTransition(from, settled({ kind: 'aborted' }))).toEqual({ phase: 'idle' });
    });
  }

  it.each([
    ['idle', INITIAL_VOTE_STATE],
    ['sent', sent],
    ['counted', counted],
    ['rate-limited', limited],
    ['failed', failed],
  ] as const)('an outcome while %s (no vote on its way) is ignored', (_name, from) => {
    expect(voteTransition(from, settled({ kind: 'aborted' }))).toBe(from);
  });
});

describe('vote state machine: counted', () => {
  it('sent → counted when GET /api/vote/:id says this vote is counted', () => {
    expect(voteTransition(sent, { type: 'counted', id: 'vote-1' })).toEqual({ phase: 'counted', option: 'cats' });
  });

  it('the whole happy path: idle → sending → sent → counted ✓', () => {
    const s = run([tap('dogs', 'k'), settled({ kind: 'accepted', id: 'v', attempts: 1, replayed: false }), { type: 'counted', id: 'v' }]);
    expect(s).toEqual({ phase: 'counted', option: 'dogs' });
    expect(voteStatusText(s, T0)).toBe('Vote for Dogs counted ✓');
  });

  it('"counted" of an earlier vote does not mark the current one', () => {
    expect(voteTransition(sent, { type: 'counted', id: 'vote-0' })).toBe(sent);
    const again = run([tap('dogs', 'key-2'), settled({ kind: 'accepted', id: 'vote-2', attempts: 1, replayed: false })], sent);
    expect(voteTransition(again, { type: 'counted', id: 'vote-1' })).toBe(again);
  });

  it.each([
    ['idle', INITIAL_VOTE_STATE],
    ['sending', sending],
    ['retrying', retrying],
    ['counted', counted],
    ['rate-limited', limited],
    ['failed', failed],
  ] as const)('"counted" while %s is ignored', (_name, from) => {
    expect(voteTransition(from, { type: 'counted', id: 'vote-1' })).toBe(from);
  });
});

describe('vote state machine: 429 countdown', () => {
  it('counts the wait down in whole seconds and frees the buttons when it is over', () => {
    const s = voteTransition(sending, settled({ kind: 'rate-limited', retryAfterSeconds: 3 }, T0));
    const at = (ms: number) => ({ busy: isBusy(s, T0 + ms), left: waitSeconds(s, T0 + ms), text: voteStatusText(s, T0 + ms) });
    expect(at(0)).toEqual({ busy: true, left: 3, text: 'So many votes from here! You can vote again in 3 s.' });
    expect(at(250)).toEqual({ busy: true, left: 3, text: 'So many votes from here! You can vote again in 3 s.' });
    expect(at(1_000)).toEqual({ busy: true, left: 2, text: 'So many votes from here! You can vote again in 2 s.' });
    expect(at(2_001)).toEqual({ busy: true, left: 1, text: 'So many votes from here! You can vote again in 1 s.' });
    expect(at(3_000)).toEqual({ busy: false, left: 0, text: 'You can vote again now.' });
    expect(at(60_000)).toEqual({ busy: false, left: 0, text: 'You can vote again now.' });
  });

  it('has no wait outside rate-limited', () => {
    for (const s of [INITIAL_VOTE_STATE, sending, sent, counted, failed]) expect(waitSeconds(s, T0)).toBe(0);
  });
});

describe('vote state machine: what the page shows', () => {
  it('is busy only while sending or retrying (or in a running 429 wait)', () => {
    expect([INITIAL_VOTE_STATE, sending, retrying, sent, counted, failed, limited].map((s) => isBusy(s, T0))).toEqual([false, true, true, false, false, false, true]);
  });

  it('has a status line for every phase', () => {
    expect(voteStatusText(INITIAL_VOTE_STATE, T0)).toBe('');
    expect(voteStatusText(sending, T0)).toBe('Sending your vote for Cats…');
    expect(voteStatusText(retrying, T0)).toBe('Connection trouble — still sending your vote for Cats (try 3)…');
    expect(voteStatusText(sent, T0)).toBe('Vote for Cats sent — counting…');
    expect(voteStatusText(counted, T0)).toBe('Vote for Cats counted ✓');
    expect(voteStatusText(failed, T0)).toBe('nope');
    expect(voteStatusText(limited, T0)).toBe('So many votes from here! You can vote again in 10 s.');
  });
});
