import type { ServerResponse } from 'node:http';

/**
 * One connected screen. Holds at most one frame in Node's buffer: while a write is waiting for
 * `drain`, newer tallies are not queued; on drain the client gets only the latest.
 */
export class SseClient {
  readonly res: ServerResponse;
  readonly ip: string;
  /** Highest seq written to this client; frames never go backwards. */
  sentSeq = -1;
  /** When the pending write started waiting for drain; 0 when not blocked. */
  blockedSince = 0;
  closed = false;

  constructor(res: ServerResponse, ip: string) {
    this.res = res;
    this.ip = ip;
  }

  /** Returns false when the frame filled the buffer; the caller waits for `drain`. */
  write(chunk: string, seq?: number): boolean {
    if (seq !== undefined) this.sentSeq = seq;
    const flushed = this.res.write(chunk);
    if (!flushed) this.blockedSince = Date.now();
    return flushed;
  }
}
