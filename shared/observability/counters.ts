/** Counts by name (provider calls per operation, requests per operation in the local clouds). */
export class Counters {
  private counts = new Map<string, number>();
  /** Told of every add (the puller attributes each provider call to the reconcile that made it). */
  onAdd?: (name: string, n: number) => void;

  add(name: string, n = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + n);
    this.onAdd?.(name, n);
  }

  get(name: string): number {
    return this.counts.get(name) ?? 0;
  }

  total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  reset(): void {
    this.counts.clear();
  }
}
