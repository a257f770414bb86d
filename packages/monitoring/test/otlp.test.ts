import { createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SpanKind } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { OTelTracer, type MuaiTracer } from '../src/index.js';
import { startGrpcReceiver, startHttpReceiver, type DecodedSpan, type Receiver } from './helpers/otlp-receiver.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** One chat request as the server, orchestrator, workflow, model manager, batcher and engine would trace it. */
async function chatRequest(tracer: MuaiTracer, model: string): Promise<string> {
  return tracer.traceServerRequest({ method: 'POST', route: '/v1/chat/completions' }, async (serverSpan) => {
    const text = await tracer.traceOrchestrator(async () => {
      await sleep(1);
      return tracer.traceWorkflow('chat', async () => {
        return tracer.traceInference(
          { operation: 'chat', model, engine: 'onnx', maxTokens: 16, temperature: 0.7, prompt: [{ role: 'user', content: 'secret prompt' }] },
          async (inferenceSpan) => {
            const output = await tracer.traceBatch({ model, engine: 'onnx', size: 2 }, async () => {
              await sleep(1);
              return tracer.traceEngineCall({ engine: 'onnx', operation: 'generate', model, kind: SpanKind.INTERNAL }, async () => {
                await sleep(1);
                return 'Paris';
              });
            });
            tracer.recordUsage(inferenceSpan, { inputTokens: 9, outputTokens: 3, responseModel: model, finishReasons: ['stop'] });
            return output;
          },
        );
      });
    });
    serverSpan.setAttribute('http.response.status_code', 200);
    return text;
  });
}

const EXPECTED_CHAIN = [
  'POST /v1/chat/completions',
  'orchestrator.execute',
  'workflow chat',
  'chat tiny-gpt2',
  'batch tiny-gpt2',
  'onnx generate',
];

function checkTree(spans: DecodedSpan[]): void {
  expect(spans.map((s) => s.name).sort()).toEqual([...EXPECTED_CHAIN].sort());
  const byName = new Map(spans.map((s) => [s.name, s]));
  const traceIds = new Set(spans.map((s) => s.traceId));
  expect(traceIds.size).toBe(1);
  expect([...traceIds][0]).toMatch(/^[0-9a-f]{32}$/);
  const root = byName.get(EXPECTED_CHAIN[0] as string);
  expect(root?.parentSpanId).toBe('');
  expect(root?.kind).toBe(2); // SPAN_KIND_SERVER in the OTLP enum
  for (let i = 1; i < EXPECTED_CHAIN.length; i++) {
    const child = byName.get(EXPECTED_CHAIN[i] as string);
    const parent = byName.get(EXPECTED_CHAIN[i - 1] as string);
    expect(child?.parentSpanId, `${child?.name} should be a child of ${parent?.name}`).toBe(parent?.spanId);
  }
  const inference = byName.get('chat tiny-gpt2');
  expect(inference?.attributes).toMatchObject({
    'gen_ai.operation.name': 'chat',
    'gen_ai.request.model': 'tiny-gpt2',
    'gen_ai.provider.name': 'onnx',
    'gen_ai.request.max_tokens': 16,
    'gen_ai.request.temperature': 0.7,
    'gen_ai.response.model': 'tiny-gpt2',
    'gen_ai.usage.input_tokens': 9,
    'gen_ai.usage.output_tokens': 3,
    'gen_ai.response.finish_reasons': ['stop'],
  });
  // Prompts are off by default: no content attribute anywhere.
  for (const span of spans) {
    expect(Object.keys(span.attributes).filter((k) => k.includes('messages') || k === 'gen_ai.prompt')).toEqual([]);
    expect(JSON.stringify(span.attributes)).not.toContain('secret prompt');
  }
  expect(byName.get('batch tiny-gpt2')?.attributes['muai.batch.size']).toBe(2);
  expect(root?.attributes['http.response.status_code']).toBe(200);
  expect(root?.serviceName).toBe('muai-test');
}

async function receiverFor(protocol: 'http' | 'grpc'): Promise<Receiver> {
  const receiver = protocol === 'http' ? await startHttpReceiver() : await startGrpcReceiver();
  cleanups.push(() => receiver.close());
  return receiver;
}

describe.each(['http', 'grpc'] as const)('OTLP export over %s, decoded with the official protos', (protocol) => {
  it('delivers the complete, correctly parented span tree of one chat request with GenAI attributes', async () => {
    const receiver = await receiverFor(protocol);
    const tracer = new OTelTracer({ protocol, endpoint: receiver.url, serviceName: 'muai-test' });
    cleanups.push(() => tracer.shutdown());
    expect(await chatRequest(tracer, 'tiny-gpt2')).toBe('Paris');
    await tracer.shutdown(); // flushes
    const spans = await receiver.waitForSpans(EXPECTED_CHAIN.length);
    checkTree(spans);
    expect(tracer.stats()).toMatchObject({ exportedSpans: 6, failedExports: 0 });
  });

  it('keeps concurrent requests in separate, complete trees', async () => {
    const receiver = await receiverFor(protocol);
    const tracer = new OTelTracer({ protocol, endpoint: receiver.url, serviceName: 'muai-test' });
    cleanups.push(() => tracer.shutdown());
    await Promise.all([chatRequest(tracer, 'tiny-gpt2'), chatRequest(tracer, 'tiny-gpt2'), chatRequest(tracer, 'tiny-gpt2')]);
    await tracer.shutdown();
    const spans = await receiver.waitForSpans(3 * EXPECTED_CHAIN.length);
    const byTrace = new Map<string, DecodedSpan[]>();
    for (const span of spans) byTrace.set(span.traceId, [...(byTrace.get(span.traceId) ?? []), span]);
    expect(byTrace.size).toBe(3);
    for (const tree of byTrace.values()) checkTree(tree);
  });
});

describe('an unreachable or hung collector', () => {
  it('closed port (gRPC): requests complete, export failures are counted, shutdown returns', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const errors: string[] = [];
    const tracer = new OTelTracer({
      endpoint: `http://127.0.0.1:${port}`,
      exportTimeoutMs: 1_000,
      shutdownTimeoutMs: 3_000,
      onExportError: (error) => errors.push(error.message),
    });
    cleanups.push(() => tracer.shutdown());
    expect(await chatRequest(tracer, 'tiny-gpt2')).toBe('Paris');
    await tracer.forceFlush();
    expect(tracer.stats().failedExports).toBeGreaterThanOrEqual(1);
    expect(tracer.stats().droppedSpans).toBe(6);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    await tracer.shutdown();
  });

  it('hung collector (accepts, never answers): a request completes while an export is stuck, and shutdown is bounded', async () => {
    const sockets = new Set<Socket>();
    const blackhole = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          blackhole.close(() => resolve());
        }),
    );
    const { port } = blackhole.address() as { port: number };
    const tracer = new OTelTracer({
      protocol: 'http',
      endpoint: `http://127.0.0.1:${port}/v1/traces`,
      exportTimeoutMs: 500,
      shutdownTimeoutMs: 1_500,
      onExportError: () => undefined,
    });
    cleanups.push(() => tracer.shutdown());

    await chatRequest(tracer, 'tiny-gpt2');
    const flushing = tracer.forceFlush();
    for (let i = 0; i < 200 && tracer.stats().exportsInFlight === 0; i++) await sleep(5);
    expect(tracer.stats().exportsInFlight).toBe(1);
    // A second request runs start to finish while the export hangs.
    expect(await chatRequest(tracer, 'tiny-gpt2')).toBe('Paris');
    expect(tracer.stats().exportsInFlight).toBe(1);
    await flushing;

    const sentinel = Symbol('hang');
    const winner = await Promise.race([tracer.shutdown().then(() => 'done'), sleep(20_000, sentinel)]);
    expect(winner).toBe('done');
    expect(tracer.stats().failedExports).toBeGreaterThanOrEqual(1);
    expect(tracer.stats().exportsInFlight).toBe(0);
  });
});
