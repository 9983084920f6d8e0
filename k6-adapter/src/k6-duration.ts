/** k6's duration strings ("500ms", "30s", "1m30s", "2h"), or a number of milliseconds. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseK6Duration(value: unknown, what: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  const text = String(value);
  if (!/^(\d+(?:\.\d+)?(ms|s|m|h))+$/.test(text)) throw new Error(`${what}: "${text}" is not a k6 duration such as 500ms, 30s or 1m30s`);
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(n) * (UNIT_MS[unit as string] as number);
  return ms;
}
