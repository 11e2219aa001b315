/**
 * Per-route scopes for `node:http` servers: each incoming request runs in a scope of kind
 * `route`, named `METHOD path` (the path without its query) or whatever `route(req)` returns.
 *
 * It subscribes to the `http.server.request.start` diagnostics channel, which Node publishes
 * synchronously just before emitting `request`; the subscriber makes the route's scope current
 * for the rest of that callback (as `AsyncLocalStorage.enterWith` would), so the handler and
 * everything it awaits are charged to the route, and the scope ends with the callback.
 * Limitation shared with AsyncLocalStorage: later `data`/`end` events of the request come from
 * the socket, which was created outside the route, so they run in `core` unless the handler
 * awaits them (`for await (const chunk of req)` keeps the route).
 */
import * as diagnostics from 'node:diagnostics_channel';
import type { IncomingMessage, Server } from 'node:http';
import { defineScope, enterForCurrentCallback, type Scope } from './scope';
import { measuring } from './status';

/** Options of `instrumentHttp`. */
export interface HttpScopeOptions {
  /**
   * Names the route of a request; default `METHOD /path` without the query string. Return
   * few distinct names (`GET /users/:id`, not the id itself): each name is a scope for the
   * life of the process, and names longer than 47 bytes are cut.
   */
  route?: (req: IncomingMessage) => string;
}

/** `GET /users` for `GET /users?page=2`. */
export function defaultRoute(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.search(/[?#]/);
  return `${req.method ?? 'GET'} ${query === -1 ? url : url.slice(0, query)}`;
}

/** The longest scope name the library takes (SKULL_NAME_MAX - 1). */
const NAME_MAX_BYTES = 47;

/** `name` cut to at most 47 bytes of UTF-8 without splitting a character. */
function fitName(name: string): string {
  if (name.length === 0) return '/';
  let out = name;
  while (Buffer.byteLength(out) > NAME_MAX_BYTES) out = out.slice(0, -1);
  if (/[\uD800-\uDBFF]$/.test(out)) out = out.slice(0, -1);
  return out;
}

/** Name of the route scope used once the library's scope table is full. */
export const OTHER_ROUTES = 'other routes';

/** The scope of `name`, or `other routes` when no more scopes fit: a subscriber must not
 * throw, Node would report it as an uncaught exception. */
function routeScope(name: string): Scope {
  try {
    return defineScope(name, { kind: 'route' });
  } catch {
    return defineScope(OTHER_ROUTES, { kind: 'route' });
  }
}

interface RequestStart {
  request: IncomingMessage;
  server: Server;
}

/**
 * Runs every request of `server` in the scope of its route. Returns a function that stops it.
 * When nothing is measured (no preload) it does nothing and returns a function that does
 * nothing: requests are served exactly as without it.
 * @throws {SkullMemError} `VERSION_MISMATCH` when the preloaded library is another version's.
 */
export function instrumentHttp(server: Server, options: HttpScopeOptions = {}): () => void {
  const route = options.route ?? defaultRoute;
  const scopes = new Map<string, Scope>();
  if (!measuring()) return () => undefined;
  const onStart = (message: unknown): void => {
    const { request, server: from } = message as RequestStart;
    if (from !== server) return;
    // Keyed by the route's own name, so that only a new route pays for `fitName` (it measures
    // UTF-8 bytes: a cost per request otherwise).
    const name = route(request);
    let scope = scopes.get(name);
    if (!scope) {
      scope = routeScope(fitName(name));
      scopes.set(name, scope);
    }
    enterForCurrentCallback(scope);
  };
  diagnostics.subscribe('http.server.request.start', onStart);
  return () => {
    diagnostics.unsubscribe('http.server.request.start', onStart);
  };
}
