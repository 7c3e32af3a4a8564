/**
 * Inviting someone (admins): how long the invite lasts, their role, and whether it
 * carries the key ("pre-keyed"). Then the code, the link and a QR code of the link,
 * kept as a draft until "Done" so closing the popup to paste the link loses nothing.
 */
import { useId } from 'preact/hooks';
import { announce } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { useAction, useAsk } from '../components/useAsk.ts';
import { useDraft } from '../components/useDraft.ts';
import type { GroupSummary } from '../../messages/views.ts';
import { Code } from './Code.tsx';
import { CopyButton } from './CopyButton.tsx';
import { timeLeft } from './format.ts';
import { InviteQr } from './InviteQr.tsx';
import type { Answers } from '../../messages/answers.ts';
import { Screen } from './Screen.tsx';

export const EXPIRY = {
  '1h': { ms: 3_600_000, label: '1 hour' },
  '1d': { ms: 86_400_000, label: '1 day' },
  '7d': { ms: 7 * 86_400_000, label: '7 days' },
} as const;
type Expiry = keyof typeof EXPIRY;

interface InviteDraft {
  expiry: Expiry;
  role: 'member' | 'admin';
  prekeyed: boolean;
  result: Answers['group.invite'] | null;
}
const START: InviteDraft = { expiry: '1d', role: 'member', prekeyed: false, result: null };

export function Invite({ group, onDone }: { group: GroupSummary; onDone: () => void }) {
  const draft = useDraft<InviteDraft>(`popup.invite.${group.groupId}`, START);
  const action = useAction();
  const expiryId = useId();
  const prekeyId = useId();
  const name = group.name ?? 'this group';
  const value = draft.value;
  // Read each time the screen shows (and when the group changes): someone may have joined with it meanwhile.
  const standing = useAsk(value.result ? { type: 'group.inviteState', groupId: group.groupId, code: value.result.code } : null, { groupId: group.groupId });
  const verifiedOnly = group.policy === 'verified';

  const done = async () => {
    await draft.clear();
    onDone();
  };

  if (!draft.ready) return <p role="status">Loading…</p>;
  if (value.result) {
    const { code, link, expiresAt } = value.result;
    const state = standing.data?.state ?? 'open';
    const expired = state === 'expired' || expiresAt <= Date.now();
    if (state === 'used' || state === 'revoked') {
      const who = standing.data?.usedBy ?? 'Someone';
      return (
        <Screen title={`Invite to “${name}”`} onBack={done}>
          <div class={state === 'used' ? 'notice notice-ok' : 'notice notice-warn'} role="status">
            <p class="notice-title">
              <span aria-hidden="true">{state === 'used' ? '✓' : '!'}</span> {state === 'used' ? `${who} joined with this invite.` : 'This invite was cancelled.'}
            </p>
            <p>
              {state === 'used'
                ? 'It cannot be used again: make a new invite for anyone else.'
                : 'Either the admin who made it is no longer an admin, or the device it was made on was removed, so nobody can join with it. Make a new invite if the person has not joined yet.'}
            </p>
            {state === 'used' && !value.prekeyed && verifiedOnly && (
              <p>To let {who} read, verify them: open the group, then Members, then “Verify” by their name.</p>
            )}
          </div>
          <DoneOrAnother onDone={done} onAnother={() => draft.set((d) => ({ ...d, result: null }))} />
        </Screen>
      );
    }
    return (
      <Screen title={`Invite to “${name}”`} onBack={done}>
        {expired ? (
          <div class="notice notice-warn" role="status">
            <p class="notice-title">
              <span aria-hidden="true">!</span> This invite has expired.
            </p>
            <p>Make a new one if the person has not joined yet.</p>
          </div>
        ) : (
          <p>
            Send this to the person you invite, privately (in person, or in a chat only they read). It works once, and expires {timeLeft(expiresAt)}.
          </p>
        )}
        <div class="field">
          <h2>Invite link</h2>
          <p class="code link-text">{link}</p>
          <p class="hint">Paste it into a message: they paste it into “Join with an invite”. It also tells them your name.</p>
          <CopyButton text={link} what="invite link" />
        </div>
        <div class="field">
          <h2>Invite code</h2>
          <Code code={code} label="Invite code" />
          <CopyButton text={code} what="invite code" />
        </div>
        {!expired && (
          <div class="field">
            <h2>QR code</h2>
            <p class="hint">They can take a picture of it and choose “Join with an invite”.</p>
            <InviteQr text={link} />
          </div>
        )}
        <p class="hint">
          {value.prekeyed
            ? `This invite carries the key: they can read at once, and show as “trusted by link” until you verify them.${verifiedOnly ? ' Whoever opens this link first can read the group, even though it is otherwise for verified people only.' : ''}`
            : verifiedOnly
              ? 'When they join, they get the key once a member has verified them (compared safety numbers): at once if you are both online, otherwise through the mailbox.'
              : 'When they join, they get the key from a member who is online, or through the mailbox.'}
        </p>
        <DoneOrAnother onDone={done} onAnother={() => draft.set((d) => ({ ...d, result: null }))} />
      </Screen>
    );
  }

  const submit = async (event: Event) => {
    event.preventDefault();
    const made = await action.run({
      type: 'group.invite',
      groupId: group.groupId,
      role: value.role,
      expiresInMs: EXPIRY[value.expiry].ms,
      prekeyed: value.prekeyed,
    });
    if (!made.ok) return;
    await draft.saveNow({ ...value, result: made.data });
    announce('The invite is ready: copy the link or show the QR code.');
  };

  return (
    <Screen title={`Invite to “${name}”`} onBack={done}>
      <form onSubmit={submit} class="stack">
        <div class="field">
          <label for={expiryId}>The invite expires after</label>
          <select id={expiryId} value={value.expiry} onChange={(e) => draft.set((d) => ({ ...d, expiry: e.currentTarget.value as Expiry }))}>
            {(Object.keys(EXPIRY) as Expiry[]).map((key) => (
              <option key={key} value={key}>
                {EXPIRY[key].label}
              </option>
            ))}
          </select>
          <p class="hint">It works once: after one person joins with it, nobody else can.</p>
        </div>
        <fieldset>
          <legend>They join as</legend>
          <RoleChoice role="member" value={value.role} onChoose={(role) => draft.set((d) => ({ ...d, role }))} />
          <RoleChoice role="admin" value={value.role} onChoose={(role) => draft.set((d) => ({ ...d, role }))} />
        </fieldset>
        <div class="field">
          <label class="inline" for={prekeyId}>
            <input
              id={prekeyId}
              type="checkbox"
              checked={value.prekeyed}
              aria-describedby={`${prekeyId}-explain`}
              onChange={(e) => draft.set((d) => ({ ...d, prekeyed: e.currentTarget.checked }))}
            />
            <span>Let them read at once</span>
          </label>
          {verifiedOnly ? (
            <p id={`${prekeyId}-explain`} class="hint">
              This group is for verified people only: normally nobody reads it until a member has compared safety numbers with them, so a copied link
              is not enough. Ticking this skips that check for this one invite: it carries the group's key, and whoever opens it first reads everything
              at once, before anyone verifies them (they show as “trusted by link”). Use it only when you give the link in person, or where nobody
              else can read it.
            </p>
          ) : (
            <p id={`${prekeyId}-explain`} class="hint">
              The invite carries the group's key, so they can read at once, even when nobody is online, before you verify them. They will show as
              “trusted by link”. Anyone who gets hold of this invite can read the group, so send it privately.
            </p>
          )}
        </div>
        <ErrorNotice error={action.error} title="The invite could not be made" />
        <button type="submit" class="primary" disabled={action.pending}>
          {action.pending ? 'Making the invite…' : 'Make the invite'}
        </button>
      </form>
    </Screen>
  );
}

const ROLE_WORDS = {
  member: { label: 'Member', explain: 'reads and writes notes.' },
  admin: { label: 'Admin', explain: 'also invites and removes people.' },
} as const;

function RoleChoice({ role, value, onChoose }: { role: 'member' | 'admin'; value: string; onChoose: (role: 'member' | 'admin') => void }) {
  const id = useId();
  return (
    <label class="inline" for={id}>
      <input id={id} type="radio" name="role" value={role} checked={value === role} onChange={() => onChoose(role)} />
      <span>
        <strong>{ROLE_WORDS[role].label}</strong>: {ROLE_WORDS[role].explain}
      </span>
    </label>
  );
}

/** The invite's closing choice, the same whether or not the invite was used yet. */
function DoneOrAnother({ onDone, onAnother }: { onDone: () => void; onAnother: () => void }) {
  return (
    <div class="row">
      <button type="button" class="primary" onClick={onDone}>
        Done
      </button>
      <button type="button" onClick={onAnother}>
        Make another invite
      </button>
    </div>
  );
}
