// instrumentHttp: each request of a node:http server runs in the scope of its route.
import { describe, expect, it } from 'vitest';
import { PRELUDE, evaluate } from './fixtures/api-run';
import { PER_BUFFER_BYTES } from './fixtures/v8-buffers';

describe('instrumentHttp', () => {
  it('requests_are_charged_to_the_scope_of_their_route_across_awaits_and_timers', () => {
    // /big keeps two 64 KiB buffers per request, /small two 16 KiB ones, one after an await and
    // one after a timer; 6 requests of each run concurrently. The query string is not part of
    // the route. Tolerance as in api-scope.test.ts: 12 KiB, below one buffer of either route.
    // V8 compiles on the main thread here (fixtures/api-run.ts), in the scope of the request
    // whose code got hot, and keeps a little of it: CI once saw a route grow 8,349 bytes more
    // than its buffers on Node 22.
    const out = evaluate(`${PRELUDE}
      const http = require('node:http');
      const keep = [];
      const server = http.createServer(async (req, res) => {
        const size = req.url.startsWith('/big') ? 65536 : 16384;
        await null;
        keep.push(Buffer.allocUnsafeSlow(size));
        await new Promise((resolve) => setTimeout(resolve, 2));
        keep.push(Buffer.allocUnsafeSlow(size));
        res.end(String(sm.currentScopeId()));
      });
      const stop = sm.instrumentHttp(server);
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = server.address().port;
      const get = (path) => new Promise((resolve, reject) => http.get({ port, host: '127.0.0.1', path }, (res) => {
        let body = ''; res.on('data', (c) => (body += c)); res.on('end', () => resolve(body));
      }).on('error', reject));
      const round = () => Promise.all([1, 2, 3, 4, 5, 6].flatMap((i) => [get('/big?i=' + i), get('/small')]));
      // gc() before each reading: Node 22 leaves garbage of a round's sockets (one 64 KiB
      // block, charged to the route whose handler made it) until a GC frees it.
      const settle = async () => { gc(); await new Promise((resolve) => setImmediate(resolve)); gc(); };
      await round();
      await settle();
      const big0 = scopeOf('GET /big'), small0 = scopeOf('GET /small');
      const ids = await round();
      await settle();
      out.big = grown(big0, scopeOf('GET /big'));
      out.small = grown(small0, scopeOf('GET /small'));
      out.kinds = [big0.kind, small0.kind];
      out.handlerScopes = [...new Set(ids)].map(Number).sort().map((id) => sm.snapshot().scopes.find((s) => s.id === id).name);
      stop();
      out.afterStop = await get('/big');
      server.close();`);
    expect(out.kinds).toEqual(['route', 'route']);
    expect(out.handlerScopes).toEqual(['GET /big', 'GET /small']);
    expect(out.afterStop).toBe('0');
    for (const [growth, size] of [
      [out.big, 65536],
      [out.small, 16384],
    ] as const) {
      expect(Math.abs(growth.used - 12 * (size + PER_BUFFER_BYTES))).toBeLessThanOrEqual(12 * 1024);
    }
  });

  it('a_route_function_names_the_scopes', () => {
    const out = evaluate(`
      const http = require('node:http');
      const server = http.createServer((req, res) => res.end(String(sm.currentScopeId())));
      sm.instrumentHttp(server, { route: (req) => req.method + ' /users/:id' });
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const id = await new Promise((resolve) => http.get({ port: server.address().port, host: '127.0.0.1', path: '/users/42' }, (res) => {
        let body = ''; res.on('data', (c) => (body += c)); res.on('end', () => resolve(Number(body)));
      }));
      out.scope = sm.snapshot().scopes.find((s) => s.id === id).name;
      out.defaultRoute = sm.defaultRoute({ method: 'POST', url: '/a/b?c=d#e' });
      server.close();`);
    expect(out).toEqual({ scope: 'GET /users/:id', defaultRoute: 'POST /a/b' });
  });
});
