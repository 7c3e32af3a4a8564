/**
 * Your devices (issue 13): one identity, several devices. On a fresh device, "Link to my
 * identity" shows a QR code and a typable code and waits for another device of yours;
 * on a device already set up, "Link a new device" reads that code (camera, image or
 * typed), asks you to compare the new device's fingerprint, and reports per group; the
 * list shows every device (added when, by which device, removed), and any other device
 * can be removed — which changes the key of every group so it reads nothing new.
 * Every step moves focus to what changed and announces it; fingerprints and codes are
 * spelled one character at a time for screen readers.
 */
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { announce } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { Fingerprint, spellGroups } from '../components/Fingerprint.tsx';
import { QrImage } from '../components/QrImage.tsx';
import { QrScan } from '../components/QrScan.tsx';
import { useAction, useAsk } from '../components/useAsk.ts';
import { ConfirmDialog } from '../panel/ConfirmDialog.tsx';
import type { DevicesView, DeviceView, LinkedGroupView, LinkStateView, RemovedDeviceView } from '../../messages/views.ts';

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function when(at: number): string {
  // The first device's entry is dated 0 (a fixed founding entry): no date to show.
  return at > 0 ? dateFormat.format(at) : 'when you set Conclave up';
}

/** A link code as shown: groups of four, spelled one character at a time for screen readers. */
export function LinkCode({ code }: { code: string }) {
  // Shown exactly as it is typed (dashes included); read out group by group.
  const groups = code.split('-').filter((g) => g !== '');
  return (
    <span class="code link-code" data-testid="link-code" role="img" aria-label={`Link code: ${spellGroups(groups)}`}>
      <span aria-hidden="true">{code}</span>
    </span>
  );
}

/** The whole devices area of the options page (or only "Link to my identity" when this device has no identity yet). */
export function DevicesArea({ hasIdentity, onChanged }: { hasIdentity: boolean; onChanged: () => void }) {
  const list = useAsk(hasIdentity ? { type: 'device.list' } : null);
  const state = useAsk({ type: 'device.linkState' });
  const link = state.data;
  const newSide = link?.role === 'new';
  // A fresh device (or one showing its code, or just linked) offers "Link to my identity".
  const fresh = !hasIdentity || newSide || list.data?.canBeLinked === true;
  return (
    <>
      {hasIdentity && list.error && !list.data && <ErrorNotice error={list.error} title="Your devices could not be read" onRetry={() => void list.reload()} />}
      {fresh && (
        <LinkToIdentity
          state={link}
          reload={async () => {
            await state.reload();
            await list.reload();
            onChanged();
          }}
        />
      )}
      {list.data && <DeviceList view={list.data} reload={() => void list.reload()} />}
      {list.data?.canLinkOthers && !newSide && (
        <LinkNewDevice state={link?.role === 'existing' ? link : null} firstDevice={list.data.canBeLinked} reload={() => void Promise.all([state.reload(), list.reload()])} />
      )}
    </>
  );
}

// --- the new device ---------------------------------------------------------------------

function LinkToIdentity({ state, reload }: { state: LinkStateView | undefined; reload: () => Promise<void> }) {
  const action = useAction();
  const headingRef = useRef<HTMLHeadingElement>(null);
  const resultRef = useRef<HTMLDivElement>(null);
  const phase = state?.role === 'new' ? state.phase : 'none';

  // Waiting: ask again now and then (a broadcast may be missed while the worker restarts).
  useEffect(() => {
    if (phase !== 'waiting') return;
    const timer = setInterval(() => void reload(), 2_000);
    return () => clearInterval(timer);
  }, [phase]);

  useEffect(() => {
    if (phase === 'linked' || phase === 'failed') {
      resultRef.current?.focus();
      // The device took the person's name: the rest of the page (its name field) shows it now.
      if (phase === 'linked') void reload();
      if (state?.role === 'new' && state.phase === 'linked') announce(`This device is now linked to ${state.name}. ${state.groups.length} group${state.groups.length === 1 ? '' : 's'} added.`);
    }
  }, [phase]);

  const start = async () => {
    const done = await action.run({ type: 'device.offerLink' });
    if (!done.ok) return;
    await reload();
    announce('The link code is shown. Scan or type it on a device you already use.');
  };
  const stop = async () => {
    if (!(await action.run({ type: 'device.cancelLink' })).ok) return;
    await reload();
    headingRef.current?.focus();
  };

  return (
    <section class="stack" aria-labelledby="link-identity-heading" id="link-to-identity" data-testid="link-to-identity">
      <h2 id="link-identity-heading" tabIndex={-1} ref={headingRef}>
        Link to my identity
      </h2>
      {phase === 'none' && (
        <>
          <p>Already use Conclave on another device (a laptop, another browser)? Link this one to it: it gets your name and every group you are in, and the people in your groups still see one of you.</p>
          <p class="hint">This device must be new to Conclave (no groups yet), and use the same servers as your other device (see Servers below).</p>
          <ErrorNotice error={action.error} title="The link code could not be shown" />
          <div class="row">
            <button type="button" class="primary" disabled={action.pending} onClick={() => void start()}>
              {action.pending ? 'Preparing…' : 'Link to my identity'}
            </button>
          </div>
        </>
      )}
      {state?.role === 'new' && state.phase === 'waiting' && (
        <div class="stack" data-testid="link-offer">
          <p>
            On a device you already use, open Conclave’s options and choose <strong>Link a new device</strong>. Then scan this code with it, or type the code below.
          </p>
          <QrImage text={state.offer.qrText} alt="QR code to link this device to your identity" />
          <p class="row">
            <span class="muted">Code:</span> <LinkCode code={state.offer.code} />
          </p>
          <p class="row">
            <span class="muted">This device’s fingerprint (your other device shows the same):</span>{' '}
            <Fingerprint value={state.offer.deviceShort} label="This device's fingerprint" />
          </p>
          <p role="status" aria-live="polite">
            <span aria-hidden="true">◔</span> Waiting for your other device… the code works until {dateFormat.format(state.offer.expiresAt)}. Keep this page open.
          </p>
          <ErrorNotice error={action.error} title="The link could not be stopped" />
          <div class="row">
            <button type="button" disabled={action.pending} onClick={() => void stop()}>
              Stop linking
            </button>
          </div>
        </div>
      )}
      {state?.role === 'new' && state.phase === 'linked' && (
        <div class="notice notice-ok stack" data-testid="link-linked" tabIndex={-1} ref={resultRef}>
          <p class="notice-title">
            <span aria-hidden="true">✓</span> This device is now linked to {state.name}.
          </p>
          <p>
            Your identity: <Fingerprint value={state.personShort} label="Your identity's fingerprint" />. Linked by your device <Fingerprint value={state.byShort} label="The linking device's fingerprint" />.
          </p>
          <GroupsAdded groups={state.groups} side="new" />
          <div class="row">
            <button type="button" onClick={() => void stop()}>
              Done
            </button>
          </div>
        </div>
      )}
      {state?.role === 'new' && state.phase === 'failed' && (
        <div class="stack" tabIndex={-1} ref={resultRef}>
          <ErrorNotice error={{ code: 'verification-failed', message: state.message, action: state.action }} title="This device was not linked" />
          <div class="row">
            <button type="button" class="primary" disabled={action.pending} onClick={() => void start()}>
              Show a new code
            </button>
          </div>
        </div>
      )}
    </section>
  );
}

function GroupsAdded({ groups, side }: { groups: LinkedGroupView[]; side: 'new' | 'existing' }) {
  if (groups.length === 0) return <p>{side === 'new' ? 'You are in no groups yet.' : 'You are in no groups: there were no keys to hand over.'}</p>;
  return (
    <ul class="stack" aria-label={side === 'new' ? 'Groups on this device now' : 'Groups handed to the new device'}>
      {groups.map((g) => (
        <li key={g.groupId} data-testid="linked-group" data-ok={g.ok}>
          <strong>{g.name ?? 'A group (its name arrives with its key)'}</strong>
          {': '}
          {g.ok
            ? side === 'new'
              ? 'readable now.'
              : 'key handed over.'
            : side === 'new'
              ? 'waiting for its key — it arrives when another member or your other device is online.'
              : (g.message ?? 'not updated yet.')}
        </li>
      ))}
    </ul>
  );
}

// --- the device list -----------------------------------------------------------------------

function DeviceList({ view, reload }: { view: DevicesView; reload: () => void }) {
  const [removing, setRemoving] = useState<DeviceView | null>(null);
  const [report, setReport] = useState<RemovedDeviceView | null>(null);
  const action = useAction();
  const reportRef = useRef<HTMLDivElement>(null);
  const current = view.devices.filter((d) => !d.removed);
  const removed = view.devices.filter((d) => d.removed);

  useEffect(() => {
    if (!report) return;
    // After the dialog has handed focus back to where it was opened from (its own effect).
    const timer = setTimeout(() => reportRef.current?.focus(), 0);
    return () => clearTimeout(timer);
  }, [report]);

  const remove = async () => {
    const device = removing;
    if (!device) return;
    const done = await action.run({ type: 'device.remove', device: device.fingerprint });
    setRemoving(null);
    if (!done.ok) return;
    setReport(done.data);
    announce(`Device removed. ${done.data.groups.filter((g) => g.ok).length} group key${done.data.groups.length === 1 ? '' : 's'} changed.`);
    reload();
  };

  return (
    <section class="stack" aria-labelledby="devices-heading" id="devices" data-testid="devices">
      <h2 id="devices-heading">Your devices</h2>
      <p>
        You are one person in your groups, whichever device you use. Your identity: <Fingerprint value={view.personShort} label="Your identity's fingerprint" /> — it stays the same when you add or
        remove devices, so the people you verified do not need to verify you again.
      </p>
      {view.offline && (
        <p class="notice notice-warn" role="status">
          <span aria-hidden="true">!</span> The storage server could not be reached: this is the list as this device last saw it.
        </p>
      )}
      <ul class="stack device-list" aria-label="Devices of your identity">
        {current.map((d) => (
          <li key={d.fingerprint} class="device" data-testid="device-row" data-this-device={d.thisDevice}>
            <p class="row">
              <strong>{d.thisDevice ? 'This device' : 'Device'}</strong> <Fingerprint value={d.short} label={d.thisDevice ? "This device's fingerprint" : 'Fingerprint'} />
            </p>
            <p class="muted">
              Added {when(d.addedAt)}
              {d.addedBy ? `, by ${d.addedBy === 'this device' ? 'this device' : `device ${d.addedBy}`}` : ' (your first device)'}.
            </p>
            {!d.thisDevice && (
              <div class="row">
                <button type="button" class="danger" disabled={action.pending} onClick={() => setRemoving(d)} aria-label={`Remove this device (${d.short})…`}>
                  Remove this device…
                </button>
              </div>
            )}
          </li>
        ))}
      </ul>
      {removed.length > 0 && (
        <>
          <h3>Removed devices</h3>
          <ul class="stack" aria-label="Removed devices">
            {removed.map((d) => (
              <li key={d.fingerprint} data-testid="device-removed-row">
                <Fingerprint value={d.short} /> — removed {when(d.removed!.at)} by {d.removed!.by === 'this device' ? 'this device' : `device ${d.removed!.by}`}.
              </li>
            ))}
          </ul>
        </>
      )}
      <p class="hint">
        Keep at least two devices linked. If you lose every one of them, nobody can bring your identity back — not even the server: ask an admin of each group to invite you again
        (you join as a new person, whom the others verify again) and to remove your old identity.
      </p>
      <ErrorNotice error={action.error} title="The device was not removed" />
      {report && (
        <div class="notice notice-ok stack" role="status" tabIndex={-1} ref={reportRef} data-testid="device-removed-report">
          <p class="notice-title">
            <span aria-hidden="true">✓</span> Device {report.deviceShort} removed.
          </p>
          {report.groups.length === 0 ? (
            <p>You are in no groups, so no key had to change.</p>
          ) : (
            <ul aria-label="What changed in each group">
              {report.groups.map((g) => (
                <li key={g.groupId} data-ok={g.ok}>
                  <strong>{g.name ?? 'A group'}</strong>: {g.ok ? 'new key — the removed device cannot read anything written from now on.' : g.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      <ConfirmDialog
        open={removing !== null}
        title={removing ? `Remove device ${removing.short}?` : ''}
        confirmLabel="Remove and change every group's key"
        danger
        busy={action.pending}
        onConfirm={() => void remove()}
        onCancel={() => setRemoving(null)}
      >
        <p>Use this for a device you lost, sold or no longer use. It stops speaking for you at once.</p>
        <p>The key of every group you are in is changed, so that device cannot read anything written from now on. What it already showed may still be on it.</p>
        <p>To use it again later, link it again as a new device.</p>
      </ConfirmDialog>
    </section>
  );
}

// --- the existing device -------------------------------------------------------------------

type ExistingState = Extract<LinkStateView, { role: 'existing' }>;

function LinkNewDevice({ state, firstDevice, reload }: { state: ExistingState | null; firstDevice: boolean; reload: () => void }) {
  const [code, setCode] = useState('');
  const [missing, setMissing] = useState(false);
  const action = useAction();
  const codeId = useId();
  const errorId = useId();
  const confirmTitleId = useId();
  const stepRef = useRef<HTMLDivElement>(null);
  const phase = state?.phase ?? 'none';

  useEffect(() => {
    if (phase === 'confirm' || phase === 'done' || phase === 'failed') stepRef.current?.focus();
    if (phase === 'confirm') announce('The new device answered. Compare its fingerprint before linking it.');
    if (phase === 'done') announce('The new device is linked.');
  }, [phase]);

  const link = async (text: string) => {
    if (!text.trim()) {
      setMissing(true);
      document.getElementById(codeId)?.focus();
      return;
    }
    announce('Connecting to the new device…');
    const done = await action.run({ type: 'device.link', text: text.trim() });
    if (done.ok) setCode('');
    reload();
  };
  const confirm = async (accept: boolean) => {
    await action.run({ type: 'device.confirmLink', accept });
    reload();
  };
  const again = async () => {
    await action.run({ type: 'device.cancelLink' });
    reload();
  };

  const busy = action.pending || phase === 'connecting' || phase === 'linking';
  return (
    <section class="stack" aria-labelledby="link-new-heading" id="link-new-device" data-testid="link-new-device">
      <h2 id="link-new-heading">Link a new device</h2>
      {(phase === 'none' || phase === 'connecting') && (
        <>
          <p>
            On the new device (another browser, a new computer), install Conclave, open its options and choose <strong>Link to my identity</strong>. Then scan the QR code it shows, or type its
            code here. The new device gets your name and the key of every group you are in.
          </p>
          {firstDevice && (
            <p class="hint" data-testid="link-new-device-first">
              Do this on the device you already use. If <em>this</em> is the new device, use “Link to my identity” above instead: once this device has linked another, it cannot
              join a different identity.
            </p>
          )}
          <QrScan camera what="the new device's link code" onResult={(text) => void link(text)} onStatus={announce} />
          <form
            class="stack"
            onSubmit={(event) => {
              event.preventDefault();
              void link(code);
            }}
          >
            <div class="field">
              <label for={codeId}>Or type the code the new device shows</label>
              <input
                id={codeId}
                type="text"
                autoComplete="off"
                spellcheck={false}
                placeholder="LNK1-…"
                value={code}
                aria-invalid={missing}
                aria-describedby={missing ? errorId : undefined}
                onInput={(e) => {
                  setMissing(false);
                  setCode(e.currentTarget.value);
                }}
              />
              {missing && (
                <p id={errorId} class="field-error">
                  Type the code first, or scan the QR code.
                </p>
              )}
            </div>
            <div class="row">
              <button type="submit" class="primary" disabled={busy} aria-label="Link the new device">
                {busy ? 'Connecting…' : 'Link the new device'}
              </button>
            </div>
          </form>
        </>
      )}
      {state?.phase === 'confirm' && (
        <div class="stack notice" data-testid="link-confirm" tabIndex={-1} ref={stepRef} role="group" aria-labelledby={confirmTitleId}>
          <p class="notice-title" id={confirmTitleId}>
            Is this your new device?
          </p>
          <p>About to add this device to your identity. It will speak for you in every group and get the key of every group you are in.</p>
          <p class="row">
            <span class="muted">New device’s fingerprint:</span> <Fingerprint value={state.deviceShort} label="The new device's fingerprint" />
          </p>
          <p>Check that the new device shows exactly the same fingerprint. If it does not, someone may be in between: choose “No, stop”.</p>
          <p class="hint">
            This device’s fingerprint, which the new device shows once linked: <Fingerprint value={state.myShort} label="This device's fingerprint" />
          </p>
          <div class="row">
            <button type="button" class="primary" disabled={action.pending} onClick={() => void confirm(true)}>
              Yes, the fingerprints match: link it
            </button>
            <button type="button" disabled={action.pending} onClick={() => void confirm(false)}>
              No, stop
            </button>
          </div>
        </div>
      )}
      {state?.phase === 'linking' && (
        <p role="status">
          <span aria-hidden="true">◔</span> Linking: adding the device to your identity and handing it the group keys…
        </p>
      )}
      {state?.phase === 'done' && (
        <div class="notice notice-ok stack" data-testid="link-report" tabIndex={-1} ref={stepRef}>
          <p class="notice-title">
            <span aria-hidden="true">✓</span> Device <Fingerprint value={state.deviceShort} label="The new device's fingerprint" /> is linked to you.
          </p>
          <GroupsAdded groups={state.groups} side="existing" />
          <p class="hint">The keys were also left on the server for it, sealed to it alone, so it can fetch them itself even if this device goes offline now.</p>
          <div class="row">
            <button type="button" onClick={() => void again()}>
              Done
            </button>
          </div>
        </div>
      )}
      {state?.phase === 'failed' && (
        <div class="stack" tabIndex={-1} ref={stepRef}>
          <ErrorNotice error={{ code: 'verification-failed', message: state.message, action: state.action }} title="The device was not linked" />
          <div class="row">
            <button type="button" onClick={() => void again()}>
              Try again
            </button>
          </div>
        </div>
      )}
      <ErrorNotice error={action.error} title="The device could not be linked" />
    </section>
  );
}
