// Types of the ESM entry (src/index.mjs): the same API as the CommonJS build, named and as the
// default export.
import * as skullMem from './index.js';

export * from './index.js';
export default skullMem;
