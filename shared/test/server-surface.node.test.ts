/**
 * A server must never be able to handle a secret by mistake.
 * Servers import the protocol core only through `shared/src/verify.ts`, and that
 * module exports only wire formats and public verification functions.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as surface from '../src/verify.ts';

const root = join(import.meta.dirname, '..', '..');

/** Functions a server may call: none takes a private key, a seed, a note key or plaintext. */
const ALLOWED_FUNCTIONS = new Set([
  // protocol: encodings, schemas helpers
  'bytes', 'utf8', 'fromUtf8', 'concatBytes', 'equalBytes', 'toBase64url', 'fromBase64url', 'toBase32', 'fromBase32',
  'toHex', 'fromHex', 'uintBytes', 'canonicalJson', 'labelled', 'base64urlLength', 'b64uBytes', 'b64uVar',
  'isCanonicalBase64url', 'base64urlByteLength',
  // live events: the documented reconnect delay (no secret in or out)
  'liveReconnectDelayMs',
  // verification
  'parseBundle', 'fingerprintOf', 'verifyLabelled', 'verifyNoteSignature', 'replayLog', 'extendLog', 'deriveGroupId',
  'compareHead', 'checkPinnedHead', 'currentGeneration', 'entryHash', 'isAdmin', 'logHead', 'openInvites', 'noteVersionHash',
  // people: device chains and who speaks for whom (public keys and signatures only)
  'replayChain', 'extendChain', 'chainHead', 'memberOfDevice', 'personOfDevice', 'devicesOf',
  // error classes
  'ConclaveError', 'LogVerificationError', 'DeviceChainError', 'SignatureError', 'EncodingError',
]);

const FORBIDDEN_MODULES = ['key-box', 'note-envelope', 'invite', 'recovery', 'group-lifecycle', 'handshake', 'generations', 'secret-code', 'qr', 'primitives', 'channel'];

function sourceFiles(dir: string): string[] {
  let out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out = out.concat(sourceFiles(path));
    else if (/\.(ts|tsx|js|mjs)$/.test(name)) out.push(path);
  }
  return out;
}

describe('what servers can reach of the protocol core', () => {
  it('verify.ts exports only wire formats and public verification', () => {
    const functions = Object.entries(surface)
      .filter(([, value]) => typeof value === 'function')
      .map(([name]) => name);
    const unexpected = functions.filter((name) => !ALLOWED_FUNCTIONS.has(name) && !name.endsWith('Schema'));
    expect(unexpected).toEqual([]);
    for (const secretHandler of ['sign', 'sealKeyBox', 'openKeyBox', 'sealNote', 'openNote', 'hpkeOpen', 'aeadOpen', 'generateIdentity', 'createInvite', 'acceptInvite']) {
      expect(functions).not.toContain(secretHandler);
    }
  });

  it('verify.ts re-exports nothing from modules that take secrets', () => {
    const text = readFileSync(join(root, 'shared/src/verify.ts'), 'utf8');
    const from = [...text.matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
    for (const module of FORBIDDEN_MODULES) expect(from.filter((f) => f.endsWith(`/${module}.ts`))).toEqual([]);
  });

  it('server code imports shared/ only through @conclave/shared/verify', () => {
    const offenders: string[] = [];
    // Server source only: server tests may use the whole core to play the clients.
    for (const dir of ['storage-api/src', 'signaling-server/src']) {
      for (const file of sourceFiles(join(root, dir))) {
        for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
          const intoShared = spec!.includes('shared/src/') || spec!.startsWith('@conclave/shared');
          if (intoShared && spec !== '@conclave/shared/verify') offenders.push(`${relative(root, file)} imports ${spec}`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });
});
