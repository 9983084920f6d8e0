import type { Response } from 'express';

export function sendError(res: Response, status: number, message: string, extra: Record<string, unknown> = {}): void {
  res.status(status).json({ error: message, ...extra });
}

export function unavailable(res: Response, retryAfterSeconds: number): void {
  res.set('retry-after', String(retryAfterSeconds));
  sendError(res, 503, 'temporarily unavailable, retry shortly');
}
