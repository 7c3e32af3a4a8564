/** Which popup screen is showing; kept as a draft so reopening the popup returns to it. */
import type { GroupId } from '@conclave/shared/protocol';

export type Route =
  | { screen: 'home' }
  | { screen: 'create' }
  | { screen: 'invite'; groupId: GroupId }
  | { screen: 'join' }
  | { screen: 'restore' }
  | { screen: 'replace-recovery'; groupId: GroupId };

export const HOME: Route = { screen: 'home' };

/** A saved route, or null when it is not one this version knows. */
export function restoreRoute(saved: unknown): Route | null {
  if (typeof saved !== 'object' || saved === null) return null;
  const { screen, groupId } = saved as { screen?: unknown; groupId?: unknown };
  if (screen === 'home' || screen === 'create' || screen === 'join' || screen === 'restore') return { screen };
  if ((screen === 'invite' || screen === 'replace-recovery') && typeof groupId === 'string') return { screen, groupId: groupId as GroupId };
  return null;
}
