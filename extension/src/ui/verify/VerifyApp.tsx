/**
 * The verification tab (DESIGN §3): is this member's key really theirs? Three ways to
 * check, best first — scan each other's QR code (camera or an image), compare the
 * safety number with them in person or on a call, or type the number they read out.
 * A tab, not the popup or panel: only a tab may ask for the camera. Every step works
 * from the keyboard, and every result is announced.
 */
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import type { Fingerprint as FingerprintId, GroupId } from '@conclave/shared/protocol';
import type { Handed, RequestOf } from '../../messages/answers.ts';
import type { KeyWaitView } from '../../messages/views.ts';
import { announce, Announcer } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { Fingerprint } from '../components/Fingerprint.tsx';
import { QrImage } from '../components/QrImage.tsx';
import { QrScan } from '../components/QrScan.tsx';
import { SafetyNumber } from '../components/SafetyNumber.tsx';
import { TRUST_WORDS, TrustBadge } from '../components/TrustBadge.tsx';
import { useAction, useAsk } from '../components/useAsk.ts';
import { describeKeySide, describeKeyWait } from '../popup/key-wait-text.ts';
import { KeyNotice, KeyWait } from '../popup/KeyWait.tsx';
import { firstDifferentGroup, parseVerifyParams, reformatTyped, SAFETY_DIGITS, typedDigits } from './logic.ts';

export function VerifyApp({ search }: { search: string }) {
  const ids = parseVerifyParams(search);
  return (
    <main class="verify">
      <Announcer />
      {ids ? (
        <Verify groupId={ids.groupId} fingerprint={ids.fingerprint} />
      ) : (
        <>
          <h1>Verify a member</h1>
          <div class="notice notice-error" role="alert">
            <p class="notice-title">
              <span aria-hidden="true">⚠</span> This page does not say whom to verify.
            </p>
            <p>Open it from the members list in the Conclave side panel, with the “Verify” button by a member’s name.</p>
          </div>
        </>
      )}
    </main>
  );
}

function Verify({ groupId, fingerprint }: { groupId: GroupId; fingerprint: FingerprintId }) {
  const info = useAsk({ type: 'verify.info', groupId, fingerprint }, { groupId });
  const check = useAction();
  const [typed, setTyped] = useState('');
  const [typedError, setTypedError] = useState<string | null>(null);
  const [lastWay, setLastWay] = useState<'scan' | 'match' | 'typed' | 'reset' | null>(null);
  /** What the key wait this verification started came to ("Key received from Ana."), shown beside the result. */
  const [keyNews, setKeyNews] = useState<KeyWaitView | null>(null);
  /** How the key went to them when this device, holding it, verified them (live or mailbox). */
  const [handed, setHanded] = useState<Handed>(null);
  const typedRef = useRef<HTMLTextAreaElement>(null);
  const typedId = useId();
  const resultRef = useRef<HTMLDivElement>(null);
  // A change made elsewhere (they scanned my code; a key changed) is announced too.
  const lastTrust = useRef<string | null>(null);
  /** The trust my own last action produced (announced by that action already). */
  const ownResult = useRef<string | null>(null);
  const trustNow = info.data?.peer.trust ?? null;
  useEffect(() => {
    if (trustNow === null) return;
    const before = lastTrust.current;
    lastTrust.current = trustNow;
    if (before === null || before === trustNow) return;
    if (ownResult.current === trustNow) {
      ownResult.current = null;
      return;
    }
    announce(`${info.data!.peer.name} is now: ${TRUST_WORDS[trustNow]}.`);
  }, [trustNow]);

  if (info.loading && !info.data)
    return (
      <p class="muted" aria-busy="true">
        Loading…
      </p>
    );
  if (!info.data)
    return (
      <>
        <h1>Verify a member</h1>
        <ErrorNotice error={info.error} title="This member cannot be verified here" onRetry={() => void info.reload()} />
      </>
    );

  const view = info.data;
  const peer = view.peer;

  /** Runs one check; on success re-reads the trust and says the result. */
  const verifyWith = async (way: 'scan' | 'match' | 'typed', request: RequestOf<'verify.scanned' | 'verify.confirm'>) => {
    setLastWay(way);
    setKeyNews(null);
    setHanded(null);
    const result = await check.run(request);
    if (!result.ok) {
      announce(`Not verified: ${result.error.message}`);
      resultRef.current?.focus();
      return;
    }
    const trust = result.data?.trust ?? 'verified';
    ownResult.current = trust;
    const news = result.data?.keyWait ?? null;
    setKeyNews(news);
    setHanded(result.data?.handed ?? null);
    await info.reload();
    setTyped('');
    const said = trust === 'verified' ? `Verified. ${peer.name}’s key is now marked verified on this device.` : `${peer.name} is now: ${TRUST_WORDS[trust]}.`;
    announce(news ? `${said} ${describeKeyWait(news).title}` : said);
    resultRef.current?.focus();
  };

  const onScanned = (text: string) => {
    announce('Code read. Checking it…');
    void verifyWith('scan', { type: 'verify.scanned', groupId, fingerprint, text });
  };

  const onTypedSubmit = (event: Event) => {
    event.preventDefault();
    const digits = typedDigits(typed);
    if (digits.length !== SAFETY_DIGITS) {
      setTypedError(`Type all ${SAFETY_DIGITS} digits (12 groups of 5); ${digits.length} so far.`);
      typedRef.current?.focus();
      return;
    }
    setTypedError(null);
    void verifyWith('typed', { type: 'verify.confirm', groupId, fingerprint, typed: digits });
  };

  const onReset = async () => {
    setLastWay('reset');
    const result = await check.run({ type: 'verify.reset', groupId, fingerprint });
    if (result.ok) {
      ownResult.current = result.data?.trust ?? 'unverified';
      await info.reload();
      announce(`${peer.name} is marked unverified.`);
    }
  };

  const different = lastWay === 'typed' && check.error ? firstDifferentGroup(typed, view.safetyNumber) : null;
  const verified = peer.trust === 'verified';

  return (
    <>
      <header class="verify-header">
        <h1>Verify {peer.name}</h1>
        <p class="verify-peer">
          <TrustBadge trust={peer.trust} name={peer.name} /> <Fingerprint value={peer.short} label={`${peer.name}'s fingerprint`} />
        </p>
        <p>
          Check that the key this device holds for {peer.name} is really theirs, and not someone else’s in between. Do it together — in person, or on a call where you
          recognise their voice.
        </p>
        <p class="hint" data-testid="verify-person-note">
          This checks {peer.name} as a person, not one device: the safety number stays the same when either of you adds or removes a device, and it covers every device{' '}
          {peer.name} links later from a device of theirs.
          {(peer.devices ?? 1) > 1 ? ` ${peer.name} uses ${peer.devices} devices now.` : ''}
        </p>
      </header>

      <div ref={resultRef} tabIndex={-1} class="verify-result">
        {check.error && lastWay !== 'reset' ? (
          <ErrorNotice error={check.error} title={`${peer.name} is not verified`} onDismiss={() => check.setError(null)}>
            {different !== null && <p>The number you typed differs from the one shown here from group {different} on.</p>}
          </ErrorNotice>
        ) : (
          <ErrorNotice error={check.error} title="That did not work" onDismiss={() => check.setError(null)} />
        )}
        {verified && (
          <div class="notice notice-ok" role="status">
            <p class="notice-title">
              <span aria-hidden="true">✓</span> {TRUST_WORDS.verified}: {peer.name}’s key is the one you checked.
            </p>
            <p>If their key ever changes, Conclave will show “{TRUST_WORDS['key-changed']}” and stop handing them the group key until you verify again.</p>
          </div>
        )}
        {/* A finished round's news stays; a wait is told live (keySide follows the key, whoever moves). */}
        {keyNews && (keyNews.state.phase === 'received' || keyNews.state.phase === 'fork' || keyNews.state.phase === 'stopped') ? (
          <KeyWait wait={keyNews} />
        ) : (
          (() => {
            const side = describeKeySide(view.keySide ?? null, handed, peer.name);
            return side && <KeyNotice text={side} testId="verify-key-side" />;
          })()
        )}
        {peer.trust === 'key-changed' && (
          <div class="notice notice-alarm" role="alert">
            <p class="notice-title">
              <span aria-hidden="true">⚠</span> {peer.name}’s key changed since you verified it
            </p>
            <p>It may be a new device — or someone pretending to be them. Check again below before trusting their notes or handing them the key.</p>
          </div>
        )}
      </div>

      <section class="verify-section" aria-labelledby="qr-heading">
        <h2 id="qr-heading">Scan each other’s codes</h2>
        <div class="verify-qr">
          <div>
            <h3>Your code</h3>
            <p class="hint">Let {peer.name} scan this with Conclave on their device.</p>
            <QrImage text={view.qrText} alt={`Your verification code for ${peer.name}, to scan with Conclave on their device`} />
          </div>
          <div>
            <h3>Scan their code</h3>
            <p class="hint">On their device: Members → your name → Verify. Then scan the code it shows.</p>
            <QrScan camera what={`${peer.name}’s code`} onResult={onScanned} onStatus={announce} />
          </div>
        </div>
      </section>

      <section class="verify-section" aria-labelledby="number-heading">
        <h2 id="number-heading">Or compare the safety number</h2>
        <p>
          {peer.name} sees the same 60 digits on their device. Read them to each other group by group. If every group matches, press “The numbers match”. If any
          group differs, do not press it: tell {peer.name}, and verify again later.
        </p>
        <SafetyNumber groups={view.safetyNumber} label={`Safety number with ${peer.name}`} readAloud />
        <div class="row">
          <button type="button" class="primary" disabled={check.pending} onClick={() => void verifyWith('match', { type: 'verify.confirm', groupId, fingerprint })}>
            <span aria-hidden="true">✓</span> The numbers match
          </button>
        </div>

        <form class="typed-number" onSubmit={onTypedSubmit} noValidate>
          <h3>Type the number they read out</h3>
          <div class="field">
            <label for={typedId}>Their safety number</label>
            {/* A textarea, so all 60 digits show at once (wrapped between groups); Enter checks it. */}
            <textarea
              id={typedId}
              ref={typedRef}
              class="code typed-input"
              rows={3}
              inputMode="numeric"
              autocomplete="off"
              spellcheck={false}
              value={typed}
              aria-invalid={typedError !== null}
              aria-describedby={`${typedId}-hint`}
              onKeyDown={(event) => {
                if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return;
                event.preventDefault();
                (event.currentTarget as HTMLTextAreaElement).form?.requestSubmit();
              }}
              onInput={(event) => {
                const input = event.currentTarget as HTMLTextAreaElement;
                const next = reformatTyped(input.value, input.selectionStart ?? input.value.length);
                setTyped(next.value);
                // Set at once, so the caret stays after the digit just typed.
                input.value = next.value;
                input.setSelectionRange(next.caret, next.caret);
                if (typedError) setTypedError(null);
              }}
            />
            {typedError ? (
              <p id={`${typedId}-hint`} class="field-error">
                {typedError}
              </p>
            ) : (
              <p id={`${typedId}-hint`} class="hint">
                {typedDigits(typed).length} of {SAFETY_DIGITS} digits. Spaces are added for you.
              </p>
            )}
          </div>
          <button type="submit" disabled={check.pending}>
            Check the typed number
          </button>
        </form>
      </section>

      {(verified || peer.trust === 'trusted-by-link') && (
        <section class="verify-section" aria-labelledby="reset-heading">
          <h2 id="reset-heading">Changed your mind?</h2>
          <p class="hint">Marks {peer.name} unverified on this device. In groups that require it, they will not be handed the key until verified again.</p>
          <button type="button" disabled={check.pending} onClick={() => void onReset()}>
            Mark as unverified
          </button>
        </section>
      )}
    </>
  );
}
