/**
 * "Export notes": every readable note of the group as a Markdown file, in one zip saved
 * on this computer (export-zip.ts: made in this page, nothing is sent anywhere). Says
 * what was saved, that the copy is not encrypted, and which notes were left out and why.
 */
import { useId, useState } from 'preact/hooks';
import type { GroupId } from '@conclave/shared/protocol';
import type { ExportView } from '../../messages/views.ts';
import { announce } from '../components/Announcer.tsx';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { useAction } from '../components/useAsk.ts';
import { exportZipName, saveFile, zipNotes } from './export-zip.ts';
import { notesWord } from './logic.ts';
import './history-export.css';

export interface ExportNotesProps {
  groupId: GroupId;
}

interface Saved {
  name: string;
  count: number;
  skipped: ExportView['skipped'];
}

export function ExportNotes({ groupId }: ExportNotesProps) {
  const action = useAction();
  const [saved, setSaved] = useState<Saved | null>(null);
  const headingId = useId();

  const onExport = async () => {
    setSaved(null);
    const answer = await action.run({ type: 'notes.export', groupId });
    if (!answer.ok) return;
    const { files, skipped, groupName } = answer.data;
    const name = exportZipName(groupName);
    if (files.length > 0) saveFile(zipNotes(files), name);
    setSaved({ name, count: files.length, skipped });
    announce(files.length > 0 ? `Saved ${notesWord(files.length)} in ${name}.` : 'There were no notes to save.');
  };

  return (
    <section class="export" aria-labelledby={headingId}>
      <h3 id={headingId}>Export</h3>
      <p class="hint">
        Saves every note of this group as a Markdown file, all in one zip, on this computer. The copy is not encrypted: anyone who opens the zip can read the
        notes.
      </p>
      <button type="button" onClick={() => void onExport()} disabled={action.pending} aria-busy={action.pending}>
        {action.pending ? 'Preparing the zip…' : 'Export notes (zip)'}
      </button>
      <ErrorNotice error={action.error} title="The notes were not exported" onDismiss={() => action.setError(null)} />
      {saved && (
        <div class="notice export-result">
          {saved.count > 0 ? (
            <p>
              Saved {notesWord(saved.count)} in <strong>{saved.name}</strong>, in your downloads folder (or where your browser asked you to save it). Keep it somewhere
              safe, or delete it when you no longer need it.
            </p>
          ) : (
            <p>There were no notes to save, so no file was made.</p>
          )}
          {saved.skipped.length > 0 && (
            <>
              <p>
                {saved.skipped.length === 1 ? 'One note was' : `${saved.skipped.length} notes were`} left out of the zip:
              </p>
              <ul>
                {saved.skipped.map((s) => (
                  <li key={s.noteId}>
                    {s.title ? `“${s.title}”` : 'A note without a readable title'}: {s.message} <strong>What to do: </strong>
                    {s.action}
                  </li>
                ))}
              </ul>
            </>
          )}
        </div>
      )}
    </section>
  );
}
