/**
 * The recovery kit: a plain text file a group's creator keeps somewhere safe. It holds
 * the group's recovery code (DESIGN §6.4) and plain instructions for using it.
 */

export interface RecoveryKit {
  fileName: string;
  text: string;
}

/** A file name made of the group's name, safe on every file system. */
export function kitFileName(groupName: string): string {
  const slug = groupName
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .toLowerCase();
  return `conclave-recovery-${slug || 'group'}.txt`;
}

export function recoveryKit(groupName: string, code: string, createdAt: Date = new Date()): RecoveryKit {
  const text = [
    'CONCLAVE RECOVERY KIT',
    '=====================',
    '',
    `Group: ${groupName}`,
    `Created: ${createdAt.toISOString().slice(0, 10)}`,
    '',
    'Recovery code:',
    '',
    `    ${code}`,
    '',
    'What this is',
    '------------',
    'If every device in this group is lost, this code brings the group and its notes',
    'back. Anyone who has it can read and change the group, so keep it like a house key:',
    'print it or write it down, and keep it somewhere safe and private.',
    'Do not send it by e-mail or chat, and do not store it next to your password list',
    'on the same device.',
    '',
    'How to use it',
    '-------------',
    '1. Install Conclave on a new device and set it up.',
    '2. Open Conclave and choose "Restore a group with a recovery code".',
    '3. Type the code above (dashes and capital letters do not matter) and choose Restore.',
    '',
    'The server never sees this code and cannot recover the group for you.',
    '',
  ].join('\n');
  return { fileName: kitFileName(groupName), text };
}

/** Saves the kit through the browser's download (a Blob, no permission needed). */
export function downloadKit(kit: RecoveryKit): void {
  const url = URL.createObjectURL(new Blob([kit.text], { type: 'text/plain;charset=utf-8' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = kit.fileName;
  link.rel = 'noopener';
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
