// Types of the ESM entry (src/index.mjs): the same API as the CommonJS build.
export * from './index.js';
