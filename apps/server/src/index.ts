export { createServer } from './server.js';
export type { Readiness, ServerMetrics, ServerOptions } from './server.js';
export { startServer } from './start.js';
export type { RunningServer, StartServerOptions } from './start.js';
export { toErrorResponse } from './errors.js';
export type { OpenAIErrorBody } from './errors.js';
export { DEFAULT_LIMITS } from './schemas.js';
export type { RequestLimits } from './schemas.js';
