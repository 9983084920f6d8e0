import type { ServerResponse } from 'node:http';

/** Bytes for every client at once: encoded once, and framed once as an HTTP/1.1 chunk. */
export interface Encoded {
  bytes: Buffer;
  /** `bytes` as one chunk of a chunked body: `<hex length>\r\n<bytes>\r\n`. */
  chunk: Buffer;
}

export function encode(text: string): Encoded {
  const bytes = Buffer.from(text);
  return { bytes, chunk: Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]) };
}

/**
 * One connected screen. Holds at most one frame in Node's buffers: a write is made only when
 * everything written before has reached the kernel; while something is still queued the client
 * is held back (the hub keeps only the latest frame for it, shared by all clients) and gets that
 * latest frame once the queue has flushed.
 */
export class SseClient {
  readonly res: ServerResponse;
  readonly ip: string;
  /** Highest seq written to this client; frames never go backwards. */
  sentSeq = -1;
  /** Since when this client has been held back with bytes still queued; 0 when it is not. */
  blockedSince = 0;
  closed = false;
  /** Whether the response has written once (its head with it). */
  private headWritten = false;
  /** Write callback: the kernel took that write. Made once per client, not per write. */
  private readonly flushed: (err?: Error | null) => void;

  constructor(res: ServerResponse, ip: string, onDrained: (c: SseClient) => void) {
    this.res = res;
    this.ip = ip;
    this.flushed = (err) => {
      if (err || this.closed || !this.blockedSince || this.queuedBytes > 0) return;
      this.blockedSince = 0;
      onDrained(this);
    };
  }

  /**
   * Bytes written but not yet taken by the kernel: what Node buffers for this client in user
   * space (the response's own buffer while it waits for its socket, plus the socket's).
   */
  get queuedBytes(): number {
    return this.res.writableLength;
  }

  /**
   * Queued bytes the kernel has already refused. Node corks a response's socket for the rest of
   * the tick in which it was written, so bytes written in this tick (written only when the queue
   * was empty) have not been offered yet and do not count.
   */
  get refusedBytes(): number {
    return this.res.socket?.writableCorked ? 0 : this.queuedBytes;
  }

  /**
   * Writes `chunk` unless earlier bytes are still queued. Returns false (and writes nothing)
   * when they are: the client is held back until its queue has flushed, then gets the latest
   * frame (the caller checks `refusedBytes` against its cap).
   */
  write(data: Encoded, seq?: number): boolean {
    if (this.queuedBytes > 0) {
      this.blockedSince ||= Date.now();
      return false;
    }
    if (seq !== undefined) this.sentSeq = seq;
    // After the first write (which carries the head), a chunked body takes the shared, already
    // framed chunk straight on its socket: one write call, without the response's per-write
    // framing, cork and next-tick uncork (most of the fan-out's CPU in a profile). Nothing of the
    // response is queued at this point (checked above), so the bytes stay in order. An unchunked
    // (HTTP/1.0) body is written by the response.
    const socket = this.res.socket;
    if (this.headWritten && socket && this.res.chunkedEncoding && !this.res.writableEnded) {
      socket.write(data.chunk, this.flushed);
    } else {
      this.res.write(data.bytes, this.flushed);
      this.headWritten = true;
    }
    return true;
  }

  /** Ends the stream; the socket is closed after the last byte, not kept alive for reuse. */
  end(lastChunk: string): void {
    const socket = this.res.socket;
    this.res.end(lastChunk, () => socket?.end());
  }
}
