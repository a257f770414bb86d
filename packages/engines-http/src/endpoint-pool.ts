import { EngineUnavailableError } from '@muai/core';

/** Checks one endpoint; resolves true when it can take requests. Must not throw. */
export type EndpointProbe = (endpoint: string, signal: AbortSignal) => Promise<boolean>;

export interface EndpointPoolOptions {
  /** Base URLs, e.g. `http://10.0.0.5:8000`. At least one. Trailing slashes are dropped. */
  endpoints: readonly string[];
  /** Engine name, for messages. */
  engine: string;
  /** How long a failing endpoint stays out, in ms. Default 5000. */
  cooldownMs?: number;
  /** Consecutive failures that put an endpoint into cooldown. Default 1. */
  failureThreshold?: number;
  /** Health check that brings a cooled endpoint back. Default: every probe passes. */
  probe?: EndpointProbe;
  /** Time allowed for one probe, in ms. Default 2000. */
  probeTimeoutMs?: number;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
}

/** What the pool knows about one endpoint. */
export interface EndpointState {
  readonly url: string;
  /** Requests sent and not finished. */
  outstanding: number;
  /** Consecutive failures. */
  failures: number;
  /** Epoch ms until which the endpoint is out; 0 when in. */
  cooldownUntil: number;
  /** Totals, for reports. */
  served: number;
  failed: number;
}

/** A claim on one endpoint; call `release` exactly once. */
export interface EndpointLease {
  readonly endpoint: string;
  /** `ok: false` counts a failure (and may start a cooldown); `ok: true` resets the failure count. */
  release(ok: boolean): void;
}

/** Normalizes a base URL: no trailing slash, and no `/v1` suffix (paths include it). */
export function normalizeEndpoint(url: string): string {
  let out = url.trim().replace(/\/+$/, '');
  if (out.endsWith('/v1')) out = out.slice(0, -3);
  if (!/^https?:\/\//.test(out)) out = `http://${out}`;
  return out;
}

/**
 * Spreads requests over several endpoints of one model: the endpoint with the fewest outstanding
 * requests wins (ties rotate), a failing endpoint cools down for `cooldownMs`, and after that it
 * must pass `probe` before it gets traffic again (probed in the background while other endpoints
 * serve, or in line when no other endpoint is healthy). When every endpoint is cooling, the one whose
 * cooldown ends first is probed at once, so a single-endpoint pool recovers without waiting.
 */
export class EndpointPool {
  private readonly states: EndpointState[];
  private readonly options: EndpointPoolOptions;
  private rotation = 0;
  private readonly probing = new Map<string, Promise<boolean>>();

  constructor(options: EndpointPoolOptions) {
    if (options.endpoints.length === 0) {
      throw new EngineUnavailableError(options.engine, 'no endpoints are configured', 'Pass at least one endpoint URL.');
    }
    this.options = options;
    const unique = [...new Set(options.endpoints.map(normalizeEndpoint))];
    this.states = unique.map((url) => ({ url, outstanding: 0, failures: 0, cooldownUntil: 0, served: 0, failed: 0 }));
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** A snapshot of every endpoint. */
  snapshot(): EndpointState[] {
    return this.states.map((state) => ({ ...state }));
  }

  /** Endpoint URLs in configuration order. */
  get endpoints(): string[] {
    return this.states.map((state) => state.url);
  }

  /** Claims the best endpoint, skipping `exclude` when others exist. */
  async acquire(exclude: ReadonlySet<string> = new Set()): Promise<EndpointLease> {
    const now = this.now();
    let candidates = this.states.filter((state) => state.cooldownUntil <= now && !exclude.has(state.url));
    if (candidates.length === 0) candidates = this.states.filter((state) => state.cooldownUntil <= now);
    // Endpoints whose cooldown has ended must pass a probe first; healthy ones are preferred.
    const healthy = candidates.filter((state) => state.failures < this.threshold());
    let chosen = this.pick(healthy);
    if (chosen) {
      // Endpoints whose cooldown is over are probed in the background, so they rejoin while others serve.
      for (const state of candidates) if (state.failures >= this.threshold()) void this.probe(state);
    }
    if (!chosen) {
      const returning = [...candidates].sort((a, b) => a.outstanding - b.outstanding);
      for (const state of returning) {
        if (await this.probe(state)) {
          chosen = state;
          break;
        }
      }
    }
    if (!chosen) {
      const cooling = this.states.filter((state) => state.cooldownUntil > now && !candidates.includes(state));
      cooling.sort((a, b) => a.cooldownUntil - b.cooldownUntil);
      const first = cooling[0];
      if (first && (await this.probe(first))) chosen = first;
    }
    if (!chosen) {
      throw new EngineUnavailableError(
        this.options.engine,
        `all ${this.states.length} endpoint(s) are failing (${this.states.map((state) => state.url).join(', ')})`,
        'Check that the servers are running; they are probed again after the cooldown.',
        { details: { endpoints: this.states.map((state) => state.url), retryable: false } },
      );
    }
    const state = chosen;
    state.outstanding += 1;
    let released = false;
    return {
      endpoint: state.url,
      release: (ok: boolean) => {
        if (released) return;
        released = true;
        state.outstanding -= 1;
        if (ok) this.markSuccess(state.url);
        else this.markFailure(state.url);
      },
    };
  }

  private threshold(): number {
    return Math.max(1, this.options.failureThreshold ?? 1);
  }

  private pick(states: EndpointState[]): EndpointState | undefined {
    if (states.length === 0) return undefined;
    const least = Math.min(...states.map((state) => state.outstanding));
    const tied = states.filter((state) => state.outstanding === least);
    const chosen = tied[this.rotation % tied.length];
    this.rotation += 1;
    return chosen;
  }

  /** Counts a success: the failure streak ends. */
  markSuccess(url: string): void {
    const state = this.states.find((candidate) => candidate.url === url);
    if (!state) return;
    state.served += 1;
    state.failures = 0;
    state.cooldownUntil = 0;
  }

  /** Counts a failure; at the threshold the endpoint cools down for `cooldownMs`. */
  markFailure(url: string): void {
    const state = this.states.find((candidate) => candidate.url === url);
    if (!state) return;
    state.failed += 1;
    state.failures += 1;
    if (state.failures >= this.threshold()) state.cooldownUntil = this.now() + (this.options.cooldownMs ?? 5000);
  }

  /** Probes one endpoint (sharing a probe already running); brings it back on success. */
  private probe(state: EndpointState): Promise<boolean> {
    const running = this.probing.get(state.url);
    if (running) return running;
    const check = this.options.probe ?? (async () => true);
    const signal = AbortSignal.timeout(this.options.probeTimeoutMs ?? 2000);
    const result = check(state.url, signal)
      .catch(() => false)
      .then((ok) => {
        if (ok) {
          state.failures = 0;
          state.cooldownUntil = 0;
        } else {
          state.cooldownUntil = this.now() + (this.options.cooldownMs ?? 5000);
        }
        return ok;
      })
      .finally(() => this.probing.delete(state.url));
    this.probing.set(state.url, result);
    return result;
  }
}
