/**
 * The side panel: pick a group, then its notes (list, search, read, write) or its
 * members (trust, presence, verification, admin actions). Which group is shown comes
 * from the `panel.selectedGroup` draft (the popup's "Open notes" sets it) and from the
 * picker here; where the person was (view, open note, a half-written note) is kept in
 * drafts too, so closing the panel loses nothing.
 */
import { useEffect, useId, useMemo, useRef, useState } from 'preact/hooks';
import type { GroupId } from '@conclave/shared/protocol';
import { ask } from '../../messages/client.ts';
import { SELECTED_GROUP_DRAFT } from '../../messages/protocol.ts';
import type { GroupDetailView, GroupSummary } from '../../messages/views.ts';
import { Announcer } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { useAsk, useChanged } from '../components/useAsk.ts';
import { useDraft } from '../components/useDraft.ts';
import { AlarmRefusal, GroupBanners, isAlarmRefusal } from './GroupBanners.tsx';
import { KeyCare } from './KeyCare.tsx';
import { groupName } from './logic.ts';
import { MembersView } from './MembersView.tsx';
import { NotesView } from './NotesView.tsx';
import { START_ROUTE, type Go, type Route } from './route.ts';

/** The saved selection: a group id, or `{groupId}` (either shape is accepted). */
export function selectedFromDraft(saved: unknown): string | null {
  if (typeof saved === 'string' && saved) return saved;
  if (typeof saved === 'object' && saved !== null && typeof (saved as { groupId?: unknown }).groupId === 'string') return (saved as { groupId: string }).groupId;
  return null;
}

export function PanelApp() {
  const status = useAsk({ type: 'status' });
  const [selected, setSelected] = useState<string | null>(null);
  const [selectionLoaded, setSelectionLoaded] = useState(false);

  const loadSelection = () =>
    ask({ type: 'draft.load', key: SELECTED_GROUP_DRAFT })
      .then((saved) => {
        const id = selectedFromDraft(saved);
        if (id) setSelected(id);
      })
      .catch(() => {})
      .finally(() => setSelectionLoaded(true));

  useEffect(() => {
    void loadSelection();
  }, []);
  // The popup's "Open notes" for another group, while the panel is already open.
  useChanged((event) => {
    if (!event.groupId) void loadSelection();
  });

  const choose = (groupId: string) => {
    setSelected(groupId);
    void ask({ type: 'draft.save', key: SELECTED_GROUP_DRAFT, value: groupId }).catch(() => {});
  };

  const groups = status.data?.groups ?? [];
  const current = groups.find((g) => g.groupId === selected) ?? groups[0] ?? null;

  let body;
  if (status.loading || !selectionLoaded) body = <p class="muted" aria-busy="true">Loading…</p>;
  else if (status.error && !status.data) body = <ErrorNotice error={status.error} title="The notes could not be loaded" onRetry={() => void status.reload()} />;
  else if (!status.data?.identity)
    body = (
      <section class="notice">
        <h1>Welcome to Conclave</h1>
        <p>This device has no identity yet. Open the Conclave popup from the toolbar to set it up, then come back here for your notes.</p>
      </section>
    );
  else if (!current)
    body = (
      <section class="notice">
        <h1>No groups yet</h1>
        <p>Create a group or join one with an invite from the Conclave popup in the toolbar. Its notes will show here.</p>
      </section>
    );
  else
    body = (
      <>
        <GroupPicker groups={groups} current={current} onChoose={choose} />
        <GroupView key={current.groupId} summary={current} />
      </>
    );

  return (
    <main class="panel">
      <Announcer />
      {body}
    </main>
  );
}

function GroupPicker({ groups, current, onChoose }: { groups: GroupSummary[]; current: GroupSummary; onChoose: (groupId: string) => void }) {
  const id = useId();
  if (groups.length < 2) return null;
  return (
    <div class="field group-picker">
      <label for={id}>Group</label>
      <select id={id} value={current.groupId} onChange={(event) => onChoose((event.currentTarget as HTMLSelectElement).value)}>
        {groups.map((g) => (
          <option key={g.groupId} value={g.groupId}>
            {groupName(g)}
            {g.alarm ? ' — warning' : g.removed ? ' — removed' : g.unread ? ` — ${g.unread} new` : ''}
          </option>
        ))}
      </select>
    </div>
  );
}

/**
 * The group's summary as shown: from whichever answer came last. Both are read from this
 * device's own copy, but `status` answers without the network while `group.detail` syncs
 * first, so after a change (the key arrived) the status answer is usually the fresher
 * one — the notes list can be asked for then, not only once the detail's sync is done.
 */
function useFreshest(summary: GroupSummary, detail: GroupDetailView | undefined): GroupSummary {
  const order = useRef({ summary, detail, last: 'detail' as 'summary' | 'detail' });
  const seen = order.current;
  if (seen.summary !== summary) seen.last = 'summary';
  if (seen.detail !== detail) seen.last = 'detail';
  seen.summary = summary;
  seen.detail = detail;
  const last = seen.last;
  return useMemo(() => (!detail ? summary : last === 'summary' ? { ...detail, ...summary } : detail), [summary, detail, last]);
}

function GroupView({ summary }: { summary: GroupSummary }) {
  const groupId = summary.groupId;
  const detail = useAsk({ type: 'group.detail', groupId }, { groupId });
  const route = useDraft<Route>(`panel.route.${groupId}`, START_ROUTE, { delayMs: 100 });
  const group = useFreshest(summary, detail.data);
  const go: Go = (next) => route.set((previous) => ({ ...previous, ...next }));

  const members = detail.data?.members.filter((m) => !m.isRecovery).length;
  return (
    <>
      <header class="group-header">
        <h1>
          {groupName(group)}
        </h1>
        {group.role && !group.removed && <p class="muted">You are {group.role === 'admin' ? 'an admin' : 'a member'} of this group.</p>}
      </header>
      <GroupBanners group={group} />
      <KeyCare group={group} detail={detail.data} reload={detail.reload} showActions={route.ready && route.value.view === 'members'} />
      <nav class="panel-tabs" aria-label="Group sections">
        <button type="button" aria-current={route.value.view === 'notes' ? 'page' : undefined} onClick={() => go({ view: 'notes' })}>
          Notes
        </button>
        <button type="button" aria-current={route.value.view === 'members' ? 'page' : undefined} onClick={() => go({ view: 'members' })}>
          Members{members !== undefined ? ` (${members})` : ''}
          {detail.data && detail.data.pending > 0 && (
            <span class="badge">
              <span aria-hidden="true">◔</span> {detail.data.pending} waiting
            </span>
          )}
        </button>
      </nav>
      {detail.error && !detail.data && (isAlarmRefusal(detail.error, group) ? (
        <AlarmRefusal title="This group could not be loaded" onRetry={() => void detail.reload()} />
      ) : (
        <ErrorNotice error={detail.error} title="This group could not be loaded" onRetry={() => void detail.reload()} />
      ))}
      {!route.ready ? (
        <p class="muted">Loading…</p>
      ) : route.value.view === 'members' ? (
        <MembersView groupId={groupId as GroupId} detail={detail.data} reload={detail.reload} />
      ) : (
        <NotesView groupId={groupId as GroupId} group={group} route={route.value} go={go} />
      )}
    </>
  );
}
