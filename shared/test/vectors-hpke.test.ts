/**
 * RFC 9180 Appendix A.1.1 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM,
 * mode_base) through our wrappers: hpkeDeriveKeyPair, hpkeSeal, hpkeOpen.
 *
 * Our hpkeSeal/hpkeOpen are single-shot (RFC 9180 §6.1): one context, one message,
 * sequence number 0. Only the vector entries with sequence number 0 can therefore be
 * reproduced; later sequence numbers use nonce = base_nonce XOR seq, which a
 * single-shot open never tries, so those ciphertexts must be refused.
 */
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { describe, expect, it } from 'vitest';
import { generateBoxKeyPair, hpkeDeriveKeyPair, hpkeOpen, hpkeSeal } from '../src/crypto/primitives.ts';
import { fromHex, toHex, utf8 } from '../src/protocol/encoding.ts';
import { hpkeA1 } from './vectors/load.ts';

interface HpkeEncryption {
  'sequence number': string;
  pt: string;
  aad: string;
  nonce: string;
  ct: string;
}

interface HpkeVectorFile {
  setup: {
    mode: string;
    kem_id: string;
    kdf_id: string;
    aead_id: string;
    info: string;
    ikmE: string;
    pkEm: string;
    ikmR: string;
    pkRm: string;
    enc: string;
    base_nonce: string;
  };
  encryptions: HpkeEncryption[];
}

const vectors: HpkeVectorFile = hpkeA1;
const setup = vectors.setup;
const info = fromHex(setup.info);
const seqZero = vectors.encryptions.filter((e) => Number(e['sequence number']) === 0);
const laterSeq = vectors.encryptions.filter((e) => Number(e['sequence number']) !== 0);

/** The `code` of whatever the promise rejects with, or 'resolved' when it does not reject. */
async function rejectionCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? code : `no code (${String(error)})`;
  }
}

function flipped(data: Uint8Array, index: number, mask = 0x01): Uint8Array {
  const copy = Uint8Array.from(data);
  copy[index] = (copy[index] ?? 0) ^ mask;
  return copy;
}

describe('HPKE RFC 9180 A.1.1 base mode', () => {
  it('is the suite our wrapper implements (mode_base, X25519/HKDF-SHA256/AES-128-GCM)', () => {
    expect([setup.mode, setup.kem_id, setup.kdf_id, setup.aead_id]).toEqual(['0', '32', '1', '1']);
    // The vectors must contain a sequence-0 entry, or the seal checks below would test nothing.
    expect(seqZero.length).toBeGreaterThanOrEqual(1);
  });

  it('derives the recipient key pair from ikmR (pkRm)', async () => {
    const recipient = await hpkeDeriveKeyPair(fromHex(setup.ikmR));
    expect(toHex(recipient.publicBytes)).toBe(setup.pkRm);
  });

  it('derives the ephemeral key pair from ikmE (pkEm)', async () => {
    const ephemeral = await hpkeDeriveKeyPair(fromHex(setup.ikmE));
    expect(toHex(ephemeral.publicBytes)).toBe(setup.pkEm);
  });

  it.each(seqZero.map((e) => [e.aad, e] as const))('seal with ephemeralIkm = ikmE reproduces enc and ct (aad %s)', async (_aad, e) => {
    const sealed = await hpkeSeal(fromHex(setup.pkRm), info, fromHex(e.pt), fromHex(e.aad), { ephemeralIkm: fromHex(setup.ikmE) });
    expect(toHex(sealed.enc)).toBe(setup.enc);
    expect(toHex(sealed.ciphertext)).toBe(e.ct);
  });

  it.each(seqZero.map((e) => [e.aad, e] as const))('open with the derived recipient key returns pt (aad %s)', async (_aad, e) => {
    const recipient = await hpkeDeriveKeyPair(fromHex(setup.ikmR));
    const pt = await hpkeOpen(recipient, fromHex(setup.enc), info, fromHex(e.ct), fromHex(e.aad));
    expect(toHex(pt)).toBe(e.pt);
  });

  it('refuses the ciphertexts of later sequence numbers (single-shot open uses sequence 0 only)', async () => {
    expect(laterSeq.length).toBeGreaterThan(0);
    const recipient = await hpkeDeriveKeyPair(fromHex(setup.ikmR));
    const codes = await Promise.all(
      laterSeq.map(async (e) => `${e['sequence number']}:${await rejectionCode(hpkeOpen(recipient, fromHex(setup.enc), info, fromHex(e.ct), fromHex(e.aad)))}`),
    );
    expect(codes).toEqual(laterSeq.map((e) => `${e['sequence number']}:DECRYPT`));
  });

  describe('tampering is refused with code DECRYPT', () => {
    const e = seqZero[0];
    if (!e) throw new Error('RFC 9180 A.1.1 vectors have no sequence-0 encryption');
    const enc = fromHex(setup.enc);
    const ct = fromHex(e.ct);
    const aad = fromHex(e.aad);

    it('the unaltered vector opens (control for the cases below)', async () => {
      const recipient = await hpkeDeriveKeyPair(fromHex(setup.ikmR));
      expect(toHex(await hpkeOpen(recipient, enc, info, ct, aad))).toBe(e.pt);
    });

    it('wrong info', async () => {
      const recipient = await hpkeDeriveKeyPair(fromHex(setup.ikmR));
      expect(await rejectionCode(hpkeOpen(recipient, enc, flipped(info, 0), ct, aad))).toBe('DECRYPT');
      expect(await rejectionCode(hpkeOpen(recipient, enc, new Uint8Array(0), ct, aad))).toBe('DECRYPT');
    });

    it('wrong aad', async () => {
      const recipient = await hpkeDeriveKeyPair(fromHex(setup.ikmR));
      expect(await rejectionCode(hpkeOpen(recipient, enc, info, ct, flipped(aad, aad.length - 1)))).toBe('DECRYPT');
      expect(await rejectionCode(hpkeOpen(recipient, enc, info, ct, new Uint8Array(0)))).toBe('DECRYPT');
    });

    it('a flipped ciphertext byte (first, middle, and in the tag)', async () => {
      const recipient = await hpkeDeriveKeyPair(fromHex(setup.ikmR));
      for (const index of [0, Math.floor(ct.length / 2), ct.length - 1]) {
        expect(await rejectionCode(hpkeOpen(recipient, enc, info, flipped(ct, index), aad)), `ct byte ${index}`).toBe('DECRYPT');
      }
      expect(await rejectionCode(hpkeOpen(recipient, enc, info, ct.subarray(0, ct.length - 1), aad))).toBe('DECRYPT');
    });

    it('a flipped enc byte (including the top bit X25519 itself ignores)', async () => {
      const recipient = await hpkeDeriveKeyPair(fromHex(setup.ikmR));
      // Bit 255 of a u-coordinate is masked by X25519, so the DH output is unchanged; the
      // open must still fail because enc is bound into the KEM context (enc ‖ pkRm).
      const cases: [number, number][] = [[0, 0x01], [15, 0x10], [31, 0x01], [31, 0x80]];
      for (const [index, mask] of cases) {
        expect(await rejectionCode(hpkeOpen(recipient, flipped(enc, index, mask), info, ct, aad)), `enc byte ${index} ^ ${mask}`).toBe('DECRYPT');
      }
      expect(await rejectionCode(hpkeOpen(recipient, enc.subarray(0, 31), info, ct, aad))).toBe('DECRYPT');
    });

    it('a different recipient key', async () => {
      const other = await generateBoxKeyPair();
      expect(await rejectionCode(hpkeOpen(other, enc, info, ct, aad))).toBe('DECRYPT');
    });
  });
});

describe('HPKE random seal (no test seam)', () => {
  const plaintext = utf8('the group key for generation 7');
  const sealInfo = utf8('conclave test info');
  const sealAad = utf8('conclave test aad');

  it('round-trips to a generated recipient whose private key is not extractable', async () => {
    const recipient = await generateBoxKeyPair();
    expect(recipient.privateKey.extractable).toBe(false);
    expect(recipient.privateKey.algorithm.name).toBe('X25519');
    const sealed = await hpkeSeal(recipient.publicBytes, sealInfo, plaintext, sealAad);
    expect(sealed.enc.length).toBe(32);
    // AES-128-GCM: ciphertext is as long as the plaintext plus a 16-byte tag.
    expect(sealed.ciphertext.length).toBe(plaintext.length + 16);
    expect(toHex(await hpkeOpen(recipient, sealed.enc, sealInfo, sealed.ciphertext, sealAad))).toBe(toHex(plaintext));
    // The same box refuses a different info or aad.
    expect(await rejectionCode(hpkeOpen(recipient, sealed.enc, utf8('other info'), sealed.ciphertext, sealAad))).toBe('DECRYPT');
    expect(await rejectionCode(hpkeOpen(recipient, sealed.enc, sealInfo, sealed.ciphertext))).toBe('DECRYPT');
  });

  it('two seals of the same plaintext differ (fresh ephemeral key each time)', async () => {
    const recipient = await generateBoxKeyPair();
    const a = await hpkeSeal(recipient.publicBytes, sealInfo, plaintext, sealAad);
    const b = await hpkeSeal(recipient.publicBytes, sealInfo, plaintext, sealAad);
    expect(toHex(a.enc)).not.toBe(toHex(b.enc));
    expect(toHex(a.ciphertext)).not.toBe(toHex(b.ciphertext));
    expect(toHex(await hpkeOpen(recipient, a.enc, sealInfo, a.ciphertext, sealAad))).toBe(toHex(plaintext));
    expect(toHex(await hpkeOpen(recipient, b.enc, sealInfo, b.ciphertext, sealAad))).toBe(toHex(plaintext));
  });

  it('opens with stock @hpke/core, and a low-order recipient key is refused as ENCODING (our seal is written out from RFC 9180)', async () => {
    const stock = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });
    const recipient = await stock.kem.generateKeyPair();
    const publicBytes = new Uint8Array(await stock.kem.serializePublicKey(recipient.publicKey));
    for (let i = 0; i < 3; i++) {
      const sealed = await hpkeSeal(publicBytes, sealInfo, plaintext, sealAad);
      const opened = await stock.open({ recipientKey: recipient, enc: sealed.enc, info: sealInfo }, sealed.ciphertext, sealAad);
      expect(toHex(new Uint8Array(opened))).toBe(toHex(plaintext));
    }
    // u = 0 is a low-order point: the shared secret would be all zero (RFC 9180 §7.1.4).
    expect(await rejectionCode(hpkeSeal(new Uint8Array(32), sealInfo, plaintext, sealAad))).toBe('ENCODING');
  });

  it('a seal to one recipient does not open for another', async () => {
    const recipient = await generateBoxKeyPair();
    const other = await generateBoxKeyPair();
    const sealed = await hpkeSeal(recipient.publicBytes, sealInfo, plaintext, sealAad);
    expect(await rejectionCode(hpkeOpen(other, sealed.enc, sealInfo, sealed.ciphertext, sealAad))).toBe('DECRYPT');
  });
});
