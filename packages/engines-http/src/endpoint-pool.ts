import { ConfigInvalidError, EngineUnavailableError } from '@muai/core';
import type { ConfigProblem } from '@muai/core';

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
  /** Clock (epoch ms), for tests. Default Date.now. */
  now?: () => number;
  /** How a request picks among healthy endpoints. Default `{ policy: 'least-outstanding' }`. */
  routing?: RoutingOptions;
  /**
   * Cooldowns shared with other processes (other replicas of the same service), so that one
   * replica's discovery that an endpoint is down spares the others the timeout. Default: local only.
   */
  sharedCooldowns?: SharedCooldowns;
}

/**
 * - `least-outstanding`: fewest requests in flight (ties rotate). The default.
 * - `prefix-affinity`: consistent hashing with bounded loads over the request's leading characters,
 *   so requests sharing a prefix (system prompt, document) land where that prefix is cached.
 * - `round-robin`: each healthy endpoint in turn, blind to load and prefix (a baseline).
 */
export type RoutingPolicy = 'least-outstanding' | 'prefix-affinity' | 'round-robin';

/** The routing policy and, for `prefix-affinity`, its parameters. */
export interface RoutingOptions {
  /** Default `least-outstanding`. */
  policy?: RoutingPolicy;
  /**
   * Leading characters of the routing key that are hashed. Default 256 (about 64 tokens at the
   * 4 characters per token the Gateway API Inference Extension assumes); KubeAI's default is 100.
   */
  prefixLength?: number;
  /**
   * Load bound as a multiple of the mean outstanding requests of the healthy endpoints: an
   * endpoint already holding `ceil(loadFactor * (total + 1) / endpoints)` requests is passed over
   * for the next one on the ring. Default 1.25 (KubeAI's `meanLoadFactor` 125). At least 1.
   */
  loadFactor?: number;
  /** Points per endpoint on the hash ring; more points, more even key shares. Default 160. */
  virtualNodes?: number;
}

/**
 * Cooldown state shared across processes (e.g. in Redis, by @muai/cluster). Reads must be
 * synchronous and cheap (a local mirror kept fresh in the background); writes must never throw.
 */
export interface SharedCooldowns {
  /** Epoch ms until which some replica has `url` cooling down; 0 when none. */
  cooledUntil(url: string): number;
  /** Tells the other replicas that `url` failed and is out until `untilMs` (epoch ms). */
  report(url: string, untilMs: number): void;
  /** Tells the other replicas that `url` passed a probe or served a request again. */
  clear(url: string): void;
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

/** 32-bit FNV-1a over UTF-16 code units with murmur3's finalizer (so nearby strings spread over the ring). */
export function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index += 1) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** Default `RoutingOptions.prefixLength`, in characters. */
export const DEFAULT_PREFIX_LENGTH = 256;
/** Default `RoutingOptions.loadFactor`. */
export const DEFAULT_LOAD_FACTOR = 1.25;
const DEFAULT_VIRTUAL_NODES = 160;

/**
 * Spreads requests over several endpoints of one model. The routing policy picks among healthy
 * endpoints (least outstanding requests by default; see RoutingPolicy); a failing endpoint cools
 * down for `cooldownMs`, and after that it must pass `probe` before it gets traffic again (probed in
 * the background while other endpoints serve, or in line when no other endpoint is healthy). When
 * every endpoint is cooling, the one whose cooldown ends first is probed at once, so a
 * single-endpoint pool recovers without waiting.
 */
export class EndpointPool {
  private readonly states: EndpointState[];
  private readonly options: EndpointPoolOptions;
  private rotation = 0;
  private readonly probing = new Map<string, Promise<boolean>>();
  /** Hash ring of `prefix-affinity`: sorted points and, at the same index, the endpoint each belongs to. */
  private readonly ringPoints: Uint32Array;
  private readonly ringOwners: EndpointState[];

  constructor(options: EndpointPoolOptions) {
    if (options.endpoints.length === 0) {
      throw new EngineUnavailableError(options.engine, 'no endpoints are configured', 'Pass at least one endpoint URL.');
    }
    const loadFactor = options.routing?.loadFactor ?? DEFAULT_LOAD_FACTOR;
    const prefixLength = options.routing?.prefixLength ?? DEFAULT_PREFIX_LENGTH;
    const virtualNodes = options.routing?.virtualNodes ?? DEFAULT_VIRTUAL_NODES;
    const problems: ConfigProblem[] = [];
    if (!(loadFactor >= 1)) problems.push({ path: 'routing.loadFactor', value: loadFactor, expected: 'a number of at least 1' });
    if (!Number.isInteger(prefixLength) || prefixLength < 1) problems.push({ path: 'routing.prefixLength', value: prefixLength, expected: 'a positive integer' });
    if (!Number.isInteger(virtualNodes) || virtualNodes < 1) problems.push({ path: 'routing.virtualNodes', value: virtualNodes, expected: 'a positive integer' });
    if (problems.length > 0) throw new ConfigInvalidError(problems);
    this.options = options;
    const unique = [...new Set(options.endpoints.map(normalizeEndpoint))];
    this.states = unique.map((url) => ({ url, outstanding: 0, failures: 0, cooldownUntil: 0, served: 0, failed: 0 }));
    // Points depend only on each endpoint's URL, so a pool without one endpoint has the same ring
    // minus that endpoint's points: only the keys it owned move.
    const points: Array<{ point: number; owner: EndpointState }> = [];
    for (const state of this.states) {
      for (let index = 0; index < virtualNodes; index += 1) points.push({ point: hash32(`${state.url}#${index}`), owner: state });
    }
    points.sort((a, b) => a.point - b.point || (a.owner.url < b.owner.url ? -1 : 1));
    this.ringPoints = Uint32Array.from(points.map((entry) => entry.point));
    this.ringOwners = points.map((entry) => entry.owner);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** The routing policy in use. */
  get policy(): RoutingPolicy {
    return this.options.routing?.policy ?? 'least-outstanding';
  }

  /** A snapshot of every endpoint (`cooldownUntil` includes cooldowns reported by other replicas). */
  snapshot(): EndpointState[] {
    return this.states.map((state) => ({ ...state, cooldownUntil: this.cooldownOf(state) }));
  }

  /** Endpoint URLs in configuration order. */
  get endpoints(): string[] {
    return this.states.map((state) => state.url);
  }

  /** The later of this pool's cooldown and a shared one. */
  private cooldownOf(state: EndpointState): number {
    const shared = this.options.sharedCooldowns;
    if (!shared) return state.cooldownUntil;
    let until = 0;
    try {
      until = shared.cooledUntil(state.url);
    } catch {
      // Shared state is an optimization; local state decides when it fails.
    }
    return Math.max(state.cooldownUntil, Number.isFinite(until) ? until : 0);
  }

  /**
   * Claims the best endpoint, skipping `exclude` when others exist. `routingKey` (e.g. the prompt,
   * or chat messages joined) is what `prefix-affinity` hashes; other policies ignore it.
   */
  async acquire(exclude: ReadonlySet<string> = new Set(), routingKey?: string): Promise<EndpointLease> {
    const now = this.now();
    const open = (state: EndpointState) => this.cooldownOf(state) <= now;
    let candidates = this.states.filter((state) => open(state) && !exclude.has(state.url));
    if (candidates.length === 0) candidates = this.states.filter(open);
    // Endpoints whose cooldown has ended must pass a probe first; healthy ones are preferred.
    const healthy = candidates.filter((state) => state.failures < this.threshold());
    let chosen = this.pick(healthy, routingKey);
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
      const cooling = this.states.filter((state) => !candidates.includes(state) && this.cooldownOf(state) > now);
      cooling.sort((a, b) => this.cooldownOf(a) - this.cooldownOf(b));
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

  private pick(states: EndpointState[], routingKey: string | undefined): EndpointState | undefined {
    if (states.length === 0) return undefined;
    const policy = this.policy;
    if (policy === 'round-robin') {
      // Rotate over configuration order, so the turn does not depend on which endpoints are busy.
      const chosen = states[this.rotation % states.length];
      this.rotation += 1;
      return chosen;
    }
    if (policy === 'prefix-affinity' && routingKey !== undefined) {
      const chosen = this.ringPick(states, routingKey);
      if (chosen) return chosen;
    }
    const least = Math.min(...states.map((state) => state.outstanding));
    const tied = states.filter((state) => state.outstanding === least);
    const chosen = tied[this.rotation % tied.length];
    this.rotation += 1;
    return chosen;
  }

  /**
   * The load bound of `prefix-affinity` over `states`: most requests one endpoint may hold once the
   * new one is placed, `ceil(loadFactor * (total + 1) / states)`.
   */
  loadBound(states: readonly Pick<EndpointState, 'outstanding'>[]): number {
    const total = states.reduce((sum, state) => sum + state.outstanding, 0);
    const factor = this.options.routing?.loadFactor ?? DEFAULT_LOAD_FACTOR;
    return Math.ceil((factor * (total + 1)) / Math.max(1, states.length));
  }

  /**
   * Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018; KubeAI's CHWBL):
   * walk the ring clockwise from the key's hash and take the first healthy endpoint still under the
   * bound. With a load factor of at least 1 some healthy endpoint is always under it.
   */
  private ringPick(states: EndpointState[], routingKey: string): EndpointState | undefined {
    const allowed = new Set(states);
    const bound = this.loadBound(states);
    const prefix = routingKey.slice(0, this.options.routing?.prefixLength ?? DEFAULT_PREFIX_LENGTH);
    const points = this.ringPoints;
    const start = lowerBound(points, hash32(prefix));
    const seen = new Set<EndpointState>();
    for (let step = 0; step < points.length && seen.size < allowed.size; step += 1) {
      const owner = this.ringOwners[(start + step) % points.length]!;
      if (!allowed.has(owner) || seen.has(owner)) continue;
      seen.add(owner);
      if (owner.outstanding < bound) return owner;
    }
    return undefined;
  }

  /** The endpoint `prefix-affinity` would pick for `routingKey` now (no claim is made), or undefined. */
  preview(routingKey: string): string | undefined {
    const now = this.now();
    const healthy = this.states.filter((state) => this.cooldownOf(state) <= now && state.failures < this.threshold());
    return this.ringPick(healthy, routingKey)?.url;
  }

  /** Counts a success: the failure streak ends. */
  markSuccess(url: string): void {
    const state = this.states.find((candidate) => candidate.url === url);
    if (!state) return;
    const wasFailing = state.failures > 0 || state.cooldownUntil > 0;
    state.served += 1;
    state.failures = 0;
    state.cooldownUntil = 0;
    if (wasFailing) this.shareClear(state.url);
  }

  /** Counts a failure; at the threshold the endpoint cools down for `cooldownMs` (and other replicas are told). */
  markFailure(url: string): void {
    const state = this.states.find((candidate) => candidate.url === url);
    if (!state) return;
    state.failed += 1;
    state.failures += 1;
    if (state.failures >= this.threshold()) this.coolDown(state);
  }

  private coolDown(state: EndpointState): void {
    state.cooldownUntil = this.now() + (this.options.cooldownMs ?? 5000);
    try {
      this.options.sharedCooldowns?.report(state.url, state.cooldownUntil);
    } catch {
      // Local state already holds the cooldown.
    }
  }

  private shareClear(url: string): void {
    try {
      this.options.sharedCooldowns?.clear(url);
    } catch {
      // Local state already says it is back.
    }
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
          this.shareClear(state.url);
        } else {
          this.coolDown(state);
        }
        return ok;
      })
      .finally(() => this.probing.delete(state.url));
    this.probing.set(state.url, result);
    return result;
  }
}

/** Index of the first element of sorted `points` that is >= `value` (points.length when none). */
function lowerBound(points: Uint32Array, value: number): number {
  let low = 0;
  let high = points.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (points[middle]! < value) low = middle + 1;
    else high = middle;
  }
  return low;
}
