/**
 * Everything a scenario can be tuned with comes from `__ENV` (`k6 run -e NAME=value` or the
 * environment). Bad values stop the run in the init context with a message that names the
 * variable, instead of silently testing something else.
 */

function raw(name: string): string | undefined {
  const v = __ENV[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** Where the stack under test answers, without a trailing slash. */
export function baseUrl(): string {
  const url = raw('BASE_URL') ?? 'http://127.0.0.1:3000';
  if (!/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(url)) {
    throw new Error(`BASE_URL must be an http(s) URL such as http://127.0.0.1:3000, got "${url}"`);
  }
  return url.replace(/\/+$/, '');
}

export function str(name: string, fallback: string): string {
  return raw(name) ?? fallback;
}

export function num(name: string, fallback: number, opts: { min?: number; max?: number; integer?: boolean } = {}): number {
  const v = raw(name);
  const n = v === undefined ? fallback : Number(v);
  const { min = 0, max = Number.MAX_SAFE_INTEGER, integer = false } = opts;
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    const kind = integer ? 'an integer' : 'a number';
    throw new Error(`${name} must be ${kind} between ${min} and ${max}, got "${v}"`);
  }
  return n;
}

export function int(name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  return num(name, fallback, { min, max, integer: true });
}

export function bool(name: string, fallback: boolean): boolean {
  const v = raw(name)?.toLowerCase();
  if (v === undefined) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new Error(`${name} must be true or false, got "${v}"`);
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a k6 duration ("500ms", "30s", "1m30s", "2h") into milliseconds. */
export function parseDuration(text: string): number {
  const parts = /^(\d+(?:\.\d+)?(?:ms|s|m|h))+$/.test(text) ? text.match(/\d+(?:\.\d+)?(?:ms|s|m|h)/g) : null;
  if (!parts) throw new Error(`not a duration: "${text}"`);
  let ms = 0;
  for (const part of parts) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(part);
    if (!m) throw new Error(`not a duration: "${text}"`);
    ms += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  }
  return ms;
}

/** A duration from the environment, as milliseconds. "0s" is allowed. */
export function durationMs(name: string, fallback: string): number {
  const v = raw(name) ?? fallback;
  try {
    return parseDuration(v);
  } catch {
    throw new Error(`${name} must be a k6 duration such as 30s, 5m or 1m30s, got "${v}"`);
  }
}

/** Milliseconds back to a k6 duration string (whole milliseconds). */
export function k6Duration(ms: number): string {
  return `${Math.max(0, Math.round(ms))}ms`;
}

/** Where handleSummary writes its files (create the folder first: `mkdir -p results`). */
export function summaryDir(): string {
  return str('SUMMARY_DIR', 'results').replace(/\/+$/, '');
}
