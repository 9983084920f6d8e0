import { API_URL, PORT } from '$app/env/private';
import { API, parseTally, type Tally } from '../tally.ts';

/**
 * Where this process reads the API from for the first paint: API_URL in Kubernetes (the client is
 * its own workload), else this very port (the API server mounts the client locally), else — when
 * PORT is 0 or unset, as in tests that let the OS pick a port — the origin of the request itself.
 */
export function apiBase(requestOrigin: string): string {
  if (API_URL) return API_URL;
  if (PORT) return `http://127.0.0.1:${PORT}`;
  return requestOrigin;
}

/** Current totals, or null if the API does not answer quickly: the stream fills them in then. */
export async function loadResults(base: string, timeoutMs = 1_500): Promise<Tally | null> {
  try {
    const res = await fetch(`${base}${API.results}`, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) return null;
    return parseTally(await res.json());
  } catch {
    return null;
  }
}
