/**
 * Types for the xk6-sse extension (github.com/phymbert/xk6-sse), `import sse from 'k6/x/sse'`.
 * Written from the extension's Go source: `sse.open` blocks the VU while the stream is open
 * and returns when the handler calls `client.close()` or the server ends the stream.
 * A blank line ends an event, so heartbeat comments arrive as events with an empty name.
 */
declare module 'k6/x/sse' {
  export interface SSEParams {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    tags?: Record<string, string>;
  }

  export interface SSEEvent {
    id: string;
    name: string;
    data: string;
    comment: string;
  }

  export interface SSEError {
    error(): string;
  }

  export interface SSEClient {
    on(event: 'open', handler: () => void): void;
    on(event: 'event', handler: (event: SSEEvent) => void): void;
    on(event: 'error', handler: (error: SSEError) => void): void;
    close(): void;
  }

  export interface SSEResponse {
    url: string;
    status: number;
    headers: Record<string, string>;
    error: string;
  }

  export function open(url: string, params: SSEParams | null, setup: (client: SSEClient) => void): SSEResponse;
  export function open(url: string, setup: (client: SSEClient) => void): SSEResponse;

  const sse: { open: typeof open };
  export default sse;
}
