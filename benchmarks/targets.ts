/**
 * The performance targets (docs/performance.md) and the figures this run measured for them,
 * printed at the end with whether each is met. A target whose part did not run, or that this run
 * did not reach (e.g. 100,000 watchers), says "not measured".
 */
export interface Target {
  name: string;
  /** What this run measured, in words with its unit; undefined: not measured. */
  figure?: string;
  met?: boolean;
}

export class Targets {
  private readonly list = new Map<string, Target>();

  constructor(names: readonly string[]) {
    for (const name of names) this.list.set(name, { name });
  }

  /** Records a figure against a target; `value` is compared with `limit` by `cmp`. */
  record(name: string, value: number, cmp: '<=' | '>=', limit: number, figure: string): void {
    if (!this.list.has(name)) throw new Error(`unknown target ${name}`);
    this.list.set(name, { name, figure, met: Number.isFinite(value) && (cmp === '<=' ? value <= limit : value >= limit) });
  }

  /** Records a figure that is shown, not judged. */
  show(name: string, figure: string): void {
    if (!this.list.has(name)) throw new Error(`unknown target ${name}`);
    this.list.set(name, { name, figure });
  }

  print(log: (line: string) => void): void {
    const all = [...this.list.values()];
    const judged = all.filter((t) => t.met !== undefined);
    log(`\ntargets (${judged.filter((t) => t.met).length} of ${judged.length} measured met)`);
    for (const t of all) {
      const status = t.figure === undefined ? 'not measured' : t.met === undefined ? 'shown' : t.met ? 'met' : 'NOT met';
      log(`  ${status.padEnd(12)} ${t.name}${t.figure === undefined ? '' : `: ${t.figure}`}`);
    }
  }
}
