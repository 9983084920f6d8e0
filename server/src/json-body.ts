import type { IncomingMessage } from 'node:http';
import { MIMEType } from 'node:util';

/**
 * What a request's `Content-Type` says about a JSON body. JSON on the wire is UTF-8
 * (RFC 8259 §8.1): a `charset` parameter, when present, must say so (case-insensitively); any
 * other (utf-7, utf-16le, utf-32, latin1…) is refused rather than decoded.
 */
export type JsonContentType = 'json' | 'not-json' | 'not-utf8';

export function jsonContentType(header: string | undefined): JsonContentType {
  if (header === undefined) return 'not-json';
  let mime: MIMEType;
  try {
    mime = new MIMEType(header);
  } catch {
    return 'not-json';
  }
  if (mime.essence !== 'application/json') return 'not-json';
  const charset = mime.params.get('charset');
  return charset === null || charset.toLowerCase() === 'utf-8' ? 'json' : 'not-utf8';
}

/** No body at all: neither `Transfer-Encoding` nor a non-zero `Content-Length`. */
export function hasNoBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] === undefined && (length === undefined || Number(length) === 0);
}
