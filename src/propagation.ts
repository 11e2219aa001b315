/**
 * How the scope of the running JavaScript follows async continuations into the thread-local of
 * the preloaded library: one of two mechanisms, picked once per process by feature detection
 * (src/scope.ts describes both; benches/README.md has their measured costs).
 */
import { AsyncLocalStorage, createHook, executionAsyncResource } from 'node:async_hooks';
import { promiseHooks } from 'node:v8';

/** The propagation mechanisms; `none` when nothing is measured (no-op mode). */
export type Propagation = 'promise-hooks' | 'context-frame' | 'async-hooks' | 'none';

/** Names a mechanism to use instead of the default, where the runtime has it (benchmarks, and
 * tests that run every mechanism); an unknown or unavailable one is ignored. */
export const PROPAGATION_ENV = 'SKULL_MEM_PROPAGATION';

/** The state the context hooks and `Scope.run` share. */
export interface ContextState {
  /** The scope of the JavaScript now running; the thread-local holds the same id. */
  current: number;
  /** The scopes to restore, one per callback being run. */
  saved: number[];
  /** The native switch (src/scope.ts, `switcher`). */
  switchTo: (id: number) => unknown;
  /** Resolves when the threadpool threads charge `threadpool`. */
  threadpool: Promise<number>;
  /** `context-frame`: the store V8 carries along continuations; `async-hooks`: undefined. */
  store: AsyncLocalStorage<number> | undefined;
  /** Which mechanism keeps `current` right. */
  mechanism: Exclude<Propagation, 'none'>;
}

/**
 * Whether AsyncLocalStorage is built on AsyncContextFrame (Node 24, or Node 22 with
 * `--experimental-async-context-frame`): the async_hooks-based implementation (Node 20, 22)
 * has the `_propagate` method its init hook calls; the frame-based one has none.
 */
function hasContextFrame(): boolean {
  return typeof (AsyncLocalStorage.prototype as { _propagate?: unknown })._propagate !== 'function';
}

/**
 * Whether `createHook({ trackPromises: false })` leaves promises alone (Node 24): older
 * versions ignore the option and would call the hook for every promise, which costs what the
 * `async-hooks` mechanism costs and would switch twice per continuation. Probed, since the
 * option is silently ignored where unknown: creating a promise calls `init` synchronously.
 */
function canSkipPromises(): boolean {
  let promises = 0;
  const probe = createHook({
    init(_id, type) {
      if (type === 'PROMISE') promises++;
    },
    trackPromises: false,
  } as Parameters<typeof createHook>[0]);
  probe.enable();
  void Promise.resolve().then(() => undefined);
  probe.disable();
  return promises === 0;
}

/** The mechanisms this runtime has, the default first. */
export function availableMechanisms(): ContextState['mechanism'][] {
  const skip = canSkipPromises();
  const mechanisms: ContextState['mechanism'][] = skip ? ['promise-hooks'] : [];
  if (skip && hasContextFrame()) mechanisms.push('context-frame');
  mechanisms.push('async-hooks');
  return mechanisms;
}

/** The default mechanism of this runtime, or the one named by SKULL_MEM_PROPAGATION if it has it. */
function choose(): ContextState['mechanism'] {
  const available = availableMechanisms();
  const wanted = process.env[PROPAGATION_ENV];
  return available.find((m) => m === wanted) ?? available[0]!;
}

/** Makes `id` current in JavaScript and in the thread-local. */
export function enter(state: ContextState, id: number): void {
  if (id !== state.current) {
    state.switchTo(id);
    state.current = id;
  }
}

/** Where the `async-hooks` mechanism keeps a resource's scope (a property, as
 * AsyncLocalStorage does on Node 20). */
const SCOPE_TAG = Symbol('skull-mem.scope');

type Tagged = { [SCOPE_TAG]?: number };

/**
 * Installs the mechanism of this runtime for the life of the process. `current` is the
 * thread-local's scope now, `switchTo` the switch (src/scope.ts, `switcher`).
 */
export function installPropagation(current: number, switchTo: (id: number) => unknown): ContextState {
  const mechanism = choose();
  const state: ContextState = {
    current,
    saved: [],
    switchTo,
    threadpool: Promise.resolve(0),
    store: mechanism === 'context-frame' ? new AsyncLocalStorage<number>() : undefined,
    mechanism,
  };
  const after = (): void => enter(state, state.saved.pop() ?? 0);
  // The tag of a resource (promise, timer, I/O request) created inside a scope: its scope.
  const init = (resource: Tagged): void => {
    if (state.current !== 0) resource[SCOPE_TAG] = state.current;
  };
  const beforeTagged = (resource: Tagged): void => {
    state.saved.push(state.current);
    enter(state, resource[SCOPE_TAG] ?? 0);
  };
  if (mechanism === 'promise-hooks') {
    // Promises through V8's own hooks (no async ids, no resource stack); everything else
    // through async_hooks, which then leaves promises alone.
    promiseHooks.createHook({ init: (promise) => init(promise as Tagged), before: (promise) => beforeTagged(promise as Tagged), after });
    createHook({
      init: (_id, _type, _trigger, resource: Tagged) => init(resource),
      before: () => beforeTagged(executionAsyncResource() as Tagged),
      after,
      trackPromises: false,
    } as Parameters<typeof createHook>[0]).enable();
  } else if (state.store) {
    const store = state.store;
    // V8 has restored the continuation's frame (and so the store) when these run.
    const before = (): void => {
      state.saved.push(state.current);
      enter(state, store.getStore() ?? 0);
    };
    promiseHooks.createHook({ before, after });
    createHook({ before, after, trackPromises: false } as Parameters<typeof createHook>[0]).enable();
  } else {
    createHook({
      init: (_id, _type, _trigger, resource: Tagged) => init(resource),
      before: () => beforeTagged(executionAsyncResource() as Tagged),
      after,
    }).enable();
  }
  return state;
}
