/**
 * Signatures found while replaying a log or a device chain, verified in batches that
 * start as soon as the rules have produced them, so WebCrypto's thread pool works
 * while the main thread checks the next rules. The earliest bad one is what is reported.
 */
import { fromBase64url, type Bytes } from '../protocol/encoding.ts';
import { verify } from './primitives.ts';

export interface PendingSignature {
  /** Sequence number of the entry (of the log being replayed) that needs it. */
  seq: number;
  what: string;
  key: Bytes;
  sig: string;
  message: Bytes;
}

const SIGNATURE_BATCH = 256;

/** Verifies one batch of signatures; resolves to the first bad one, if any. */
async function firstBadInBatch(batch: PendingSignature[]): Promise<PendingSignature | undefined> {
  const results = await Promise.all(
    batch.map((p) => {
      let sig: Bytes;
      try {
        sig = fromBase64url(p.sig, 64);
      } catch {
        return false;
      }
      return verify(p.key, sig, p.message);
    }),
  );
  const bad = results.indexOf(false);
  return bad >= 0 ? batch[bad] : undefined;
}

export class SignatureQueue {
  private batch: PendingSignature[] = [];
  private readonly running: Array<Promise<PendingSignature | undefined>> = [];

  /** @returns true when a batch was started: the caller should yield so it gets dispatched. */
  add(signatures: readonly PendingSignature[]): boolean {
    let started = false;
    for (const s of signatures) {
      this.batch.push(s);
      if (this.batch.length === SIGNATURE_BATCH) {
        this.flush();
        started = true;
      }
    }
    return started;
  }

  private flush(): void {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.running.push(firstBadInBatch(batch));
  }

  /** The first bad signature in log order, if any. */
  async firstBad(): Promise<PendingSignature | undefined> {
    this.flush();
    for (const bad of await Promise.all(this.running)) if (bad) return bad;
    return undefined;
  }
}

/** A few microtask turns let a started batch's verify calls reach the thread pool. */
export async function letBatchStart(): Promise<void> {
  for (let turn = 0; turn < 4; turn++) await null;
}
