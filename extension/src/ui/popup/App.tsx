/**
 * The popup: first-run setup, or home and its flows (create, invite, join, restore).
 * Which screen shows is a draft, as is every flow's state, so closing the popup at
 * any moment loses nothing.
 */
import { useEffect } from 'preact/hooks';
import { Announcer } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { useAsk, type AskState } from '../components/useAsk.ts';
import { useDraft, type Draft } from '../components/useDraft.ts';
import type { StatusView } from '../../messages/views.ts';
import { CreateGroup, EMPTY_CREATE, restoreCreate, type CreateDraft } from './CreateGroup.tsx';
import { Home } from './Home.tsx';
import { Invite } from './Invite.tsx';
import { Join } from './Join.tsx';
import { rememberWindow } from './open-panel.ts';
import { PendingRecoveryCode } from './RecoveryCode.tsx';
import { ReplaceRecovery } from './ReplaceRecovery.tsx';
import { Restore } from './Restore.tsx';
import { HOME, restoreRoute, type Route } from './route.ts';
import { Setup } from './Setup.tsx';

export function App() {
  const status = useAsk({ type: 'status' });
  const route = useDraft<Route>('popup.route', HOME, { restore: restoreRoute, delayMs: 50 });
  const create = useDraft<CreateDraft>('popup.create', EMPTY_CREATE, { restore: restoreCreate });

  useEffect(rememberWindow, []);

  return (
    <main class="popup">
      <Announcer />
      <Body
        status={status}
        route={route.ready ? route.value : null}
        go={(next) => {
          // Every flow ends by going somewhere: what it changed shows at once, broadcast or not.
          void status.reload();
          void route.saveNow(next);
        }}
        create={create}
      />
    </main>
  );
}

interface BodyProps {
  status: AskState<StatusView>;
  route: Route | null;
  go: (route: Route) => void;
  create: Draft<CreateDraft>;
}

function Body({ status, route, go, create }: BodyProps) {
  if (!status.data) {
    if (status.error) return <ErrorNotice error={status.error} title="Conclave could not start" onRetry={() => void status.reload()} />;
    return <p role="status">Loading…</p>;
  }
  if (!route || !create.ready) return <p role="status">Loading…</p>;
  const data = status.data;
  const identity = data.identity;
  if (!identity) return <Setup onDone={() => void status.reload()} />;
  const home = () => go(HOME);
  const stale = status.error ? <ErrorNotice error={status.error} title="Could not refresh" onRetry={() => void status.reload()} /> : null;

  // A recovery code not yet confirmed comes before anything else: it is shown only here.
  const codeWaiting = create.value.groupId !== null;
  switch (codeWaiting ? 'create' : route.screen) {
    case 'create':
      return <CreateGroup draft={create} onBack={home} onDone={home} />;
    case 'invite': {
      const group = route.screen === 'invite' ? data.groups.find((g) => g.groupId === route.groupId) : undefined;
      if (group) return <Invite group={group} onDone={home} />;
      break;
    }
    case 'join':
      return <Join status={data} refresh={status.reload} onDone={home} />;
    case 'restore':
      return <Restore status={data} refresh={status.reload} onDone={home} />;
    case 'replace-recovery': {
      const group = route.screen === 'replace-recovery' ? data.groups.find((g) => g.groupId === route.groupId) : undefined;
      // Replaced while the popup was closed: the new code is waiting, never a second replacement.
      if (group?.recoveryUnconfirmed) return <PendingRecoveryCode groupId={group.groupId} groupName={group.name ?? ''} onDone={home} clear={async () => undefined} />;
      if (group)
        return (
          <ReplaceRecovery
            group={group}
            onBack={home}
            onReplaced={(answer) => void create.saveNow({ ...EMPTY_CREATE, name: answer.name ?? group.name ?? '', groupId: answer.groupId }).then(home)}
          />
        );
      break;
    }
  }
  return (
    <>
      {stale}
      <Home
        identity={identity}
        status={data}
        go={go}
        showRecovery={(groupId) => {
          const group = data.groups.find((g) => g.groupId === groupId);
          void create.saveNow({ ...EMPTY_CREATE, name: group?.name ?? '', groupId });
        }}
      />
    </>
  );
}
