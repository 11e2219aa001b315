// ESM entry of skull-mem/testing, copied beside the compiled CommonJS build by scripts/build.mjs:
// it re-exports that build, so that `import` and `require` share one copy of its state.
export * from './testing.js';
