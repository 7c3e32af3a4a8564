/**
 * The safety number two devices share (DESIGN §3): 12 groups of 5 digits in a
 * monospace grid, identical on both sides. Each group is a list item whose accessible
 * name spells its digits ("1 2 3 4 5"), so a screen reader reads digit by digit and the
 * person can compare group by group with the list's arrow/item navigation. An optional
 * "Read the number aloud" button speaks it through the browser's speech synthesis.
 */
import { useEffect, useState } from 'preact/hooks';

/** "12345" → "1 2 3 4 5". */
export function spellDigits(group: string): string {
  return [...group.replace(/\s+/g, '')].join(' ');
}

/** The whole number as spoken: "group 1: 1 2 3 4 5. group 2: …". */
export function spokenSafetyNumber(groups: readonly string[]): string {
  return groups.map((group, i) => `group ${i + 1}: ${spellDigits(group)}.`).join(' ');
}

export interface SafetyNumberProps {
  /** 12 groups of 5 digits (`VerifyView.safetyNumber`). */
  groups: readonly string[];
  /** The list's accessible name; default "Safety number". */
  label?: string;
  /** Shows "Read the number aloud" where the browser can speak. */
  readAloud?: boolean;
}

export function SafetyNumber({ groups, label = 'Safety number', readAloud = false }: SafetyNumberProps) {
  const [speaking, setSpeaking] = useState(false);
  const canSpeak = readAloud && typeof window !== 'undefined' && 'speechSynthesis' in window;

  useEffect(() => () => {
    if (canSpeak) window.speechSynthesis.cancel();
  }, [canSpeak]);

  const toggleSpeech = () => {
    const synth = window.speechSynthesis;
    if (speaking) {
      synth.cancel();
      setSpeaking(false);
      return;
    }
    synth.cancel();
    const utterance = new SpeechSynthesisUtterance(spokenSafetyNumber(groups));
    utterance.rate = 0.8;
    utterance.onend = () => setSpeaking(false);
    utterance.onerror = () => setSpeaking(false);
    setSpeaking(true);
    synth.speak(utterance);
  };

  return (
    <div class="safety-number">
      <ol class="safety-number-grid" aria-label={label}>
        {groups.map((group, i) => (
          <li key={i} class="safety-number-group" aria-label={spellDigits(group)}>
            <span aria-hidden="true">{group}</span>
            <span class="visually-hidden">{spellDigits(group)}</span>
          </li>
        ))}
      </ol>
      {canSpeak && (
        <button type="button" class="quiet" aria-pressed={speaking} onClick={toggleSpeech}>
          {speaking ? 'Stop reading' : 'Read the number aloud'}
        </button>
      )}
    </div>
  );
}
