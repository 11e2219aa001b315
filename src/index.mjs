// ESM entry of skull-mem, copied beside the compiled CommonJS build (dist/src/index.js) by
// scripts/build.mjs. It re-exports that build so that `import` and `require` share one copy of
// the native binding and its state: named exports, and the whole API as the default export
// (`import sm from 'skull-mem'`, like `const sm = require('skull-mem')`).
import skullMem from './index.js';

export * from './index.js';
export default skullMem;
