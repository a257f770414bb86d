/**
 * In-test OTLP trace receivers (HTTP/protobuf and gRPC) that decode requests with the official
 * opentelemetry-proto definitions in ../proto, loaded by protobufjs.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const PROTO_ROOT = join(import.meta.dirname, '..', 'proto');
const SERVICE_PROTO = 'opentelemetry/proto/collector/trace/v1/trace_service.proto';

export interface DecodedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  statusCode: number;
  serviceName: string | undefined;
}

export interface Receiver {
  readonly url: string;
  readonly spans: DecodedSpan[];
  /** Export requests received. */
  readonly requests: number;
  /** Resolves once at least `count` spans arrived. */
  waitForSpans(count: number, timeoutMs?: number): Promise<DecodedSpan[]>;
  close(): Promise<void>;
}

let rootPromise: Promise<protobuf.Root> | undefined;
function loadRoot(): Promise<protobuf.Root> {
  rootPromise ??= (async () => {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => join(PROTO_ROOT, target.replace(/^.*?(opentelemetry\/proto\/)/, '$1'));
    await root.load(SERVICE_PROTO, { keepCase: false });
    root.resolveAll();
    return root;
  })();
  return rootPromise;
}

function anyValue(value: Record<string, unknown> | undefined): unknown {
  if (!value) return undefined;
  if ('stringValue' in value) return value.stringValue;
  if ('boolValue' in value) return value.boolValue;
  if ('intValue' in value) return Number(value.intValue);
  if ('doubleValue' in value) return value.doubleValue;
  if ('arrayValue' in value) {
    const values = (value.arrayValue as { values?: Array<Record<string, unknown>> }).values ?? [];
    return values.map((v) => anyValue(v));
  }
  return undefined;
}

function attributes(list: Array<{ key: string; value?: Record<string, unknown> }> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list ?? []) out[key] = anyValue(value);
  return out;
}

const hex = (bytes: Uint8Array | undefined): string => (bytes && bytes.length > 0 ? Buffer.from(bytes).toString('hex') : '');

interface DecodedRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: Array<{ key: string; value?: Record<string, unknown> }> };
    scopeSpans?: Array<{
      spans?: Array<{
        traceId: Uint8Array;
        spanId: Uint8Array;
        parentSpanId?: Uint8Array;
        name: string;
        kind?: number;
        attributes?: Array<{ key: string; value?: Record<string, unknown> }>;
        status?: { code?: number };
      }>;
    }>;
  }>;
}

function flatten(request: DecodedRequest): DecodedSpan[] {
  const spans: DecodedSpan[] = [];
  for (const resourceSpans of request.resourceSpans ?? []) {
    const serviceName = attributes(resourceSpans.resource?.attributes)['service.name'] as string | undefined;
    for (const scope of resourceSpans.scopeSpans ?? []) {
      for (const span of scope.spans ?? []) {
        spans.push({
          traceId: hex(span.traceId),
          spanId: hex(span.spanId),
          parentSpanId: hex(span.parentSpanId),
          name: span.name,
          kind: span.kind ?? 0,
          attributes: attributes(span.attributes),
          statusCode: span.status?.code ?? 0,
          serviceName,
        });
      }
    }
  }
  return spans;
}

class Collected {
  spans: DecodedSpan[] = [];
  requests = 0;
  private waiters: Array<() => void> = [];

  add(spans: DecodedSpan[]): void {
    this.requests += 1;
    this.spans.push(...spans);
    for (const wake of this.waiters.splice(0)) wake();
  }

  async waitFor(count: number, timeoutMs: number): Promise<DecodedSpan[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.spans.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Expected ${count} spans, received ${this.spans.length}.`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.spans;
  }
}

/** OTLP/HTTP receiver: POST /v1/traces with `application/x-protobuf` bodies. */
export async function startHttpReceiver(): Promise<Receiver> {
  const root = await loadRoot();
  const RequestType = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
  const ResponseType = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse');
  const collected = new Collected();
  const server: HttpServer = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.url !== '/v1/traces' || request.headers['content-type'] !== 'application/x-protobuf') {
        response.statusCode = 415;
        response.end();
        return;
      }
      const decoded = RequestType.toObject(RequestType.decode(Buffer.concat(chunks)), { longs: String, defaults: false }) as DecodedRequest;
      collected.add(flatten(decoded));
      response.setHeader('Content-Type', 'application/x-protobuf');
      response.end(Buffer.from(ResponseType.encode(ResponseType.create({})).finish()));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    get spans() {
      return collected.spans;
    },
    get requests() {
      return collected.requests;
    },
    waitForSpans: (count, timeoutMs = 15_000) => collected.waitFor(count, timeoutMs),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** OTLP/gRPC receiver implementing opentelemetry.proto.collector.trace.v1.TraceService/Export. */
export async function startGrpcReceiver(): Promise<Receiver> {
  const root = await loadRoot();
  const RequestType = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
  const ResponseType = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse');
  const service = root.lookupService('opentelemetry.proto.collector.trace.v1.TraceService');
  const method = service.methods.Export;
  if (!method) throw new Error('TraceService.Export missing from the proto definitions');
  const collected = new Collected();
  const definition: grpc.ServiceDefinition = {
    Export: {
      path: `/${service.fullName.replace(/^\./, '')}/Export`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (value: unknown) => Buffer.from(RequestType.encode(value as protobuf.Message).finish()),
      requestDeserialize: (bytes: Buffer) => RequestType.decode(bytes),
      responseSerialize: (value: unknown) => Buffer.from(ResponseType.encode(value as protobuf.Message).finish()),
      responseDeserialize: (bytes: Buffer) => ResponseType.decode(bytes),
    },
  };
  const server = new grpc.Server();
  server.addService(definition, {
    Export: (call: grpc.ServerUnaryCall<protobuf.Message, protobuf.Message>, callback: grpc.sendUnaryData<protobuf.Message>) => {
      const decoded = RequestType.toObject(call.request, { longs: String, defaults: false }) as DecodedRequest;
      collected.add(flatten(decoded));
      callback(null, ResponseType.create({}));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return {
    url: `http://127.0.0.1:${port}`,
    get spans() {
      return collected.spans;
    },
    get requests() {
      return collected.requests;
    },
    waitForSpans: (count, timeoutMs = 15_000) => collected.waitFor(count, timeoutMs),
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
