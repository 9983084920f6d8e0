import { Results } from '@livevote/contract';

/** One block of an SSE stream as the server wrote it (no EventSource in between). */
export interface RawSseFrame {
  id: number;
  data: Results;
}

/**
 * The complete blocks at the start of `text`: its tally frames, how many blocks were neither a
 * tally nor a heartbeat or `retry:`, and the unfinished rest to prepend to the next chunk.
 */
export function takeSseFrames(text: string): { frames: RawSseFrame[]; others: number; rest: string } {
  const frames: RawSseFrame[] = [];
  let others = 0;
  let end: number;
  while ((end = text.indexOf('\n\n')) >= 0) {
    const block = text.slice(0, end);
    text = text.slice(end + 2);
    const id = /^id: (\d+)$/m.exec(block)?.[1];
    const data = /^data: (.*)$/m.exec(block)?.[1];
    if (id && data) frames.push({ id: Number(id), data: Results.parse(JSON.parse(data)) });
    else if (!/^(:.*|retry: \d+)$/.test(block)) others++;
  }
  return { frames, others, rest: text };
}

/**
 * Opens `GET /api/stream` with plain fetch and collects its tally frames (the `id:` line and the
 * data) until `stop()`. Raw, unlike `TallyWatcher`: every frame the server writes is seen, even
 * one that repeats a seq (a browser would take it silently), and `lastEventId` sends the header
 * a reconnecting browser sends. `others` counts blocks that are neither a tally nor a heartbeat.
 */
export async function streamFrames(url: string, options: { lastEventId?: number } = {}) {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (options.lastEventId !== undefined) headers['last-event-id'] = String(options.lastEventId);
  const res = await fetch(`${url}/api/stream`, { headers });
  const reader = res.body!.getReader();
  const frames: RawSseFrame[] = [];
  const counts = { others: 0 };
  const reading = (async () => {
    const decoder = new TextDecoder();
    let text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      text += decoder.decode(value, { stream: true });
      const taken = takeSseFrames(text);
      text = taken.rest;
      frames.push(...taken.frames);
      counts.others += taken.others;
    }
  })();
  return {
    frames,
    get others() {
      return counts.others;
    },
    async stop() {
      await reader.cancel();
      await reading.catch(() => {});
    },
  };
}
