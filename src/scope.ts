/**
 * Scopes for JavaScript code: `defineScope(name).run(fn)` charges the native allocations made
 * while `fn` runs — including after every `await` inside it — to that scope.
 *
 * The preloaded library keeps the current scope in a thread-local; the allocations of a thread
 * go to whatever scope it holds. JavaScript's "current scope" lives in the async context
 * instead, so the two are kept equal whenever JavaScript runs: before each callback (promise
 * continuation, timer, nextTick, I/O callback) the thread-local is switched to the scope the
 * callback was created in (none: `core`), and after it switched back, so native work between
 * callbacks (the event loop, Node's C++) is never charged to the last scope that happened to
 * run. A switch is two stores into the thread's switch words, a typed array over the
 * library's thread-local (`switcher`; the next allocation takes the new scope up on its slow
 * path), where a call of the addon's raw `scopeSwitch` cost 45 ns on Node 20 and 85-90 ns on
 * Node 22 and 24; it is made only when the scope actually changes. The switch back after a
 * callback is never deferred: Node 24 allocates natively between two microtasks (about 58 KB
 * seen in tests), and a thread-local left on the last continuation's scope charged that to it.
 *
 * How the scope of a callback is known depends on the runtime; the default is the cheapest
 * exact mechanism the runtime has, found by feature detection at load time (src/propagation.ts);
 * SKULL_MEM_PROPAGATION forces another one the runtime has:
 * - `promise-hooks` (default on Node 24, which has `createHook({ trackPromises: false })`):
 *   `v8.promiseHooks` tag each promise created inside a scope with its id and switch around
 *   its continuations, without async ids or a resource stack; an async_hooks hook that leaves
 *   promises alone does the same for every other resource (timer, nextTick, I/O request).
 * - `context-frame` (Node 24; Node 22 has AsyncContextFrame only behind a flag and lacks
 *   `trackPromises`): an AsyncLocalStorage holds the scope id and V8 carries it along every
 *   continuation; the same two hooks switch, with no init hook. Cheaper per promise, but each
 *   `run` builds two context frames (about 1 µs on Node 24), so it loses wherever scopes are
 *   entered often.
 * - `async-hooks` (Node 20 and 22, the only exact one they have): an async_hooks hook tags each
 *   async resource created inside a scope, the way AsyncLocalStorage does on Node 20, and
 *   `before`/`after` switch to the tag of the resource whose callback runs.
 * Measured, benches/node_scope.mjs, await fn() with three awaits wrapped in `run`, against plain
 * node, on a 2-core machine shared with other busy processes (load 8-9), switching by the
 * switch words (in parentheses: by the `scopeSwitch` call, measured right after with the same
 * build, `scopeSwitchWords` disabled): Node 24 promise-hooks 1.74x
 * (2.41x), context-frame 2.70x (3.65x), async-hooks 4.40x (5.30x); Node 22 async-hooks 2.61x
 * (2.86x); Node 20 async-hooks 2.83x (3.25x). A sync `run` adds 5-13 ns (133-316 ns with the
 * call), except with context-frame (about 1 µs for its frames).
 *
 * Without the preload (or without the native files) nothing is measured and scopes are
 * pass-throughs: `run(fn)` is `fn()`, every scope has the id of `core`, nothing throws.
 *
 * Work Node queues to the libuv threadpool runs on threads without JavaScript: see
 * crates/node/src/threadpool.rs. Those bytes are charged to the `threadpool` scope.
 */
import { callAddon } from './errors';
import { nativeBinding, type Binding } from './native';
import { enter, installPropagation, type ContextState, type Propagation } from './propagation';
import { measuring } from './status';

/** The scope every thread charges outside any user scope. */
export const CORE_SCOPE_ID = 0;

/** The name of the pseudo-scope charged with the libuv threadpool's allocations. */
export const THREADPOOL_SCOPE = 'threadpool';

/** Kinds of scope; any other short string (1 to 15 bytes) is accepted too. */
export type ScopeKind = 'module' | 'service' | 'route' | 'init' | 'core' | (string & {});

/** Options of `defineScope`. */
export interface ScopeOptions {
  /** What the scope stands for; default `module`. Scopes are identified by (name, kind). */
  kind?: ScopeKind;
}

/** The key of the shared state; its version changes with the state's shape, so that copies of
 * this module only share a state they all understand. */
const STATE_KEY = Symbol.for('skull-mem.context-state.v2');

/** This module's handle on the shared state (null: no-op mode, nothing is measured), so that
 * `run` does not look it up on `globalThis`. */
let shared: ContextState | null | undefined;

/**
 * The process-wide context state, kept on `globalThis` so that two copies of this module
 * (say, two installed versions) share one mechanism and one idea of the current scope instead
 * of fighting over the thread-local. Installs the propagation and marks the threadpool on
 * first use; null when this process is not measured.
 * @throws {SkullMemError} `VERSION_MISMATCH` when the preloaded library is another version's.
 */
function contextState(): ContextState | null {
  if (shared !== undefined) return shared;
  const holder = globalThis as { [STATE_KEY]?: ContextState };
  const existing = holder[STATE_KEY];
  if (existing) return (shared = existing);
  if (!measuring()) return (shared = null);
  const native = nativeBinding();
  const state = installPropagation(callAddon(() => native.scopeCurrent()), switcher(native));
  holder[STATE_KEY] = shared = state;
  state.threadpool = markThreadpool(native);
  return state;
}

/**
 * The switch the context hooks use: two stores into the thread's switch words when the library
 * has them (the scope id, then 0 into the word that sends the thread's next allocation to the
 * slow path, which takes the new scope up: include/skull_mem.h), else the `scopeSwitch` call.
 * Nothing runs between the two stores, so no allocation sees one without the other.
 */
function switcher(native: Binding): (id: number) => void {
  const buffer = native.scopeSwitchWords();
  if (!buffer) return native.scopeSwitch;
  const words = new Uint32Array(buffer);
  return (id) => {
    words[1] = id;
    words[0] = 0;
  };
}

/** The libuv pool size, read as libuv reads it (UV_THREADPOOL_SIZE, 1 to 1024, default 4). */
function threadpoolSize(): number {
  const size = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10);
  return Number.isFinite(size) && size > 0 ? Math.min(size, 1024) : 4;
}

function markThreadpool(native: Binding): Promise<number> {
  const id = callAddon(() => native.scopeRegister(THREADPOOL_SCOPE, 'pool'));
  const threads = threadpoolSize();
  // Queued before any work the caller queues next: the pool takes work in FIFO order, so that
  // work runs on marked threads even if nobody awaits this promise.
  const marks = Array.from({ length: threads }, () => native.threadpoolMark(id, threads));
  return Promise.all(marks).then((arrived) => Math.min(threads, ...arrived));
}

/**
 * Resolves, once scopes are in use, with the number of libuv threadpool threads that charge
 * the `threadpool` scope (the pool size when all of them do; 0 when nothing is measured).
 */
export function threadpoolAttribution(): Promise<number> {
  return contextState()?.threadpool ?? Promise.resolve(0);
}

/** A named component that native allocations are charged to. */
export class Scope {
  /** The id the library gave the scope (stable for the life of the process). */
  readonly id: number;
  /** The scope name. */
  readonly name: string;
  /** The scope kind. */
  readonly kind: string;

  /** @internal Use `defineScope`. */
  constructor(id: number, name: string, kind: string) {
    this.id = id;
    this.name = name;
    this.kind = kind;
  }

  /**
   * Runs `fn` in this scope and returns what it returns. The allocations `fn` makes, and
   * those of every callback and `await` continuation it starts, are charged to this scope;
   * the caller's scope is current again when `run` returns.
   */
  run<T>(fn: () => T): T {
    const state = shared === undefined ? contextState() : shared;
    if (state === null) return fn();
    return state.store ? state.store.run(this.id, runIn, state, this.id, fn) : runIn(state, this.id, fn);
  }
}

/** Runs `fn` with `id` current in the thread-local, restoring the caller's scope after. */
function runIn<T>(state: ContextState, id: number, fn: () => T): T {
  const outer = state.current;
  enter(state, id);
  try {
    return fn();
  } finally {
    enter(state, outer);
  }
}

/** Scopes already defined in this process, by `kind\0name`. */
const defined = new Map<string, Scope>();

/**
 * Defines (or finds) the scope `name` of kind `options.kind` (default `module`).
 * Names are 1 to 47 bytes of UTF-8, kinds 1 to 15. When nothing is measured (no preload) it
 * returns a pass-through scope with the id of `core` and never throws.
 * @throws {SkullMemError} `BAD_ARGUMENT` when the name or kind does not fit or the scope table
 *   is full, `VERSION_MISMATCH` when the preloaded library is another version's.
 */
export function defineScope(name: string, options: ScopeOptions = {}): Scope {
  const kind = options.kind ?? 'module';
  const key = `${kind}\0${name}`;
  let scope = defined.get(key);
  if (!scope) {
    const id = contextState() === null ? CORE_SCOPE_ID : callAddon(() => nativeBinding().scopeRegister(name, kind));
    scope = new Scope(id, name, kind);
    defined.set(key, scope);
  }
  return scope;
}

/** Runs `fn` in the scope `name` (kind `module` unless given); see `Scope.run`. */
export function withScope<T>(name: string, fn: () => T, options: ScopeOptions = {}): T {
  return defineScope(name, options).run(fn);
}

/**
 * Makes `scope` current for the rest of the callback now running (until its `after` hook),
 * like `AsyncLocalStorage.enterWith`; used where no function can be wrapped (a
 * diagnostics_channel subscriber).
 */
export function enterForCurrentCallback(scope: Scope): void {
  const state = contextState();
  if (state === null) return;
  state.store?.enterWith(scope.id);
  enter(state, scope.id);
}

/** The id of the scope the running JavaScript is charged to (0 = core, and always 0 when
 * nothing is measured). */
export function currentScopeId(): number {
  return contextState()?.current ?? CORE_SCOPE_ID;
}

/**
 * How scopes follow async continuations in this process: `promise-hooks` (the default on Node
 * 24; `context-frame` when forced), `async-hooks` (Node 20 and 22), or `none` when nothing is
 * measured; see the top of this module. Installs the mechanism if scopes were not used yet.
 */
export function scopePropagation(): Propagation {
  return contextState()?.mechanism ?? 'none';
}
