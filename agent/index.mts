// The ESM entry: a thin layer over the CommonJS build, so `import` and `require` share one agent.
import api from './index.js';

export const { task, cancel, track, snapshot, where, tree, handles, startMonitor, registerMetrics, asyncmonInstrumentation, AsyncmonError } = api;
export default api;
