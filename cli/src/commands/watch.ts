/**
 * `conclave notes watch <group>`: prints each note another member (or this device)
 * writes, edits or deletes, as it happens — the live event stream tells it when to
 * look; what it prints comes from the SDK's verified `changedNotes`. Runs until Ctrl-C,
 * `--for <seconds>`, or this device leaving the group. The state directory's lock is
 * taken per look, so other commands run beside it.
 */
import type { OpenedNote } from '@conclave/shared/client';
import type { GroupState } from '@conclave/shared/crypto';
import type { GroupId, LiveEvent } from '@conclave/shared/protocol';
import type { Device } from '../device.ts';
import { explain } from '../errors.ts';
import { coalescing, openEvents, runUntilStopped, secondsOption } from '../live-events.ts';
import { learnNamesFrom } from '../names.ts';
import { iso, oneLine, safeJson } from '../output.ts';
import { nameOfDevice, personOf, whoseDevice } from '../people.ts';
import { resolveGroup } from '../resolve.ts';

function line(device: Device, state: GroupState, note: OpenedNote): string {
  const by = whoseDevice(device, state, note.author);
  const what = note.deleted ? 'deleted' : note.version === 1 ? 'new' : `edited (version ${note.version})`;
  return `${iso(note.at)}  ${what}  “${oneLine(note.title)}”  by ${by}  [${note.noteId}]`;
}

export async function watch(device: Device, ref: string, options: { for?: string; json?: boolean }): Promise<void> {
  const seconds = secondsOption(options.for);
  const client = await device.client();
  const groupId: GroupId = await device.locked(() => resolveGroup(device, ref));
  // Only what changes from now on: the current cursor is the starting point.
  let cursor = await device.locked(async () => {
    const now = await client.changedNotes(groupId, 0);
    await learnNamesFrom(device, groupId, now);
    return now.cursor;
  });
  const run = runUntilStopped(seconds);
  const look = async () => {
    const changes = await device.locked(async () => {
      const found = await client.changedNotes(groupId, cursor);
      await learnNamesFrom(device, groupId, found);
      return found;
    });
    cursor = changes.cursor;
    for (const note of changes.opened) {
      if (changes.meta.has(note.noteId)) continue;
      if (options.json) device.ctx.io.out(`${safeJson({ noteId: note.noteId, version: note.version, title: note.title, deleted: note.deleted, author: note.author, authorPerson: personOf(changes.state, note.author), authorName: nameOfDevice(device, changes.state, note.author) ?? null, at: note.at }, 0)}\n`);
      else device.ctx.io.out(`${line(device, changes.state, note)}\n`);
    }
    for (const failed of changes.failed) device.progress(`A note (${failed.noteId}) could not be opened: ${failed.message}`);
  };
  // One look at a time; events during a look make one more.
  const schedule = coalescing(look, (error) => device.progress(`Could not read the changes: ${explain(error).message}`));
  const stopRemoved = () => {
    device.progress('This device is no longer a member of the group: nothing more will come.');
    run.stop();
  };

  const onEvent = (event: LiveEvent) => {
    if (event.type === 'removed' && event.groupId === groupId) stopRemoved();
    // Removed while the connection was down: the heads no longer list the group.
    else if (event.type === 'heads' && !event.groups.some((g) => g.groupId === groupId)) stopRemoved();
    else if (event.type === 'heads' || ((event.type === 'note' || event.type === 'log' || event.type === 'box') && event.groupId === groupId)) void schedule(undefined);
  };
  const stream = await openEvents(client, onEvent, (status) => {
    if (status === 'closed') device.progress('The connection to the storage API dropped: reconnecting…');
  });
  device.progress(`Watching for changes${seconds ? ` for ${seconds} s` : ' (Ctrl-C to stop)'}.`);
  try {
    await run.done;
  } finally {
    await stream.close();
    await schedule(undefined);
  }
}
