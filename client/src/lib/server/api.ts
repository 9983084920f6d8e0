/**
 * The server-side half of the client's API access: only the choice of base URL lives here, because
 * it reads private environment (`$app/env/private`), which SvelteKit keeps out of browser code. The
 * requests themselves are the same functions the browser uses, from `lib/api.ts`.
 */
import { API_URL, PORT } from '$app/env/private';
import { getResults } from '../api.ts';
import type { Tally } from '../tally.ts';

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

/** Current totals for the first paint, or null if the API does not answer quickly: the stream fills them in then. */
export async function loadResults(requestOrigin: string, timeoutMs = 1_500): Promise<Tally | null> {
  try {
    return await getResults({ baseUrl: apiBase(requestOrigin), timeoutMs });
  } catch {
    return null;
  }
}
