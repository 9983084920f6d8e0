/**
 * The run's history: every request and its answer, every frame a watcher saw, every fault, as JSON
 * lines in one timeline (epoch ms; everything runs on this one machine, so one clock). The checker
 * reads only this and a final read of PostgreSQL.
 */
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';

export type VoteClient = 'browser' | 'api-keyed' | 'api';
export type HostAction = 'new-round' | 'close' | 'open' | 'hide' | 'show';

export type Event =
  | { type: 'meta'; t: number; seed: number; mode: string; seconds: number; rate: number; servers: string[]; faultKinds: string[]; initialRound: number }
  | {
      type: 'vote';
      /** Sent and answered (or given up on). */
      t0: number;
      t1: number;
      op: number;
      attempt: number;
      client: VoteClient;
      server: string;
      option: 'cats' | 'dogs';
      key?: string;
      status: number;
      /** The vote id from the answer (202 and 504 carry one). */
      id?: string;
      /** For status 0: the connection was refused, so nothing was sent. */
      refused?: boolean;
    }
  | { type: 'host'; t0: number; t1: number; op: number; attempt: number; action: HostAction; key: string; server: string; status: number; round?: number; voting?: string; results?: string; /** The tally seq of the change (its `changedSeq`). */ seq?: number }
  | { type: 'frame'; t: number; watcher: string; server: string; round: number; seq: number; voting: string; results: string; cats: number | null; dogs: number | null; total: number | null }
  | { type: 'resolve'; t: number; id: string; status: number; counted?: boolean; round?: number }
  | { type: 'fault'; t: number; phase: 'start' | 'end'; id: number; lane: string; kind: string; target: string; detail?: string }
  /** A service process ended: by the nemesis's SIGKILL (code -1), or on its own. */
  | { type: 'exit'; t: number; service: string; code: number | null }
  /** A part that was not whole again after every fault was healed. */
  | { type: 'unhealed'; t: number; part: string; detail: string }
  | { type: 'phase'; t: number; name: 'running' | 'healing' | 'healed' | 'settled' | 'converged' | 'end'; detail?: Record<string, unknown> };

export class History {
  private readonly out: WriteStream;
  readonly events: Event[] = [];

  constructor(file: string) {
    this.out = createWriteStream(file);
  }

  add(e: Event): void {
    this.events.push(e);
    this.out.write(`${JSON.stringify(e)}\n`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.out.end(resolve));
  }
}

export function readHistory(file: string): Event[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Event);
}
