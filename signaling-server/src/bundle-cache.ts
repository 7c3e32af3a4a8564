/**
 * Bundles whose self-signature and box key already passed `parseBundle`, remembered by
 * their exact JSON text. A device sends the same bundle with every registration and
 * presence token (one per reconnect), and `parseBundle` is deterministic — the same
 * text always verifies the same way — so a bundle seen before skips its Ed25519 verify
 * and X25519 check. Each token's own signature is still verified every time (auth.ts).
 * Only bundles that verified are remembered; a failure is recomputed on every try.
 */
import { parseBundle, type VerifiedBundle } from '@conclave/shared/verify';

/** What the cache keeps of a verified bundle: what the token check needs. */
export type CachedBundle = Pick<VerifiedBundle, 'fingerprint' | 'signKey'>;

export type BundleParser = (input: unknown) => Promise<CachedBundle>;

/** A bounded map from a bundle's JSON text to its verified fingerprint and sign key; least recently used evicted. */
export class VerifiedBundleCache {
  readonly #entries = new Map<string, CachedBundle>();
  /**
   * @param maxEntries how many bundles to remember (each about 0.5 KiB).
   * @param parse the full check, run on a miss (tests count its calls).
   */
  constructor(
    private readonly maxEntries = 20_000,
    private readonly parse: BundleParser = parseBundle,
  ) {}

  /**
   * The verified bundle, from memory when this exact bundle verified before.
   * @throws whatever `parseBundle` throws for a bundle that does not verify.
   */
  async verified(input: unknown): Promise<CachedBundle> {
    let text: string;
    try {
      text = JSON.stringify(input);
    } catch {
      return this.parse(input);
    }
    const hit = this.#entries.get(text);
    if (hit) {
      // Refresh its place: Map order is recency order.
      this.#entries.delete(text);
      this.#entries.set(text, hit);
      return hit;
    }
    const { fingerprint, signKey } = await this.parse(input);
    const entry: CachedBundle = { fingerprint, signKey };
    if (this.#entries.size >= this.maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(text, entry);
    return entry;
  }

  get size(): number {
    return this.#entries.size;
  }
}
