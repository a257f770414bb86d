/**
 * Keeps Prometheus label values bounded. Every distinct label value is a new time series, so an
 * unbounded value (a user-supplied model name, an error message, a prompt) can exhaust the memory
 * of the exporter and of Prometheus. The guard admits at most `maxValues` distinct values per
 * label (first come, first kept) and maps everything else to `overflowValue`.
 */

/** Policy for one label. */
export interface LabelPolicy {
  /**
   * Only these values are kept as they are; anything else becomes the overflow value.
   * When absent, the first `maxValues` distinct values seen are kept.
   */
  allow?: readonly string[];
  /** Most distinct values kept for this label (the overflow value not counted). Default: the guard's `maxValuesPerLabel`. */
  maxValues?: number;
}

export interface LabelGuardOptions {
  /** Default for `LabelPolicy.maxValues`. Default 50. */
  maxValuesPerLabel?: number;
  /** Longest label value kept, in characters; longer values become the overflow value. Default 64. */
  maxValueLength?: number;
  /** What rejected values become. Default `'other'`. */
  overflowValue?: string;
  /** What empty or missing values become. Default `'unknown'`. */
  emptyValue?: string;
  /** Per-label policies, by label name. */
  labels?: Readonly<Record<string, LabelPolicy>>;
}

// Printable ASCII without quotes, backslash or braces: enough for model, engine, workflow and
// status names, and rules out free text (spaces are rejected too: prompts contain them).
const SAFE_VALUE = /^[A-Za-z0-9_.:/@+-]+$/;

export class LabelGuard {
  private readonly maxValuesPerLabel: number;
  private readonly maxValueLength: number;
  readonly overflowValue: string;
  readonly emptyValue: string;
  private readonly policies: Readonly<Record<string, LabelPolicy>>;
  private readonly seen = new Map<string, Set<string>>();
  private readonly allowSets = new Map<string, ReadonlySet<string>>();
  private overflowCount = 0;

  constructor(options: LabelGuardOptions = {}) {
    this.maxValuesPerLabel = options.maxValuesPerLabel ?? 50;
    this.maxValueLength = options.maxValueLength ?? 64;
    this.overflowValue = options.overflowValue ?? 'other';
    this.emptyValue = options.emptyValue ?? 'unknown';
    this.policies = options.labels ?? {};
    for (const [name, policy] of Object.entries(this.policies)) {
      if (policy.allow) this.allowSets.set(name, new Set(policy.allow));
    }
  }

  /** The bounded value to use for `label`. Never throws. */
  value(label: string, raw: string | undefined | null): string {
    if (raw === undefined || raw === null || raw === '') return this.emptyValue;
    const value = String(raw);
    const allow = this.allowSets.get(label);
    if (allow) return allow.has(value) ? value : this.overflow();
    if (value.length > this.maxValueLength || !SAFE_VALUE.test(value)) return this.overflow();
    let values = this.seen.get(label);
    if (!values) {
      values = new Set();
      this.seen.set(label, values);
    }
    if (values.has(value)) return value;
    const limit = this.policies[label]?.maxValues ?? this.maxValuesPerLabel;
    if (values.size >= limit) return this.overflow();
    values.add(value);
    return value;
  }

  /** How many values were mapped to the overflow value so far. */
  get overflowed(): number {
    return this.overflowCount;
  }

  /** Distinct values admitted so far for `label` (allow-listed labels report none). */
  admitted(label: string): readonly string[] {
    return [...(this.seen.get(label) ?? [])];
  }

  private overflow(): string {
    this.overflowCount += 1;
    return this.overflowValue;
  }
}
