/** A least-recently-used set of keys with a fixed capacity. `touch` returns the keys it evicted. */
export class LruKeys<K> {
  private readonly order = new Map<K, true>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`LRU capacity must be a positive integer, got ${capacity}`);
    }
  }

  has(key: K): boolean {
    return this.order.has(key);
  }

  /** Marks `key` as most recently used, adding it if absent; returns the evicted keys, oldest first. */
  touch(key: K): K[] {
    this.order.delete(key);
    this.order.set(key, true);
    const evicted: K[] = [];
    while (this.order.size > this.capacity) {
      const oldest = this.order.keys().next().value as K;
      this.order.delete(oldest);
      evicted.push(oldest);
    }
    return evicted;
  }

  delete(key: K): boolean {
    return this.order.delete(key);
  }

  /** Keys from least to most recently used. */
  keys(): K[] {
    return [...this.order.keys()];
  }

  get size(): number {
    return this.order.size;
  }
}
