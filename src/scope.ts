/**
 * Scopes for JavaScript code: `defineScope(name).run(fn)` charges the native allocations made
 * while `fn` runs — including after every `await` inside it — to that scope.
 *
 * The preloaded library keeps the current scope in a thread-local; the allocations of a thread
 * go to whatever scope it holds. JavaScript's "current scope" lives in the async context
 * instead, so the two are kept equal whenever JavaScript runs:
 * - an async_hooks `init` hook tags each async resource (promise, timer, I/O request) created
 *   inside a scope with that scope's id, the way AsyncLocalStorage does on Node 20;
 * - `before` switches the thread-local to the tag of the resource whose callback is about to
 *   run (untagged: `core`), `after` switches it back, so native work between callbacks (the
 *   event loop, Node's C++) is never charged to the last scope that happened to run.
 * A switch is one call of the addon's raw `scopeSwitch` (~25 ns), made only when the scope
 * actually changes.
 *
 * Cost, measured on Node 20 with benches/node_scope.mjs (medians of interleaved rounds on a
 * shared 2-core machine): a sync `run` adds one switch in and one out, 67-150 ns depending on
 * load. On await-heavy code the hook dominates: enabling any async_hooks hook makes V8 call
 * into JavaScript for every promise of the process; empty hooks alone cost 2.6-3.6x on an
 * async function with three awaits, and `run` around it costs 4-6x. Measured alternatives:
 * AsyncLocalStorage (2.9-3.7x with nothing else; on Node 20 it is the same hook, and the
 * native switch would still need before/after); `v8.promiseHooks` (1.5-1.8x empty) sees
 * promises only, so scopes would be lost across timers, nextTick and I/O callbacks.
 *
 * Work Node queues to the libuv threadpool runs on threads without JavaScript: see
 * crates/node/src/threadpool.rs. Those bytes are charged to the `threadpool` scope.
 */
import { createHook, executionAsyncResource } from 'node:async_hooks';
import { callAddon } from './errors';
import { nativeBinding, type Binding } from './native';
import { requireActive } from './status';

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

/** Where the tag of a resource's scope is kept (a property, as AsyncLocalStorage does). */
const SCOPE_TAG = Symbol('skull-mem.scope');

type Tagged = { [SCOPE_TAG]?: number };

/**
 * The process-wide context state, kept on `globalThis` so that two copies of this module
 * (say, two installed versions) share one hook and one idea of the current scope instead of
 * fighting over the thread-local.
 */
interface ContextState {
  /** The scope of the JavaScript now running; the thread-local holds the same id. */
  current: number;
  /** The scopes to restore, one per callback being run. */
  saved: number[];
  /** The native switch. */
  switchTo: (id: number) => number;
  /** Resolves when the threadpool threads charge `threadpool`. */
  threadpool: Promise<number>;
}

const STATE_KEY = Symbol.for('skull-mem.context-state.v1');

/** Makes `id` current in JavaScript and in the thread-local. */
function enter(state: ContextState, id: number): void {
  if (id !== state.current) {
    state.switchTo(id);
    state.current = id;
  }
}

/** This module's handle on the shared state, so `run` does not look it up on `globalThis`. */
let shared: ContextState | undefined;

/** The shared context state, installing the hook and marking the threadpool on first use. */
function contextState(): ContextState {
  if (shared) return shared;
  const holder = globalThis as { [STATE_KEY]?: ContextState };
  const existing = holder[STATE_KEY];
  if (existing) return (shared = existing);
  requireActive();
  const native = nativeBinding();
  const state: ContextState = {
    current: callAddon(() => native.scopeCurrent()),
    saved: [],
    switchTo: native.scopeSwitch,
    threadpool: Promise.resolve(0),
  };
  createHook({
    init(_asyncId, _type, _trigger, resource: Tagged) {
      if (state.current !== CORE_SCOPE_ID) resource[SCOPE_TAG] = state.current;
    },
    before() {
      state.saved.push(state.current);
      enter(state, (executionAsyncResource() as Tagged)[SCOPE_TAG] ?? CORE_SCOPE_ID);
    },
    after() {
      enter(state, state.saved.pop() ?? CORE_SCOPE_ID);
    },
  }).enable();
  holder[STATE_KEY] = shared = state;
  state.threadpool = markThreadpool(native);
  return state;
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
 * the `threadpool` scope (the pool size when all of them do).
 * @throws {SkullMemError} `NOT_PRELOADED` when the interposer is not preloaded.
 */
export function threadpoolAttribution(): Promise<number> {
  return contextState().threadpool;
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
    const state = shared ?? contextState();
    const outer = state.current;
    enter(state, this.id);
    try {
      return fn();
    } finally {
      enter(state, outer);
    }
  }
}

/** Scopes already defined in this process, by `kind\0name`. */
const defined = new Map<string, Scope>();

/**
 * Defines (or finds) the scope `name` of kind `options.kind` (default `module`).
 * Names are 1 to 47 bytes of UTF-8, kinds 1 to 15.
 * @throws {SkullMemError} `NOT_PRELOADED` when the interposer is not preloaded,
 *   `BAD_ARGUMENT` when the name or kind does not fit or the scope table is full.
 */
export function defineScope(name: string, options: ScopeOptions = {}): Scope {
  const kind = options.kind ?? 'module';
  const key = `${kind}\0${name}`;
  let scope = defined.get(key);
  if (!scope) {
    contextState();
    scope = new Scope(callAddon(() => nativeBinding().scopeRegister(name, kind)), name, kind);
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
  enter(contextState(), scope.id);
}

/** The id of the scope the running JavaScript is charged to (0 = core). */
export function currentScopeId(): number {
  return contextState().current;
}
