/**
 * How the scope of the running JavaScript follows async continuations into the thread-local of
 * the preloaded library: one of two mechanisms, picked once per process by feature detection
 * (src/scope.ts describes both; benches/README.md has their measured costs).
 */
import { AsyncLocalStorage, createHook, executionAsyncResource } from 'node:async_hooks';
import { promiseHooks } from 'node:v8';

/** The propagation mechanisms; `none` when nothing is measured (no-op mode). */
export type Propagation = 'context-frame' | 'async-hooks' | 'none';

/** The state the context hooks and `Scope.run` share. */
export interface ContextState {
  /** The scope of the JavaScript now running; the thread-local holds the same id. */
  current: number;
  /** The scopes to restore, one per callback being run. */
  saved: number[];
  /** The native switch. */
  switchTo: (id: number) => number;
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

/** The mechanism this runtime allows. */
function choose(): ContextState['mechanism'] {
  return hasContextFrame() && canSkipPromises() ? 'context-frame' : 'async-hooks';
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
 * thread-local's scope now, `switchTo` the addon's raw switch.
 */
export function installPropagation(current: number, switchTo: (id: number) => number): ContextState {
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
  if (state.store) {
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
      init(_asyncId, _type, _trigger, resource: Tagged) {
        if (state.current !== 0) resource[SCOPE_TAG] = state.current;
      },
      before() {
        state.saved.push(state.current);
        enter(state, (executionAsyncResource() as Tagged)[SCOPE_TAG] ?? 0);
      },
      after,
    }).enable();
  }
  return state;
}
