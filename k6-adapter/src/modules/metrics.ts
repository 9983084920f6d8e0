/** The adapter's `k6/metrics`: Counter, Rate and Trend, declared in the init context as k6 requires. */
import { addSample, defineMetric, state, type MetricType } from '../state.ts';

class Metric {
  readonly name: string;
  constructor(name: string, type: MetricType, isTime: boolean) {
    if (state.phase !== 'init') throw new Error(`metric ${name}: k6 only allows new metrics in the init context`);
    this.name = name;
    defineMetric(name, type, isTime);
  }
  protected record(value: number, tags?: Record<string, string>): void {
    if (state.phase === 'init') throw new Error(`metric ${this.name}: adding samples in the init context is not supported by k6`);
    addSample(this.name, value, tags ?? {});
  }
  protected number(value: unknown): number {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`${this.name}.add(${String(value)}): not a number`);
    return value;
  }
}

export class Counter extends Metric {
  constructor(name: string) {
    super(name, 'counter', false);
  }
  add(value: number, tags?: Record<string, string>): void {
    this.record(this.number(value), tags);
  }
}

export class Rate extends Metric {
  constructor(name: string) {
    super(name, 'rate', false);
  }
  add(value: number | boolean, tags?: Record<string, string>): void {
    this.record(value ? 1 : 0, tags);
  }
}

export class Trend extends Metric {
  constructor(name: string, isTime = false) {
    super(name, 'trend', isTime);
  }
  add(value: number, tags?: Record<string, string>): void {
    this.record(this.number(value), tags);
  }
}
