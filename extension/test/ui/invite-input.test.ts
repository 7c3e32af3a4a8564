import { describe, expect, it } from 'vitest';
import { encodeSecretCode } from '@conclave/shared/crypto';
import type { GroupId } from '@conclave/shared/protocol';
import { toBase64url } from '@conclave/shared/protocol';
import { formatCode, INVITE_BODY_CHARS, parseInviteInput } from '../../src/ui/popup/invite-input.ts';

const groupId = toBase64url(new Uint8Array(16).fill(7)) as GroupId;
const code = encodeSecretCode('invite', { groupId, secret: new Uint8Array(16).map((_, i) => i * 13) });
const recovery = encodeSecretCode('recovery', { groupId, secret: new Uint8Array(16).fill(1) });

describe('parseInviteInput', () => {
  it('knows the length of a real invite code', () => {
    expect(code.replace(/-/g, '').length).toBe(4 + INVITE_BODY_CHARS);
  });

  it('accepts the code as the background prints it', () => {
    expect(parseInviteInput(code)).toEqual({ ok: true, code, send: code });
  });

  it('forgives case, spaces, line breaks and missing dashes', () => {
    const messy = `  ${code.toLowerCase().replace(/-/g, ' ').replace(/ /, '\n')}  `;
    expect(parseInviteInput(messy)).toEqual({ ok: true, code, send: code });
    expect(parseInviteInput(code.replace(/-/g, ''))).toEqual({ ok: true, code, send: code });
  });

  it('finds the code in a link, in its fragment or its query', () => {
    expect(parseInviteInput(`https://conclave.example/join#${code}`)).toEqual({ ok: true, code, send: code });
    expect(parseInviteInput(`https://conclave.example/join?invite=${encodeURIComponent(code)}&from=ana`)).toEqual({ ok: true, code, send: code });
    expect(parseInviteInput(`chrome-extension://abc/popup.html#invite=${code}`)).toEqual({ ok: true, code, send: code });
  });

  it("keeps the background's link whole, so the inviter's name reaches it", () => {
    expect(parseInviteInput(`conclave:join/${code}?from=Ana%20Lima`)).toEqual({ ok: true, code, send: `conclave:join/${code}?from=Ana%20Lima` });
    expect(parseInviteInput(`Join us! conclave:join/${code.toLowerCase()}?from=Ben thanks`)).toEqual({ ok: true, code, send: `conclave:join/${code}?from=Ben` });
    expect(parseInviteInput(`conclave:join/${code}`)).toEqual({ ok: true, code, send: `conclave:join/${code}` });
  });

  it('ignores words around the code', () => {
    expect(parseInviteInput(`Here is your invite: ${code} see you soon`)).toEqual({ ok: true, code, send: code });
  });

  it('says a recovery code is not an invite, and where to use it', () => {
    const result = parseInviteInput(recovery);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.message).toMatch(/recovery code/);
      expect(result.action).toMatch(/Restore/);
    }
  });

  it('says what is wrong with a cut-off code', () => {
    const result = parseInviteInput(code.slice(0, 30));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toMatch(/too short/);
  });

  it('explains empty or unrelated input', () => {
    for (const text of ['', '   ', 'https://example.org/', 'hello']) {
      const result = parseInviteInput(text);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.action.length).toBeGreaterThan(0);
    }
  });

  it('formats a compact code in groups of four', () => {
    expect(formatCode('inv1abcdefgh')).toBe('INV1-ABCD-EFGH');
  });
});
