/**
 * This process's per-scope counters in the metrics systems people already run:
 * `metrics.prometheus(register?)` adds collectors to a prom-client registry, and
 * `metrics.openTelemetry(meter)` registers observable instruments on an OpenTelemetry meter.
 * Both read the counters only when scraped or collected, never on a timer of their own.
 *
 * The families (names, help, type, unit) are the Rust exporter's (`skull-mem serve`), from
 * the binding: `skull_mem_used_bytes`, `skull_mem_live_blocks`,
 * `skull_mem_allocated_bytes_total`, `skull_mem_freed_bytes_total`,
 * `skull_mem_alloc_calls_total`, each with `scope` and `kind` labels (a scope is its name and
 * kind). There are no `pid` or `command` labels: in-process, the target or resource says
 * which process it is.
 *
 * prom-client and @opentelemetry/api are optional peer dependencies: nothing here loads
 * them until asked, and a meter is used only through the calls below.
 */
import { callAddon } from './errors';
import { nativeBinding } from './native';
import { requireActive } from './status';

/** One scope's value of one family. */
interface ScopeSample {
  scope: string;
  kind: string;
  value: number;
}

/** The per-scope families (names, help, type, unit), read from the binding; reads no counter. */
function families(): { name: string; help: string; metricType: 'gauge' | 'counter'; unit?: string | null }[] {
  return nativeBinding().scopeMetricFamilies();
}

/** Every scope's value of each family, read now, in the order of `families()`. */
function readSamples(): ScopeSample[][] {
  requireActive();
  return callAddon(() => nativeBinding().ownScopeMetrics());
}

/** The reading shared by the collectors of one scrape (see `scrapeReading`). */
let shared: ScopeSample[][] | undefined;

/** One reading for every family of a scrape: prom-client calls each collector's `collect`
 * in the same synchronous run when it renders a registry, so a reading kept until the next
 * microtask serves them all, and the families agree with one another. */
function scrapeReading(): ScopeSample[][] {
  if (shared === undefined) {
    shared = readSamples();
    queueMicrotask(() => {
      shared = undefined;
    });
  }
  return shared;
}

/** The part of a prom-client `Registry` the collectors are registered with. */
export interface PrometheusRegistry {
  registerMetric(metric: never): void;
}

/**
 * Adds one prom-client collector per family to `register` (default: prom-client's global
 * registry). Each reads this process's counters when the registry is scraped. Needs the
 * interposer preloaded (a scrape throws `NOT_PRELOADED` otherwise) and prom-client installed.
 */
export function prometheus(register?: PrometheusRegistry): void {
  // Loaded here, not at import: prom-client is an optional peer dependency.
  const client: typeof import('prom-client') = require('prom-client');
  const registers = [(register ?? client.register) as import('prom-client').Registry];
  for (const [index, family] of families().entries()) {
    const options = { name: family.name, help: family.help, labelNames: ['scope', 'kind'] as const, registers };
    if (family.metricType === 'counter') {
      new client.Counter({
        ...options,
        collect(this: import('prom-client').Counter<'scope' | 'kind'>) {
          this.reset();
          for (const sample of scrapeReading()[index]) this.inc({ scope: sample.scope, kind: sample.kind }, sample.value);
        },
      });
    } else {
      new client.Gauge({
        ...options,
        collect(this: import('prom-client').Gauge<'scope' | 'kind'>) {
          this.reset();
          for (const sample of scrapeReading()[index]) this.set({ scope: sample.scope, kind: sample.kind }, sample.value);
        },
      });
    }
  }
}

/** The part of an `@opentelemetry/api` `Meter` used here. */
export interface OpenTelemetryMeter {
  createObservableGauge(name: string, options?: { description?: string; unit?: string }): unknown;
  createObservableCounter(name: string, options?: { description?: string; unit?: string }): unknown;
  addBatchObservableCallback(
    callback: (observer: { observe(instrument: never, value: number, attributes?: Record<string, string>): void }) => void,
    instruments: never[],
  ): void;
}

/** OpenTelemetry's unit for each family unit (UCUM): bytes are `By`, counts `1`. */
const OTEL_UNITS: Readonly<Record<string, string>> = { bytes: 'By' };

/**
 * Registers one observable gauge or counter per family on `meter`, all fed by one batch
 * callback that reads this process's counters once per collection, with attributes `scope`
 * and `kind`. Needs the interposer preloaded (a collection throws `NOT_PRELOADED` otherwise).
 */
export function openTelemetry(meter: OpenTelemetryMeter): void {
  const all = families();
  const instruments = all.map((family) => {
    const options = { description: family.help, unit: OTEL_UNITS[family.unit ?? ''] ?? '1' };
    return family.metricType === 'counter'
      ? meter.createObservableCounter(family.name, options)
      : meter.createObservableGauge(family.name, options);
  }) as never[];
  meter.addBatchObservableCallback((observer) => {
    const samples = readSamples();
    instruments.forEach((instrument, index) => {
      for (const sample of samples[index]) observer.observe(instrument, sample.value, { scope: sample.scope, kind: sample.kind });
    });
  }, instruments);
}

/** The collectors, as `sm.metrics`. */
export const metrics = { prometheus, openTelemetry };
