// The server's routes and hooks that do not generate, as Fastify plugins: API-key auth, and the
// operational routes (/health, /ready, /metrics, /v1/models).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { Engine } from '@muai/core';
import type { Readiness, ServerMetrics } from './server.js';

/**
 * Marks a plugin so that its hooks apply to the whole app instead of only its own encapsulated
 * context (what the `fastify-plugin` package does, with Fastify's documented `skip-override` symbol).
 */
function appWide(plugin: FastifyPluginAsync): FastifyPluginAsync {
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Every /v1 request needs `Authorization: Bearer <key>` with one of `keys`: 401 UNAUTHORIZED otherwise. */
export function apiKeyAuth(keys: readonly string[]): FastifyPluginAsync {
  const expected = keys.map(digest);
  return appWide(async (app) => {
    app.addHook('onRequest', async (request, reply) => {
      if (!request.url.startsWith('/v1/')) return;
      const header = request.headers.authorization ?? '';
      const token = digest(header.startsWith('Bearer ') ? header.slice(7) : '');
      // Every key is compared (no early exit), each in constant time over fixed-length digests.
      let matched = false;
      for (const key of expected) matched = timingSafeEqual(token, key) || matched;
      if (!matched) {
        await reply.status(401).send({
          error: { message: 'Missing or invalid API key. Send it as `Authorization: Bearer <key>`.', type: 'authentication_error', param: null, code: 'UNAUTHORIZED' },
        });
      }
    });
  });
}

export interface OperationalRoutesOptions {
  engine: Engine;
  metrics?: ServerMetrics | undefined;
  isReady?: (() => boolean | Readiness | Promise<boolean | Readiness>) | undefined;
}

/** GET /v1/models, /health (liveness, with the engines' state), /ready (503 with the reason), /metrics. */
export function operationalRoutes({ engine, metrics, isReady }: OperationalRoutesOptions): FastifyPluginAsync {
  async function engineHealth() {
    try {
      return await engine.health();
    } catch (error) {
      return { ok: false, models: [] as readonly string[], detail: `engine health check failed: ${error instanceof Error ? error.message : String(error)}` };
    }
  }

  async function readinessOf(): Promise<Readiness> {
    if (isReady) {
      const answer = await isReady();
      return typeof answer === 'boolean' ? { ready: answer } : answer;
    }
    const health = await engineHealth();
    return health.ok && engine.models().length > 0 ? { ready: true } : { ready: false, ...(health.detail ? { reason: health.detail } : {}) };
  }

  return async (app) => {
    app.get('/v1/models', async () => ({
      object: 'list',
      data: engine.models().map((id) => ({ id, object: 'model', created: 0, owned_by: 'muai' })),
    }));
    // Liveness: 200 while the process serves; the body says whether the engines are healthy (e.g. a
    // remote engine marked unavailable and skipped) so that a dashboard can tell degraded from ok.
    app.get('/health', async () => {
      const health = await engineHealth();
      return { status: health.ok ? 'ok' : 'degraded', models: health.models, ...(health.detail ? { detail: health.detail } : {}) };
    });
    // Readiness: 503 until the default model is loaded, and with the reason when it cannot be.
    app.get('/ready', async (_request, reply) => {
      const readiness = await readinessOf();
      await reply.status(readiness.ready ? 200 : 503).send({ status: readiness.ready ? 'ready' : readiness.reason ? 'unavailable' : 'loading', models: engine.models(), ...(readiness.reason ? { reason: readiness.reason } : {}) });
    });
    app.get('/metrics', async (_request, reply) => {
      if (!metrics) {
        await reply.status(404).send({ error: { message: 'Metrics are disabled. Enable monitoring.prometheus (MUAI_MON_PROMETHEUS_ENABLED=true).', type: 'not_found_error', param: null, code: 'NOT_FOUND' } });
        return;
      }
      await reply.header('content-type', metrics.contentType).send(await metrics.metrics());
    });
  };
}
