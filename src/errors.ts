/**
 * The one error type of the package, and the one place where the addon's failures become it:
 * the addon throws errors whose `code` is stable (crates/node/src/error.rs), mapped here to a
 * `SkullMemError` code, with the addon's finer code kept as `reason` where it says more.
 */

/** Why an operation could not be done; `code` is stable, `message` says what to do. */
export type SkullMemErrorCode = 'NOT_PRELOADED' | 'VERSION_MISMATCH' | 'BAD_SNAPSHOT' | 'BAD_ARGUMENT' | 'UNREADABLE';

/** An error from skull-mem with a message a user can act on. */
export class SkullMemError extends Error {
  /** Stable identifier of the failure. */
  readonly code: SkullMemErrorCode;
  /** For `UNREADABLE`: the reader's finer reason (`NO_PROCESS`, `NOT_MEASURED`, `SYMLINK`,
   * `NOT_OWNED`, `TRUNCATED`, `VERSION_MISMATCH`, `CORRUPT`, `STALE`, `NOT_WRITABLE`,
   * `NO_SCOPE`, ...); for `VERSION_MISMATCH` from the addon, `ABI_MISMATCH`. */
  readonly reason?: string;

  constructor(code: SkullMemErrorCode, message: string, reason?: string) {
    super(message);
    this.name = 'SkullMemError';
    this.code = code;
    if (reason !== undefined) this.reason = reason;
  }
}

/** The addon's own codes; every other code is the reader's (or tracing's) reason for
 * `UNREADABLE`. */
const ADDON_CODES: Readonly<Record<string, SkullMemErrorCode>> = {
  NOT_PRELOADED: 'NOT_PRELOADED',
  ABI_MISMATCH: 'VERSION_MISMATCH',
  BAD_ARGUMENT: 'BAD_ARGUMENT',
};

/** Codes of skull-mem are UPPER_SNAKE; napi-rs's own (`InvalidArg`, ...) are PascalCase and
 * mean a bug in the caller, left as they are. */
const OWN_CODE = /^[A-Z][A-Z_]*$/;

/** Runs one call of the addon, turning the error it throws into a `SkullMemError`. */
export function callAddon<T>(call: () => T): T {
  try {
    return call();
  } catch (err) {
    if (!(err instanceof Error) || !('code' in err) || typeof err.code !== 'string' || !OWN_CODE.test(err.code)) throw err;
    const code = ADDON_CODES[err.code];
    if (code === 'NOT_PRELOADED' || code === 'BAD_ARGUMENT') throw new SkullMemError(code, err.message);
    throw new SkullMemError(code ?? 'UNREADABLE', err.message, err.code);
  }
}
