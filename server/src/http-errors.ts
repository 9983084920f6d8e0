import type { ServerResponse } from 'node:http';

export interface ErrorDetails {
  /** Seconds the client should wait before retrying: sent as `Retry-After`. */
  retryAfterSeconds?: number;
  /** Fields the body carries besides `error`. */
  fields?: Record<string, unknown>;
}

/**
 * The one writer of JSON error answers: `{"error": message, ...fields}`, for the Express routes
 * and for the stream route on plain node:http alike (an Express response is a node:http one).
 */
export function sendError(res: ServerResponse, status: number, message: string, details: ErrorDetails = {}): void {
  const body = JSON.stringify({ error: message, ...details.fields });
  res.statusCode = status;
  if (details.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(details.retryAfterSeconds));
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}
