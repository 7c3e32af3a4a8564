/** Session tokens: 32 random bytes, given to the client once; only their SHA-256 is stored. */
import { createHash, randomBytes } from 'node:crypto';

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function sha256Hex(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function randomId(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}
