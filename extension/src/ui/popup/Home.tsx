/**
 * The popup's home: this device's fingerprint, alarms first, then the groups with
 * their counts and waiting states, and what can be done next.
 */
import { useState } from 'preact/hooks';
import { browser } from 'wxt/browser';
import type { GroupId } from '@conclave/shared/protocol';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { Fingerprint } from '../components/Fingerprint.tsx';
import { toExtensionError } from '../components/useAsk.ts';
import type { ExtensionError } from '../../messages/protocol.ts';
import type { IdentityView, StatusView } from '../../messages/views.ts';
import { recoveryUsedExplain, recoveryUsedTitle } from '../components/key-care-words.ts';
import { AlarmBanner } from './AlarmBanner.tsx';
import { GroupRow } from './GroupRow.tsx';
import { openNotes } from './open-panel.ts';
import type { Route } from './route.ts';
import { Screen } from './Screen.tsx';
import { openOptionsAt } from './options-link.ts';

export interface HomeProps {
  identity: IdentityView;
  status: StatusView;
  go: (route: Route) => void;
  /** Shows a group's unconfirmed recovery code again. */
  showRecovery: (groupId: GroupId) => void;
}

export function Home({ identity, status, go, showRecovery }: HomeProps) {
  const [error, setError] = useState<ExtensionError | null>(null);
  const open = (groupId?: GroupId) => {
    setError(null);
    openNotes(groupId).then(
      () => window.close(),
      (thrown: unknown) => setError(toExtensionError(thrown)),
    );
  };
  const alarms = status.groups.filter((g) => g.alarm);
  const unconfirmed = status.groups.filter((g) => g.recoveryUnconfirmed);
  // Admins are told until the code is replaced (not while a new code waits to be saved).
  const recoveryUsed = status.groups.filter((g) => g.recoveryUsed && g.role === 'admin' && !g.removed && !g.alarm && !g.recoveryUnconfirmed);
  return (
    <Screen title="Conclave">
      <div class="me">
        <p>
          This device: <strong>{identity.displayName}</strong>
        </p>
        <p class="row">
          <span class="muted">Its fingerprint:</span> <Fingerprint value={identity.short} label="This device's fingerprint" />
        </p>
      </div>

      {alarms.map((group) => (
        <AlarmBanner key={group.groupId} group={group} onOpen={() => open(group.groupId)} />
      ))}

      {recoveryUsed.map((group) => (
        <div key={`used-${group.groupId}`} class="notice notice-warn" role="status">
          <p class="notice-title">
            <span aria-hidden="true">!</span> “{group.name ?? 'A group'}”: {recoveryUsedTitle(group.recoveryUsed!)}
          </p>
          <p>{recoveryUsedExplain(group.recoveryUsed!)}</p>
          <button type="button" onClick={() => go({ screen: 'replace-recovery', groupId: group.groupId })} aria-label={`Replace the recovery code of ${group.name ?? 'this group'}`}>
            Replace the recovery code
          </button>
        </div>
      ))}

      {unconfirmed.map((group) => (
        <div key={group.groupId} class="notice notice-warn">
          <p class="notice-title">
            <span aria-hidden="true">!</span> Save the recovery code of “{group.name ?? 'your new group'}”
          </p>
          <p>
            Until it is saved somewhere safe, keep this device: if it is lost before anyone else holds the key, so is the group.
          </p>
          <button type="button" onClick={() => showRecovery(group.groupId)}>
            Show the recovery code
          </button>
        </div>
      ))}

      <ErrorNotice error={error} title="The notes could not be opened" onDismiss={() => setError(null)} />

      <section aria-labelledby="groups-heading" class="stack">
        <h2 id="groups-heading">Your groups</h2>
        {status.groups.length === 0 ? (
          <p class="muted">No groups yet. Create one, or join with an invite someone sent you.</p>
        ) : (
          <ul class="groups">
            {status.groups.map((group) => (
              <GroupRow
                key={group.groupId}
                group={group}
                onOpen={() => open(group.groupId)}
                onInvite={() => go({ screen: 'invite', groupId: group.groupId })}
              />
            ))}
          </ul>
        )}
      </section>

      <div class="row">
        <button type="button" class="primary" onClick={() => go({ screen: 'create' })}>
          Create a group
        </button>
        <button type="button" onClick={() => go({ screen: 'join' })}>
          Join with an invite
        </button>
      </div>
      {/* Each group row has its own "Open notes": no second, unnamed one here. */}
      <p class="row">
        <button type="button" class="link" onClick={() => go({ screen: 'restore' })}>
          Restore a group with a recovery code
        </button>
      </p>
      <p class="row">
        {status.groups.length > 0 ? (
          <button type="button" class="link" onClick={() => openOptionsAt('link-new-device')} data-testid="popup-link-new-device">
            Link a new device
          </button>
        ) : (
          <button type="button" class="link" onClick={() => openOptionsAt('link-to-identity')} data-testid="popup-link-to-identity">
            Link to my identity
          </button>
        )}
        <button type="button" class="link" onClick={() => openOptionsAt('devices')}>
          Your devices
        </button>
      </p>
      <p>
        <button type="button" class="link" onClick={() => void browser.runtime.openOptionsPage()}>
          Options: servers and connections
        </button>
      </p>
    </Screen>
  );
}
