/**
 * How the adapter says no. It provides only the part of k6 that the project's scripts use; any
 * other part must fail loudly, naming what is provided, instead of passing silently.
 */
export class Unsupported extends Error {
  constructor(what: string, supported?: readonly string[]) {
    super(`k6 test adapter: ${what} is not supported${supported ? ` (supported: ${supported.join(', ')})` : ''}; see k6-adapter/README.md`);
    this.name = 'Unsupported';
  }
}

/** Asked for by JavaScript itself (await, JSON.stringify), not by a script reaching for an API. */
const LANGUAGE_PROBES = new Set(['then', 'toJSON']);

/** `target`, where reading a property it does not have throws Unsupported naming `what.property`. */
export function onlyThese<T extends object>(what: string, target: T): T {
  return new Proxy(target, {
    get(t, property, receiver) {
      if (typeof property === 'string' && !(property in t) && !LANGUAGE_PROBES.has(property)) {
        throw new Unsupported(`${what}.${property}`, Object.keys(t));
      }
      return Reflect.get(t, property, receiver);
    },
  });
}

/** Throws Unsupported for any key of `given` outside `supported`. */
export function refuseOtherKeys(what: string, given: object | null | undefined, supported: readonly string[]): void {
  for (const key of Object.keys(given ?? {})) {
    if (!supported.includes(key)) throw new Unsupported(`${what} "${key}"`, supported);
  }
}
