// Compiled with `tsc --noEmit` by `npm run typecheck`, never run: the public types as a user
// sees them, through the package's ESM entry (`import`, dist/src/index.d.mts) and its CommonJS
// entry (`require`, dist/src/index.d.ts), both resolved through package.json "exports".
import * as esm from 'skull-mem';
import type * as Cjs from 'skull-mem' with { 'resolution-mode': 'require' };
import { createServer, type IncomingMessage } from 'node:http';

declare const cjs: typeof Cjs;

/** Everything below is written once and checked against both entry points. */
function usage(sm: typeof esm | typeof Cjs): void {
  const status: esm.Status = sm.status();
  if (!status.active) console.log(status.reason, status.fix, sm.PRELOAD_COMMAND);

  const db: esm.Scope = sm.defineScope('db', { kind: 'service' });
  const n: number = db.run(() => 42);
  const later: Promise<string> = db.run(async () => {
    await null;
    return 'done';
  });
  const viaName: boolean = sm.withScope('cache', () => true, { kind: 'module' });
  const id: number = sm.currentScopeId() + db.id + sm.CORE_SCOPE_ID;
  const pool: Promise<number> = sm.threadpoolAttribution();

  const a: esm.Snapshot = sm.snapshot();
  const b: esm.Snapshot = sm.parseSnapshot(JSON.parse(JSON.stringify(a)) as unknown);
  const d: esm.SnapshotDiff = sm.diff(a, b);
  const worst: esm.ScopeGrowth | undefined = d.scopes[0];
  const table: string = sm.renderDiff(d) + d.toString() + sm.report() + sm.report('json');
  const rss: number = b.process.rss_bytes + (b.process.memory_usage?.heapUsed ?? 0);
  const crossFreed: number | undefined = worst?.counters.cross_freed_bytes;

  const stop: () => void = sm.instrumentHttp(createServer(), { route: (req: IncomingMessage) => req.method ?? 'GET' });
  stop();

  try {
    sm.snapshot();
  } catch (e) {
    if (e instanceof sm.SkullMemError) {
      const code: esm.SkullMemErrorCode = e.code;
      // @ts-expect-error: codes are a closed union
      const wrong: esm.SkullMemErrorCode = 'NOPE';
      console.log(code, wrong);
    }
  }
  // @ts-expect-error: the kind goes in the options object
  sm.defineScope('db', 'service');
  console.log(n, later, viaName, id, pool, table, rss, crossFreed);
}

usage(esm);
usage(cjs);
