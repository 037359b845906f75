// A plain app with no agent, for the attach figures: prints READY and idles until killed (or
// for 60 s at most, so a lost child never lingers).
'use strict';
require('node:fs').writeSync(1, 'READY\n');
const keep = setInterval(() => {}, 1000);
setTimeout(() => clearInterval(keep), 60_000).unref();
