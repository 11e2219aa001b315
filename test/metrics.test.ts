// The in-process collectors in a real preloaded Node process: a prom-client registry and an
// OpenTelemetry MeterProvider with the SDK's own reader and in-memory exporter show the
// per-scope bytes, equal to the snapshot taken right after.
import { describe, expect, it } from 'vitest';
import { INDEX, node } from './helpers';

/** Allocates 1 MiB in scope `cache`, scrapes both collectors, then takes a snapshot; nothing
 * runs in `cache` in between, so all three must agree exactly. */
const SCRIPT = `
const sm = require(${JSON.stringify(INDEX)});
const client = require('prom-client');
const otel = require('@opentelemetry/sdk-metrics');
const cache = sm.defineScope('cache', { kind: 'service' });
const held = cache.run(() => Buffer.allocUnsafeSlow(1 << 20));
const register = new client.Registry();
sm.metrics.prometheus(register);
const exporter = new otel.InMemoryMetricExporter(otel.AggregationTemporality.CUMULATIVE);
const reader = new otel.PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3600000 });
const provider = new otel.MeterProvider({ readers: [reader] });
sm.metrics.openTelemetry(provider.getMeter('app'));
(async () => {
  const prometheus = await register.metrics();
  await reader.forceFlush();
  const metrics = exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics));
  const otelMetrics = metrics.map((m) => ({ name: m.descriptor.name, unit: m.descriptor.unit, type: m.descriptor.type,
    points: m.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value })) }));
  const scope = sm.snapshot().scopes.find((s) => s.name === 'cache');
  console.log(JSON.stringify({ prometheus, otelMetrics, used: scope.used_bytes, allocated: scope.counters.alloc_bytes, held: held.length }));
  await provider.shutdown();
})();
`;

describe('sm.metrics', () => {
  it('a_scrape_without_the_interposer_rejects_with_NOT_PRELOADED_and_registering_reads_nothing', () => {
    // Registering works without the library (it reads nothing); the scrape is what fails.
    const result = node(`
const sm = require(${JSON.stringify(INDEX)});
const client = require('prom-client');
const register = new client.Registry();
sm.metrics.prometheus(register);
register.metrics().then(() => console.log('scraped'), (err) => console.log(err.code, err.message));
`);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^NOT_PRELOADED skull-mem: .*skull-mem run -- node app\.js/);
  });

  it('prom_client_and_opentelemetry_show_the_per_scope_bytes_of_a_node_process', () => {
    const result = node(SCRIPT, { preload: true });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out.held).toBe(1 << 20);
    // The MiB plus Node's own bookkeeping of the Buffer, all charged to `cache`.
    expect(out.used).toBeGreaterThanOrEqual(1 << 20);
    expect(out.used).toBeLessThan((1 << 20) + 4096);

    const text: string = out.prometheus;
    expect(text).toContain('# TYPE skull_mem_used_bytes gauge\n');
    expect(text).toContain('# TYPE skull_mem_allocated_bytes_total counter\n');
    expect(text).toContain(`skull_mem_used_bytes{scope="cache",kind="service"} ${out.used}\n`);
    expect(text).toContain(`skull_mem_allocated_bytes_total{scope="cache",kind="service"} ${out.allocated}\n`);

    const byName = (name: string) => out.otelMetrics.find((m: { name: string }) => m.name === name);
    const used = byName('skull_mem_used_bytes');
    expect(used.unit).toBe('By');
    expect(used.type).toBe('OBSERVABLE_GAUGE');
    expect(used.points).toContainEqual({ attributes: { scope: 'cache', kind: 'service' }, value: out.used });
    const allocated = byName('skull_mem_allocated_bytes_total');
    expect(allocated.type).toBe('OBSERVABLE_COUNTER');
    expect(allocated.points).toContainEqual({ attributes: { scope: 'cache', kind: 'service' }, value: out.allocated });
    expect(out.otelMetrics.map((m: { name: string }) => m.name).sort()).toEqual([
      'skull_mem_alloc_calls_total',
      'skull_mem_allocated_bytes_total',
      'skull_mem_freed_bytes_total',
      'skull_mem_live_blocks',
      'skull_mem_used_bytes',
    ]);
  });
});
