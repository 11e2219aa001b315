// ESM entry of skull-mem, copied beside the compiled CommonJS build (dist/src/index.js) by
// scripts/build.mjs. It re-exports that build so that `import` and `require` share one copy of
// the native binding and its state.
export * from './index.js';
