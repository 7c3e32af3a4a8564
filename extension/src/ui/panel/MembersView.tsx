
/**
 * Who is in the group: name, role, this device's trust in their key, whether they are
 * online, and "Verify" (opens the verification tab: the camera can only be asked for
 * in a tab). Admins hand the key over to members waiting for it — or, when the group
 * would refuse them the key (not verified in a "verified people only" group, a changed
 * key), are offered "Verify <name>" instead —, change roles, and
 * remove members — removal starts a new key (DESIGN §4–5) and the dialog says so,
 * and that the person removed keeps what they already read. Anyone can leave; the
 * last person is warned first and pointed at the recovery kit (DESIGN §6.4). A member
 * whose name has not arrived says so beside their fingerprint. A group that removed this
 * device offers nothing to do with its members, only to remove it from this device.
 */
import { useRef, useState } from 'preact/hooks';
import type { GroupId } from '@conclave/shared/protocol';
import type { GroupDetailView, MemberView } from '../../messages/views.ts';
import { announce } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { openVerify } from '../components/verify-link.ts';
import { OutcomeNotice } from '../components/OutcomeNotice.tsx';
import { Fingerprint as FingerprintText } from '../components/Fingerprint.tsx';
import { TrustBadge } from '../components/TrustBadge.tsx';
import { useAction } from '../components/useAsk.ts';
import { ConfirmDialog } from './ConfirmDialog.tsx';
import { formatFull, groupName, isLastMember, presence, waitingMembers } from './logic.ts';

export interface MembersViewProps {
  groupId: GroupId;
  detail: GroupDetailView | undefined;
  reload: () => Promise<void>;
}

type Pending = { kind: 'remove'; member: MemberView } | { kind: 'leave' } | { kind: 'forget' } | null;

/**
 * A waiting member this device would refuse the key today: they must be verified first.
 * The background says so per member, by the SDK's own rule (client/handover.ts
 * `handoverRefusal`), so the page never offers a hand-over that would skip them.
 */
export function needsVerifying(member: MemberView): boolean {
  return member.handoverSkip !== undefined;
}

export function MembersView({ groupId, detail, reload }: MembersViewProps) {
  const action = useAction();
  const [confirm, setConfirm] = useState<Pending>(null);
  const [removing, setRemoving] = useState<MemberView | null>(null);
  /** What the last hand-over or removal did, kept on screen (the announcement is fleeting). */
  const [outcome, setOutcome] = useState<{ ok: boolean; lines: string[] } | null>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);

  if (!detail)
    return (
      <p class="muted" aria-busy="true">
        Loading the members…
      </p>
    );

  const me = detail.members.find((m) => m.isMe);
  const isAdmin = me?.role === 'admin' && !detail.removed;
  const waiting = waitingMembers(detail.members);
  // Who would be refused the key today: offered "Verify", never a hand-over that fails.
  const toVerify = waiting.filter((m) => needsVerifying(m));
  const handable = waiting.filter((m) => !needsVerifying(m));
  const people = detail.members.filter((m) => !m.isRecovery);
  const recovery = detail.members.filter((m) => m.isRecovery);
  const name = groupName(detail);

  const verify = (member: MemberView) => void openVerify(groupId, member.fingerprint);

  const handOver = async () => {
    setOutcome(null);
    const result = await action.run({ type: 'group.handOver', groupId });
    if (!result.ok) return;
    const { sent, skipped } = result.data;
    // Each skip's message names the person itself.
    const words = [sent.length > 0 ? `The key was handed over to ${sent.map((m) => m.name).join(', ')}.` : 'Nobody was handed the key.', ...skipped.map((m) => m.message)];
    setOutcome({ ok: skipped.length === 0, lines: words });
    announce(words.join(' '));
    await reload();
  };

  const setRole = async (member: MemberView, role: 'admin' | 'member') => {
    const result = await action.run({ type: 'group.setRole', groupId, fingerprint: member.fingerprint, role });
    if (result.ok) {
      announce(`${member.name} is now ${role === 'admin' ? 'an admin' : 'a member'}.`);
      await reload();
    }
  };

  const remove = async (member: MemberView) => {
    setConfirm(null);
    setRemoving(member);
    announce(`Removing ${member.name} and starting a new key. This can take a moment.`);
    setOutcome(null);
    const result = await action.run({ type: 'group.remove', groupId, fingerprint: member.fingerprint });
    setRemoving(null);
    if (result.ok) {
      const lines = removedLines(member.name, result.data.unreachable);
      setOutcome({ ok: result.data.unreachable === 0, lines });
      announce(lines.join(' '));
      await reload();
    } else {
      announce(`${member.name} was not removed.`);
    }
    // The row (and its button) may be gone: keep focus somewhere sensible.
    headingRef.current?.focus();
  };

  const leave = async () => {
    const result = await action.run({ type: 'group.leave', groupId });
    setConfirm(null);
    if (result.ok) {
      announce(`You left “${name}”.`);
      await reload();
    }
  };

  // A group that removed this device is only forgotten here (group.leave does that for a removed group).
  const forget = async () => {
    const result = await action.run({ type: 'group.leave', groupId });
    setConfirm(null);
    if (result.ok) announce(`“${name}” was removed from this device.`);
  };

  const lastMember = isLastMember(detail.members);

  return (
    <section class="members" aria-labelledby="members-heading">
      <h2 id="members-heading" ref={headingRef} tabIndex={-1}>
        Members
      </h2>
      {removing && (
        <div class="notice progress-notice" role="status">
          <p>
            Removing {removing.name} and starting a new key for everyone else…
          </p>
          <div class="progress" role="progressbar" aria-label={`Removing ${removing.name}`} aria-valuetext="Working">
            <div class="progress-bar" />
          </div>
        </div>
      )}
      <ErrorNotice error={action.error} title="That did not work" onDismiss={() => action.setError(null)} />
      {outcome && (
        <OutcomeNotice lines={outcome.lines} ok={outcome.ok} onClose={() => setOutcome(null)} />
      )}
      {isAdmin && waiting.length > 0 && (
        <div class="notice notice-warn">
          <p class="notice-title">
            <span aria-hidden="true">◔</span> {waiting.length === 1 ? `${waiting[0]!.name} is` : `${waiting.length} members are`} waiting for the key
          </p>
          {toVerify.length > 0 && (
            <>
              <p>
                {detail.policy === 'verified' ? 'This group gives the key only to people you have verified. ' : ''}
                {toVerify.length === 1 ? `Compare safety numbers with ${toVerify[0]!.name}` : 'Compare safety numbers with each of them'} — in person or on a call — and they get the key once you have
                verified them.
                {toVerify.some((m) => m.handoverSkip === 'key-changed') && ' Someone whose key changed must be verified again.'}
              </p>
              <div class="row">
                {toVerify.map((m) => (
                  <button key={m.fingerprint} type="button" class="primary" onClick={() => verify(m)}>
                    Verify {m.name}
                  </button>
                ))}
              </div>
            </>
          )}
          {handable.length > 0 && (
            <button type="button" class={toVerify.length > 0 ? undefined : 'primary'} disabled={action.pending} onClick={() => void handOver()}>
              Hand over the key
            </button>
          )}
        </div>
      )}
      <ul class="member-list" aria-labelledby="members-heading" aria-busy={removing !== null}>
        {people.map((member) => (
          <MemberRow
            key={member.fingerprint}
            member={member}
            isAdmin={isAdmin}
            removed={detail.removed}
            busy={action.pending}
            onVerify={() => verify(member)}
            onRole={(role) => void setRole(member, role)}
            onRemove={() => setConfirm({ kind: 'remove', member })}
          />
        ))}
      </ul>
      {recovery.length > 0 && (
        <p class="hint">
          The group also has a recovery key (an admin that is not a person): whoever holds the recovery code can restore access if everyone loses theirs.
        </p>
      )}
      {detail.departed.length > 0 && (
        <>
          <h3>Former members</h3>
          <ul class="departed-list">
            {detail.departed.map((d) => (
              <li key={d.fingerprint}>
                {d.name} — {d.how === 'removed' ? 'removed' : 'left'}
              </li>
            ))}
          </ul>
        </>
      )}
      {detail.removed && (
        <div class="leave">
          <h3>Remove this group from this device</h3>
          <p class="hint">You are no longer in “{name}”. Removing it deletes what this device kept of it (the notes you can still read here); nobody else is affected.</p>
          <button type="button" class="danger" disabled={action.pending} onClick={() => setConfirm({ kind: 'forget' })}>
            Remove “{name}” from this device…
          </button>
        </div>
      )}
      {!detail.removed && me && (
        <div class="leave">
          <h3>Leave this group</h3>
          <p class="hint">You keep the notes you already read on this device; you cannot read new ones.</p>
          <button type="button" class="danger" disabled={action.pending} onClick={() => setConfirm({ kind: 'leave' })}>
            Leave group…
          </button>
        </div>
      )}

      <RemoveMemberDialog
        open={confirm?.kind === 'remove'}
        memberName={confirm?.kind === 'remove' ? confirm.member.name : null}
        groupName={name}
        onConfirm={() => confirm?.kind === 'remove' && void remove(confirm.member)}
        onCancel={() => setConfirm(null)}
      />

      <ConfirmDialog
        open={confirm?.kind === 'forget'}
        title={`Remove “${name}” from this device?`}
        confirmLabel={action.pending ? 'Removing…' : 'Remove from this device'}
        danger
        busy={action.pending}
        onConfirm={() => void forget()}
        onCancel={() => setConfirm(null)}
      >
        <p>The notes this device kept of “{name}” are deleted from it. This cannot be undone; to read the group again, ask an admin to invite you.</p>
      </ConfirmDialog>

      <ConfirmDialog
        open={confirm?.kind === 'leave'}
        title={lastMember ? `You are the last member of “${name}”` : `Leave “${name}”?`}
        confirmLabel={action.pending ? 'Leaving…' : lastMember ? 'Leave anyway' : 'Leave group'}
        danger
        busy={action.pending}
        onConfirm={() => void leave()}
        onCancel={() => setConfirm(null)}
      >
        {lastMember ? (
          <>
            <p>
              <strong>If you leave, nobody can read this group’s notes</strong> — unless someone restores it with the group’s recovery code.
            </p>
            <p>
              {detail.recoveryUnconfirmed
                ? 'You have not saved the recovery kit yet: open the Conclave popup from the toolbar and download it there before you leave.'
                : 'Make sure you know where the recovery kit saved when the group was created is (the Conclave popup explains how to restore with it).'}
            </p>
          </>
        ) : (
          <p>A new key is started for the others. You keep what you already read on this device; you cannot read new notes.</p>
        )}
      </ConfirmDialog>
    </section>
  );
}

/** What a removal did, in words (the members list and the peer alarm's "Remove" say the same). */
export function removedLines(memberName: string, unreachable: number): string[] {
  const lines = [`${memberName} was removed. New notes use a new key they cannot read.`];
  if (unreachable > 0)
    lines.push(`The new key could not yet be sealed to ${unreachable} ${unreachable === 1 ? 'member' : 'members'}; they will get it when the group next syncs with them.`);
  return lines;
}

/** The one confirmation before removing a member (`group.remove`), wherever removal is offered. */
export function RemoveMemberDialog({ open, memberName, groupName, onConfirm, onCancel }: { open: boolean; memberName: string | null; groupName: string; onConfirm: () => void; onCancel: () => void }) {
  return (
    <ConfirmDialog open={open} title={memberName ? `Remove ${memberName} from “${groupName}”?` : ''} confirmLabel="Remove and start a new key" danger onConfirm={onConfirm} onCancel={onCancel}>
      <p>Removing starts a new key for the group. {memberName ?? 'They'} cannot read notes written from now on.</p>
      <p>They keep what they already read: notes they opened before may still be on their device.</p>
    </ConfirmDialog>
  );
}

interface MemberRowProps {
  member: MemberView;
  isAdmin: boolean;
  /** This device was removed from the group: nothing can be done with its members here. */
  removed: boolean;
  busy: boolean;
  onVerify: () => void;
  onRole: (role: 'admin' | 'member') => void;
  onRemove: () => void;
}

function MemberRow({ member, isAdmin, removed, busy, onVerify, onRole, onRemove }: MemberRowProps) {
  const here = presence(member.online);
  const who = member.isMe ? `${member.name} (you)` : member.nameUnknown ? 'Name not known yet' : member.name;
  return (
    <li class="member">
      <div class="member-main">
        <span class="member-name">{who}</span>
        <span class="badge">{member.role === 'admin' ? 'Admin' : 'Member'}</span>
        {member.isMe ? <span class="badge">You</span> : <TrustBadge trust={member.trust} name={member.name} />}
        {member.devices > 1 && (
          <span class="badge" data-testid="member-devices" aria-label={`${member.name} uses ${member.devices} devices`}>
            {member.devices} devices
          </span>
        )}
        <span class={`presence ${member.online ? 'online' : 'offline'}`}>
          <span aria-hidden="true">{here.icon}</span> {here.word}
        </span>
      </div>
      <p class="member-detail">
        <FingerprintText value={member.short} label={member.nameUnknown ? 'Their fingerprint' : `${member.name}'s fingerprint`} />
        {member.waitingForKey && (
          <span class="badge">
            <span aria-hidden="true">◔</span> Waiting for the key
          </span>
        )}
      </p>
      {member.addedByRecovery !== undefined && (
        <p class="hint" data-testid="member-restored">
          Added with the recovery code on {formatFull(member.addedByRecovery)}, as an admin.
          {!member.isMe &&
            (isAdmin
              ? ' If nobody expected it, remove them and replace the recovery code: whoever holds the code can do this.'
              : ' If you do not know who restored the group, tell an admin: whoever holds the recovery code can do this.')}
        </p>
      )}
      {member.nameUnknown && (
        <p class="hint">
          Their name shows once their device has been online with the group’s key (names travel encrypted inside the group). Until then, tell them apart by the fingerprint above: ask them to read theirs out to you.
        </p>
      )}
      {member.trust === 'key-changed' && !member.isMe && (
        <p class="field-error">
          Someone new is using the name “{member.name}”: this is a different identity from the {member.name} you verified (they may have lost every device and started again, or someone may be pretending to be them). They do not get the group key from this
          device until you verify them again — compare safety numbers in person or on a call.
        </p>
      )}
      {!member.isMe && !removed && (
        <div class="row member-actions">
          <button type="button" onClick={onVerify} aria-label={`Verify ${member.name}`}>
            Verify
          </button>
          {isAdmin && (
            <>
              <button
                type="button"
                disabled={busy}
                onClick={() => onRole(member.role === 'admin' ? 'member' : 'admin')}
                // The spoken name starts with the words shown (WCAG 2.5.3: speech control users say what they see).
                aria-label={member.role === 'admin' ? `Make member: ${member.name} (no longer an admin)` : `Make admin: ${member.name}`}
              >
                {member.role === 'admin' ? 'Make member' : 'Make admin'}
              </button>
              <button type="button" class="danger" disabled={busy} onClick={onRemove} aria-label={`Remove ${member.name}…`}>
                Remove…
              </button>
            </>
          )}
        </div>
      )}
    </li>
  );
}
