/** A size-capped map: when full, the oldest half is dropped (insertion order). Cheap and good enough for LRU-ish use. */
export class BoundedCache<V, K = string> {
  private map = new Map<K, V>();
  private readonly cap: number;
  constructor(cap: number) {
    this.cap = cap;
  }
  get size(): number {
    return this.map.size;
  }
  get(k: K): V | undefined {
    return this.map.get(k);
  }
  has(k: K): boolean {
    return this.map.has(k);
  }
  set(k: K, v: V): void {
    if (this.map.size >= this.cap) {
      let drop = this.cap >> 1;
      for (const key of this.map.keys()) {
        this.map.delete(key);
        if (--drop <= 0) break;
      }
    }
    this.map.set(k, v);
  }
  delete(k: K): void {
    this.map.delete(k);
  }
  clear(): void {
    this.map.clear();
  }
}
