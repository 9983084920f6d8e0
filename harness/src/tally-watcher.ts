import { EventSource, type FetchLike } from 'eventsource';
import { SSE_EVENT_TALLY, type Results } from '@livevote/contract';

/** One screen watching `/api/stream` through a WHATWG-conformant EventSource. */
export class TallyWatcher {
  readonly es: EventSource;
  readonly frames: Results[] = [];
  /** Set when a frame carried a lower seq than one already received. */
  wentBackwards = false;
  errors = 0;
  opens = 0;

  constructor(baseUrl: string, init: { fetch?: FetchLike } = {}) {
    this.es = new EventSource(`${baseUrl}/api/stream`, init);
    this.es.addEventListener('open', () => this.opens++);
    this.es.addEventListener('error', () => this.errors++);
    this.es.addEventListener(SSE_EVENT_TALLY, (e) => {
      const t = JSON.parse(e.data) as Results;
      const last = this.frames.at(-1);
      if (last && t.seq < last.seq) this.wentBackwards = true;
      if (String(t.seq) !== e.lastEventId) throw new Error(`event id ${e.lastEventId} does not match seq ${t.seq}`);
      this.frames.push(t);
    });
  }

  get latest(): Results | undefined {
    return this.frames.at(-1);
  }

  close(): void {
    this.es.close();
  }
}
