/**
 * The options page: this device's name, your devices (link one to your identity, link a
 * new one, remove one: Devices.tsx), and the servers Conclave uses (storage API,
 * connection (signaling) server, ICE servers). `#link-to-identity`, `#link-new-device`
 * and `#devices` in the address move focus to that part (the popup links there). Errors show next to their field; a
 * server on another machine needs the person's permission, asked in the Save click.
 */
import { useEffect, useId, useState } from 'preact/hooks';
import { browser } from 'wxt/browser';
import { announce, Announcer } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { Fingerprint } from '../components/Fingerprint.tsx';
import { useAction, useAsk } from '../components/useAsk.ts';
import type { IdentityView, Settings } from '../../messages/views.ts';
import { DevicesArea } from './Devices.tsx';
import { fieldsFrom, originsToRequest, parseSettings, type FieldErrors, type SettingsFields } from './settings-form.ts';

/** Moves focus to the part the address names, once it is shown. */
function useHashFocus(ready: boolean): void {
  useEffect(() => {
    if (!ready) return;
    const id = location.hash.slice(1);
    if (!id) return;
    const target = document.getElementById(id);
    const heading = target?.querySelector<HTMLElement>('h2');
    if (heading) {
      heading.tabIndex = -1;
      heading.focus();
      target!.scrollIntoView?.();
    }
  }, [ready]);
}

export function OptionsApp() {
  const status = useAsk({ type: 'status' }, { live: false });
  useHashFocus(status.data !== undefined);
  return (
    <main class="options stack">
      <Announcer />
      <h1>Conclave options</h1>
      {status.error && !status.data && <ErrorNotice error={status.error} title="The options could not be loaded" onRetry={() => void status.reload()} />}
      {!status.data && !status.error && <p role="status">Loading…</p>}
      {status.data?.identity && <DeviceName key={status.data.identity.displayName} identity={status.data.identity} onSaved={() => void status.reload()} />}
      {status.data && <DevicesArea hasIdentity={status.data.identity !== null} onChanged={() => void status.reload()} />}
      {status.data && <ServerSettings initial={status.data.settings} />}
    </main>
  );
}

function DeviceName({ identity, onSaved }: { identity: IdentityView; onSaved: () => void }) {
  const [name, setName] = useState(identity.displayName);
  const [missing, setMissing] = useState(false);
  const action = useAction();
  const nameId = useId();
  const errorId = useId();
  const submit = async (event: Event) => {
    event.preventDefault();
    if (!name.trim()) {
      setMissing(true);
      return;
    }
    if (!(await action.run({ type: 'identity.rename', displayName: name.trim() })).ok) return;
    announce('Your name is saved.');
    onSaved();
  };
  return (
    <section class="stack" aria-labelledby="device-heading">
      <h2 id="device-heading">This device</h2>
      <p class="row">
        <span class="muted">Fingerprint:</span> <Fingerprint value={identity.short} label="This device's fingerprint" />
      </p>
      <form onSubmit={submit} class="stack">
        <div class="field">
          <label for={nameId}>Your name, as your groups see it</label>
          <input
            id={nameId}
            type="text"
            maxLength={80}
            value={name}
            aria-invalid={missing}
            aria-describedby={missing ? errorId : undefined}
            onInput={(e) => {
              setMissing(false);
              setName(e.currentTarget.value);
            }}
          />
          {missing && (
            <p id={errorId} class="field-error">
              A name cannot be empty.
            </p>
          )}
        </div>
        <ErrorNotice error={action.error} title="The name could not be saved" />
        <button type="submit" disabled={action.pending}>
          Save name
        </button>
      </form>
    </section>
  );
}

const FIELDS: Array<{ key: keyof SettingsFields; label: string; hint: string }> = [
  {
    key: 'apiUrl',
    label: 'Storage server',
    hint: 'Keeps the encrypted notes and the group history. It never sees names, notes or keys.',
  },
  {
    key: 'signalingUrl',
    label: 'Connection server',
    hint: 'Introduces online members to each other so they can hand over keys directly (peer to peer). It sees who is online, not what they send.',
  },
  {
    key: 'iceServers',
    label: 'STUN and TURN servers (JSON)',
    hint: 'Help members connect through routers and firewalls. A list like [{"urls": "stun:stun.example.org:3478"}, {"urls": "turn:turn.example.org", "username": "…", "credential": "…"}]. Leave [] to connect only directly.',
  },
];

function ServerSettings({ initial }: { initial: Settings }) {
  const [fields, setFields] = useState<SettingsFields>(() => fieldsFrom(initial));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [refused, setRefused] = useState<string[] | null>(null);
  const [saved, setSaved] = useState(false);
  const action = useAction();
  const ids = { apiUrl: useId(), signalingUrl: useId(), iceServers: useId() };

  useEffect(() => setFields(fieldsFrom(initial)), [initial.apiUrl, initial.signalingUrl, JSON.stringify(initial.iceServers)]);

  const save = async (settings: Settings) => {
    const done = await action.run({ type: 'settings.save', ...settings });
    if (!done.ok) return;
    setSaved(true);
    announce('The server settings are saved.');
  };

  // Not async until the permission is asked: the browser allows asking only during the click.
  const submit = (event: Event) => {
    event.preventDefault();
    setSaved(false);
    setRefused(null);
    const parsed = parseSettings(fields);
    if (!parsed.ok) {
      setErrors(parsed.errors);
      const first = FIELDS.find((f) => parsed.errors[f.key]);
      if (first) document.getElementById(ids[first.key])?.focus();
      announce('Some settings need fixing: see the messages next to them.');
      return;
    }
    setErrors({});
    const origins = originsToRequest(parsed.settings);
    const permitted = origins.length > 0 ? browser.permissions.request({ origins }) : Promise.resolve(true);
    void permitted.then(
      (granted) => {
        if (!granted) {
          setRefused(origins);
          announce('Permission refused: the settings are not saved.');
          return;
        }
        void save(parsed.settings);
      },
      () => setRefused(origins),
    );
  };

  return (
    <section class="stack" aria-labelledby="servers-heading">
      <h2 id="servers-heading">Servers</h2>
      <p>Everyone in a group must use the same storage and connection servers.</p>
      <form onSubmit={submit} class="stack" noValidate>
        {FIELDS.map(({ key, label, hint }) => {
          const id = ids[key];
          const error = errors[key];
          const describedBy = `${error ? `${id}-error ` : ''}${id}-hint`;
          const common = {
            id,
            value: fields[key],
            'aria-invalid': error !== undefined,
            'aria-describedby': describedBy,
            spellcheck: false,
            onInput: (e: Event) => {
              const value = (e.currentTarget as HTMLInputElement | HTMLTextAreaElement).value;
              setFields((f) => ({ ...f, [key]: value }));
              setSaved(false);
            },
          };
          return (
            <div class="field" key={key}>
              <label for={id}>{label}</label>
              {key === 'iceServers' ? <textarea rows={6} {...common} /> : <input type="url" autoComplete="url" {...common} />}
              {error && (
                <p id={`${id}-error`} class="field-error">
                  {error}
                </p>
              )}
              <p id={`${id}-hint`} class="hint">
                {hint}
              </p>
            </div>
          );
        })}
        {refused && (
          <div class="notice notice-warn" role="alert">
            <p class="notice-title">
              <span aria-hidden="true">!</span> Not saved: permission refused
            </p>
            <p>
              Conclave needs your permission to connect to {refused.map((o) => o.replace(/\/\*$/, '')).join(' and ')}. Without it, it cannot reach your
              servers.
            </p>
            <p>
              <strong>What to do: </strong>choose Save again and allow it, or use servers on this machine (http://127.0.0.1).
            </p>
          </div>
        )}
        <ErrorNotice error={action.error} title="The settings could not be saved" />
        {saved && (
          <p class="notice notice-ok" role="status">
            <span aria-hidden="true">✓</span> Saved. Conclave uses these servers from now on.
          </p>
        )}
        <div class="row">
          <button type="submit" class="primary" disabled={action.pending}>
            {action.pending ? 'Saving…' : 'Save'}
          </button>
          <button
            type="button"
            onClick={() => {
              setFields(fieldsFrom(initial));
              setErrors({});
              setSaved(false);
            }}
          >
            Undo changes
          </button>
        </div>
      </form>
    </section>
  );
}
