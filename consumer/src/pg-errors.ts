/**
 * Whether PostgreSQL rejected a statement because of the data it was given: SQLSTATE class 22
 * (data exception) or 23 (integrity constraint violation). Only such an error says something
 * about a stream entry and may isolate it towards the dead-letter stream. Anything else (read-only
 * 25006, serialization 40001, deadlock 40P01, lock 55P03, shutdown 57P01, resources 53xxx,
 * connections 08xxx, missing tables or privileges, socket and pool errors, a code nobody has seen
 * yet, an error without a code) is the database being away: the batch is retried, forever.
 */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code);
}
