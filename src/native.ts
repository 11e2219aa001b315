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
 * The addon's exports: what @napi-rs/cli declares, plus `scopeSwitch`, a raw Node-API
 * callback it cannot see (crates/node/src/switch.rs explains why it is raw).
 */
export type Binding = typeof Generated & {
  /** Switches the thread's scope and returns the previous one (4294967295 when the id is
   * unknown or the library is absent); never throws. */
  scopeSwitch(id: number): number;
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
