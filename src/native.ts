/**
 * Loads this platform's Node addon (found by src/platform.ts), typed by the declarations
 * `@napi-rs/cli` generates from crates/node (src/native-binding.d.ts). Nothing here needs the
 * interposer to be preloaded: the addon loads either way and says through `preloadStatus()`
 * whether the library is there.
 *
 * Only modules of src/ import this one, and none of their public signatures names a type of
 * the binding, so the package's published declarations never need native-binding.d.ts.
 */
import type * as Generated from './native-binding';
import { addonPath } from './platform';

/**
 * The addon's exports: what @napi-rs/cli declares, plus `scopeSwitch` and `scopeSwitchWords`,
 * raw Node-API callbacks it cannot see (crates/node/src/switch.rs explains why they are raw).
 */
export type Binding = typeof Generated & {
  /** Switches the thread's scope and returns the previous one (4294967295 when the id is
   * unknown or the library is absent); never throws. */
  scopeSwitch(id: number): number;
  /** The calling thread's two scope switch words (`skull_scope_switch_words` in
   * include/skull_mem.h) over its thread-local, 8 bytes; undefined without a library that has
   * them. Storing an id in word 1, then 0 in word 0, switches the thread's scope. */
  scopeSwitchWords(): ArrayBuffer | undefined;
};

let binding: Binding | undefined;

/** The loaded addon; loaded on first use, so importing skull-mem costs nothing until needed. */
export function nativeBinding(): Binding {
  if (!binding) {
    const addon = addonPath();
    try {
      const loaded: Binding = require(addon);
      binding = loaded;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`skull-mem: cannot load the addon ${addon}: ${why}; reinstall skull-mem (or run \`npm run build\` in a checkout)`);
    }
  }
  return binding;
}
