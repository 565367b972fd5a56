/**
 * A first-in first-out buffer that never holds more than `capacity` items: past it, the oldest
 * item is dropped and counted. Built for a writer that sends one batch at a time from the head
 * (`begin`, then `commit` or `abort`) while new items keep arriving.
 *
 * Items are numbered in arrival order; slot `seq % capacity` of a ring holds item `seq`, so
 * pushing and dropping cost O(1) whatever the backlog.
 */
export class BoundedQueue<T> {
  #capacity: number;
  #ring: Array<T | undefined>;
  /** Number of the oldest item held, and of the next item to arrive. */
  #head = 0;
  #tail = 0;
  /** The batch in flight: items numbered [from, to). */
  #flight: { from: number; to: number } | undefined;
  /** Items of the batch in flight pushed out of the buffer while it was being sent. */
  #evictedInFlight = 0;
  #dropped = 0;
  #delivered = 0;

  constructor(capacity: number) {
    this.#capacity = Math.max(0, Math.floor(capacity));
    this.#ring = new Array<T | undefined>(this.#capacity);
  }

  get capacity(): number {
    return this.#capacity;
  }

  /** Items held, including those of the batch in flight. */
  get size(): number {
    return this.#tail - this.#head;
  }

  /**
   * Items lost to the bound. An item pushed out while its batch is in flight counts only if that
   * batch then fails: had it been written, it would not be lost.
   */
  get dropped(): number {
    return this.#dropped;
  }

  /** Items of committed batches. */
  get delivered(): number {
    return this.#delivered;
  }

  get inFlight(): boolean {
    return this.#flight !== undefined;
  }

  push(item: T): void {
    if (this.#capacity === 0) {
      this.#dropped++;
      return;
    }
    if (this.size === this.#capacity) this.#evictOldest();
    this.#ring[this.#tail % this.#capacity] = item;
    this.#tail++;
  }

  /** Takes up to `max` of the oldest items as the batch in flight (a copy); empty when one is already in flight. */
  begin(max: number): T[] {
    if (this.#flight || this.size === 0 || max <= 0) return [];
    const to = Math.min(this.#tail, this.#head + Math.floor(max));
    const batch: T[] = [];
    for (let s = this.#head; s < to; s++) batch.push(this.#ring[s % this.#capacity] as T);
    this.#flight = { from: this.#head, to };
    this.#evictedInFlight = 0;
    return batch;
  }

  /** The batch in flight was written: its items leave the buffer. */
  commit(): void {
    if (!this.#flight) return;
    const { from, to } = this.#flight;
    for (let s = this.#head; s < to; s++) this.#ring[s % this.#capacity] = undefined;
    this.#head = Math.max(this.#head, to);
    this.#delivered += to - from;
    this.#flight = undefined;
    this.#evictedInFlight = 0;
  }

  /** The batch in flight failed: what is left of it stays at the head, to be sent again. */
  abort(): void {
    if (!this.#flight) return;
    this.#dropped += this.#evictedInFlight;
    this.#flight = undefined;
    this.#evictedInFlight = 0;
  }

  /** Changes the bound; shrinking drops the oldest items beyond it. */
  resize(capacity: number): void {
    const next = Math.max(0, Math.floor(capacity));
    if (next === this.#capacity) return;
    while (this.size > next) this.#evictOldest();
    const ring = new Array<T | undefined>(next);
    for (let s = this.#head; s < this.#tail; s++) ring[s % next] = this.#ring[s % this.#capacity];
    this.#ring = ring;
    this.#capacity = next;
  }

  #evictOldest(): void {
    const seq = this.#head;
    this.#ring[seq % this.#capacity] = undefined;
    this.#head++;
    if (this.#flight && seq >= this.#flight.from && seq < this.#flight.to) this.#evictedInFlight++;
    else this.#dropped++;
  }
}
