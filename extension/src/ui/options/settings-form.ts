/**
 * The options form's logic, apart from the page: reading the fields into a
 * `settings.save` request with an error per field, and which server origins need a
 * host permission (anything but this machine's defaults, which the manifest grants).
 */
import type { Settings } from '../../messages/views.ts';

export interface SettingsFields {
  apiUrl: string;
  signalingUrl: string;
  /** The ICE servers as JSON text (an array of {urls, username?, credential?}). */
  iceServers: string;
}

export type FieldErrors = Partial<Record<keyof SettingsFields, string>>;

export type ParsedSettings = { ok: true; settings: Settings } | { ok: false; errors: FieldErrors };

export function fieldsFrom(settings: Settings): SettingsFields {
  return { apiUrl: settings.apiUrl, signalingUrl: settings.signalingUrl, iceServers: JSON.stringify(settings.iceServers, null, 2) };
}

function parseServerUrl(text: string, what: string): { url?: string; error?: string } {
  const trimmed = text.trim();
  if (!trimmed) return { error: `Type the address of the ${what}.` };
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return { error: `This is not a web address. It looks like https://example.org or http://127.0.0.1:8787.` };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { error: `The address must start with https:// (or http:// on this machine).` };
  if (url.username || url.password) return { error: 'Leave the name and password out of the address.' };
  if (url.protocol === 'http:' && !isLoopback(url)) {
    return { error: 'Use https:// for a server on another machine: plain http:// can be read and changed on the way.' };
  }
  // No trailing slash, so the background can append paths.
  return { url: trimmed.replace(/\/+$/, '') };
}

const ICE_SCHEMES = /^(stun|stuns|turn|turns):/i;

function parseIceServers(text: string): { servers?: Settings['iceServers']; error?: string } {
  const trimmed = text.trim();
  if (!trimmed) return { servers: [] };
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch (error) {
    return { error: `This is not valid JSON (${(error as Error).message}).` };
  }
  if (!Array.isArray(value)) return { error: 'Write a list in square brackets: [{"urls": "stun:stun.example.org:3478"}].' };
  if (value.length > 10) return { error: 'At most 10 servers.' };
  const servers: Settings['iceServers'] = [];
  for (const [index, item] of value.entries()) {
    const n = index + 1;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return { error: `Server ${n} must be an object with "urls".` };
    const { urls, username, credential, ...rest } = item as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0) return { error: `Server ${n}: "${extra[0]}" is not a setting; use "urls", "username" and "credential".` };
    const list = typeof urls === 'string' ? [urls] : Array.isArray(urls) ? urls : null;
    if (!list || list.length === 0 || !list.every((u): u is string => typeof u === 'string')) return { error: `Server ${n} needs "urls": a text or a list of texts.` };
    const bad = list.find((u) => !ICE_SCHEMES.test(u));
    if (bad !== undefined) return { error: `Server ${n}: "${bad}" must start with stun:, turn: or turns:.` };
    if (username !== undefined && typeof username !== 'string') return { error: `Server ${n}: "username" must be a text.` };
    if (credential !== undefined && typeof credential !== 'string') return { error: `Server ${n}: "credential" must be a text.` };
    const isTurn = list.some((u) => /^turns?:/i.test(u));
    if (isTurn && (username === undefined || credential === undefined)) return { error: `Server ${n} is a TURN server: it needs "username" and "credential".` };
    servers.push({
      urls: typeof urls === 'string' ? urls : list,
      ...(username !== undefined ? { username } : {}),
      ...(credential !== undefined ? { credential } : {}),
    });
  }
  return { servers };
}

export function parseSettings(fields: SettingsFields): ParsedSettings {
  const api = parseServerUrl(fields.apiUrl, 'storage server');
  const signaling = parseServerUrl(fields.signalingUrl, 'connection server');
  const ice = parseIceServers(fields.iceServers);
  const errors: FieldErrors = {};
  if (api.error) errors.apiUrl = api.error;
  if (signaling.error) errors.signalingUrl = signaling.error;
  if (ice.error) errors.iceServers = ice.error;
  if (api.url === undefined || signaling.url === undefined || ice.servers === undefined) return { ok: false, errors };
  return { ok: true, settings: { apiUrl: api.url, signalingUrl: signaling.url, iceServers: ice.servers } };
}

/** This machine: the extension may reach it without asking (and http is acceptable). */
export function isLoopback(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** The manifest already grants these: `http://127.0.0.1/*` and `http://localhost/*`. */
function granted(url: URL): boolean {
  return url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === 'localhost');
}

/** Host-permission patterns the settings need that the manifest does not grant, without repeats. */
export function originsToRequest(settings: Settings): string[] {
  const origins = new Set<string>();
  for (const text of [settings.apiUrl, settings.signalingUrl]) {
    const url = new URL(text);
    if (!granted(url)) origins.add(`${url.protocol}//${url.hostname}/*`);
  }
  return [...origins];
}
