// Types of the ESM entry of skull-mem/testing (src/testing.mjs): the CommonJS build's.
export * from './testing.js';
