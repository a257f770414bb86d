/**
 * A FIFO ring buffer over one array whose capacity is a power of two. `push` and `shift` are O(1)
 * and allocate nothing until the buffer must grow (it doubles). Used as the queue of one priority
 * level: a plain `Array#shift` is O(n) once V8 leaves its fast path, and a linked list allocates a
 * node per request.
 */
export class Deque<T> {
  private buffer: Array<T | undefined>;
  private mask: number;
  private head = 0;
  private size = 0;

  constructor(initialCapacity = 16) {
    let capacity = 4;
    while (capacity < initialCapacity) capacity *= 2;
    this.buffer = new Array<T | undefined>(capacity).fill(undefined);
    this.mask = capacity - 1;
  }

  /** Number of items held (including any the owner considers dead). */
  get length(): number {
    return this.size;
  }

  /** Current capacity of the underlying array. */
  get capacity(): number {
    return this.buffer.length;
  }

  push(item: T): void {
    if (this.size === this.buffer.length) this.grow();
    this.buffer[(this.head + this.size) & this.mask] = item;
    this.size++;
  }

  /** Removes and returns the oldest item, or undefined when empty. */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.buffer[this.head];
    this.buffer[this.head] = undefined; // let the item be collected
    this.head = (this.head + 1) & this.mask;
    this.size--;
    return item;
  }

  /** The oldest item without removing it, or undefined when empty. */
  peek(): T | undefined {
    return this.size === 0 ? undefined : this.buffer[this.head];
  }

  /** Keeps only the items for which `keep` is true, in their order; shrinks the buffer when mostly empty. */
  retain(keep: (item: T) => boolean): void {
    const kept: T[] = [];
    for (let i = 0; i < this.size; i++) {
      const item = this.buffer[(this.head + i) & this.mask] as T;
      if (keep(item)) kept.push(item);
    }
    let capacity = 16;
    while (capacity < kept.length * 2) capacity *= 2;
    const buffer = new Array<T | undefined>(capacity).fill(undefined);
    for (let i = 0; i < kept.length; i++) buffer[i] = kept[i];
    this.buffer = buffer;
    this.mask = capacity - 1;
    this.head = 0;
    this.size = kept.length;
  }

  /** Items oldest first (a copy; for tests and diagnostics, not the hot path). */
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.size; i++) out.push(this.buffer[(this.head + i) & this.mask] as T);
    return out;
  }

  private grow(): void {
    const old = this.buffer;
    const capacity = old.length * 2;
    const buffer = new Array<T | undefined>(capacity).fill(undefined);
    for (let i = 0; i < this.size; i++) buffer[i] = old[(this.head + i) & this.mask];
    this.buffer = buffer;
    this.mask = capacity - 1;
    this.head = 0;
  }
}
