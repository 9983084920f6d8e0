import type { IncomingMessage } from 'node:http';
import proxyAddr from 'proxy-addr';

/** Whether the hop at `addr`, `hop` steps from our socket, is a proxy we trust. */
export type TrustProxy = (addr: string, hop: number) => boolean;

/**
 * Compiles `TRUST_PROXY` (a hop count or a list of proxy addresses) the way Express compiles its
 * `trust proxy` setting. `buildApp` hands the result to Express and the stream route uses it with
 * `proxy-addr` (what Express's `req.ip` calls), so both paths see the same client address.
 */
export function compileTrustProxy(setting: number | readonly string[]): TrustProxy {
  if (typeof setting === 'number') return (_addr, hop) => hop < setting;
  return proxyAddr.compile([...setting]);
}

/** The client's address: the nearest X-Forwarded-For hop not behind a trusted proxy. */
export function clientAddress(req: IncomingMessage, trust: TrustProxy): string {
  return proxyAddr(req, trust) ?? 'unknown';
}
