/** The views the background sends, filled in with plain defaults, so a test names only the fields it is about. */
import type { GroupDetailView, GroupSummary, MemberView, StatusView } from '../../../src/messages/views.ts';

/** Ana, a verified member on one device, offline, not this person. */
export function memberView(fields: Partial<MemberView> = {}): MemberView {
  return { fingerprint: 'A'.repeat(52) as never, short: 'AAAABBBBCCCCDDDD', name: 'Ana', role: 'member', trust: 'verified', online: false, isMe: false, isRecovery: false, waitingForKey: false, devices: 1, ...fields };
}

/** Group "Harbour" (g1) as this person's admin sees it in the list: the key held, nothing waiting. */
export function groupSummary(fields: Partial<GroupSummary> = {}): GroupSummary {
  return { groupId: 'g1' as never, name: 'Harbour', role: 'admin', hasKey: true, unread: 0, pending: 0, alarm: null, recoveryUnconfirmed: false, keyWait: null, removed: false, recoveryUsed: null, ...fields };
}

/** The same group opened: verified people only, nobody in it unless given, the key healthy at generation 0. */
export function groupDetail(fields: Partial<GroupDetailView> = {}): GroupDetailView {
  return { ...groupSummary(), policy: 'verified', members: [], departed: [], generation: 0, keyHealth: { owedRotation: null, faults: [], canRepair: false }, ...fields };
}

/** The popup's status before anyone made an identity: no groups, the local servers. */
export function emptyStatus(): StatusView {
  return { identity: null, groups: [], settings: { apiUrl: 'http://127.0.0.1:8787', signalingUrl: 'http://127.0.0.1:9000', iceServers: [] } };
}
