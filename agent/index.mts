// The ESM entry: a thin layer over the CommonJS build, so `import` and `require` share one agent.
import api from './index.js';

export const { task, cancel, track, snapshot, where, tree, handles, startMonitor, AsyncmonError } = api;
export default api;
