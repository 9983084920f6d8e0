/**
 * k6 has a `console` (log, info, warn, error, debug) but @types/k6 leaves it to the DOM lib;
 * declaring just this keeps browser and Node globals (fetch, window, process) out of the scripts.
 */
interface K6Console {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
}
declare var console: K6Console;
