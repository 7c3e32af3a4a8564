/**
 * The words for "waiting for the group key" (DESIGN §6.3): every `KeyWaitState` as a
 * sentence naming the people involved, so a joiner always knows what is happening and
 * whether they need to do anything.
 */
import type { Handed } from '../../messages/answers.ts';
import type { KeySideView, KeyWaitView } from '../../messages/views.ts';
import { orList } from './format.ts';

export type Tone = 'wait' | 'ok' | 'alarm' | 'stopped';

export interface KeyWaitText {
  tone: Tone;
  /** One line: what is happening now. */
  title: string;
  /** More lines: who is online, what was tried, what to do. */
  details: string[];
}

type RefusalReason = string;

/** Why a member could not hand the key over, in words ("they have not verified you yet"). */
export function refusalWords(reason: RefusalReason, by: 'me' | 'peer' | 'channel'): string {
  switch (reason) {
    case 'not-verified':
      return 'they need to verify you first: compare safety numbers with them';
    case 'key-changed':
      return 'your device key looks different to them: verify each other again';
    case 'no-key':
      return 'they do not have the key either';
    case 'behind':
      return by === 'me' ? 'their copy of the group is out of date' : 'your copy of the group is out of date; it will catch up';
    case 'not-a-member':
      return 'they do not see you in the group yet; it will catch up';
    case 'removed':
      return 'one of you was removed from the group';
    case 'closed':
      return 'the connection dropped';
    case 'fork':
      return "their copy of the group's history contradicts yours";
    default:
      return 'the connection could not be set up safely';
  }
}

function nameOf(view: KeyWaitView, fingerprint: string | undefined): string {
  if (!fingerprint) return 'a member';
  const holder = view.holders.find((h) => h.fingerprint === fingerprint);
  return holder?.name ?? `a member (${fingerprint.slice(0, 8)}…)`;
}

function onlineLine(view: KeyWaitView): string | null {
  // Holders are devices: a person with two devices online is named once.
  const online = [...new Set(view.holders.filter((h) => h.online).map((h) => h.name))];
  if (view.holders.length === 0) return null;
  if (online.length === 0) return 'Nobody who can give you the key is online right now.';
  return `Online now: ${online.join(', ')}.`;
}

/**
 * The first line while the request waits: "come online" only when nobody who could hand
 * the key over was reached — a member who is online but refused is named for what they
 * must do ("…to verify you").
 */
function waitingTitle(view: KeyWaitView, state: Extract<KeyWaitView['state'], { phase: 'waiting' }>, everyone: string): string {
  if (state.why === 'peers-failed') {
    const verifiers = [...new Set(state.attempts.filter((a) => a.outcome.kind === 'refused' && a.outcome.reason === 'not-verified').map((a) => nameOf(view, a.peer)))];
    if (verifiers.length > 0) return `Waiting for ${orList(verifiers)} to verify you…`;
    if (view.holders.some((h) => h.online)) return everyone ? `Waiting for the key from ${everyone}…` : 'Waiting for the key from a member…';
  }
  return everyone ? `Waiting for ${everyone} to come online…` : 'Waiting for a member to come online…';
}

export function describeKeyWait(view: KeyWaitView): KeyWaitText {
  const state = view.state;
  // Holders are devices; each person is named once however many devices they have.
  const everyone = orList([...new Set(view.holders.map((h) => h.name))]);
  const online = onlineLine(view);
  switch (state.phase) {
    case 'looking':
      return {
        tone: 'wait',
        title: everyone ? `Looking for ${everyone} online…` : 'Looking for a member online who can give you the key…',
        details: online ? [online] : [],
      };
    case 'connecting':
      return { tone: 'wait', title: `Connecting to ${nameOf(view, state.peer)}…`, details: online ? [online] : [] };
    case 'waiting': {
      const details: string[] = [];
      if (state.why === 'peers-unreachable') details.push('Could not reach the connection server to find members online.');
      for (const attempt of state.attempts) {
        const outcome = attempt.outcome;
        if (outcome.kind !== 'refused') continue;
        // A peer's word that the histories differ is unsigned: it proves nothing, so it is reported as no more than it is.
        if (outcome.reason === 'fork' && outcome.by === 'peer') details.push(`Could not get the key from ${nameOf(view, attempt.peer)}.`);
        else details.push(`${nameOf(view, attempt.peer)} could not hand it over: ${refusalWords(outcome.reason, outcome.by)}.`);
      }
      if (online && state.why !== 'peers-unreachable') details.push(online);
      details.push("Asked the group's admins through the mailbox. You can close this window: the key arrives on its own.");
      return { tone: 'wait', title: waitingTitle(view, state, everyone), details };
    }
    case 'received':
      return {
        tone: 'ok',
        title: state.via === 'peer' ? `Key received from ${nameOf(view, state.from)}.` : 'Key received through the mailbox.',
        details: ['You can read and write notes in this group now.'],
      };
    case 'fork': {
      const who = nameOf(view, state.peer);
      return {
        tone: 'alarm',
        title: `Stopped: ${who}'s device signed a copy of the group's history that contradicts yours.`,
        details: [
          'Someone, perhaps the server, may be showing different members different histories.',
          `Do not trust this group until you have compared safety numbers with ${who} in person or on a call, and tell the group's admins.`,
          `This clears by itself when ${who}'s device connects again and shows the same history as yours.`,
        ],
      };
    }
    case 'stopped':
      return { tone: 'stopped', title: 'Stopped waiting for the key.', details: ['Ask an admin of the group to invite you again.'] };
  }
}

/**
 * What the key waits for between this device and the person on a verification tab
 * (views.ts `KeySideView`), and what a verification just did with it (`handed`): each
 * side is told whom it waits for and what happens next, so neither waits in silence —
 * and a device online whose live hand-over did not finish is never called offline.
 */
export function describeKeySide(side: KeySideView | null, handed: Handed, name: string): KeyWaitText | null {
  if (handed === 'live') {
    return { tone: 'ok', title: `The group key went to ${name}'s device just now, directly.`, details: ['They can read and write notes in this group now.'] };
  }
  if (handed === 'mailbox') {
    return {
      tone: 'ok',
      title: `The group key is on its way to ${name}.`,
      details: ['Their device is not online now: the key waits for it on the server, sealed so that only their device can open it.'],
    };
  }
  if (handed === 'unfinished-mailbox') {
    return {
      tone: 'ok',
      title: `The group key is on its way to ${name}.`,
      details: [
        `${name}'s device is online, but the direct hand-over did not finish (the connection timed out or dropped).`,
        'The key goes through the mailbox instead: it waits on the server, sealed so that only their device can open it, and their device picks it up on its own.',
      ],
    };
  }
  if (handed === 'unfinished') {
    return {
      tone: 'wait',
      title: `The group key has not reached ${name} yet.`,
      details: [
        `${name}'s device is online, but the direct hand-over did not finish (the connection timed out or dropped).`,
        'Try again: press “The numbers match” once more, with both devices online. Their device also asks again on its own while it waits, and gets the key from you then.',
      ],
    };
  }
  if (!side) return null;
  switch (side.kind) {
    case 'you-wait':
      return side.waitsFor === 'their-verification'
        ? {
            tone: 'wait',
            title: `Waiting for ${side.name} to verify you…`,
            details: [
              `The key comes from ${side.name}'s device as soon as they verify you: on their device they open Verify for you, compare this same safety number and press “The numbers match” (or scan your code).`,
              'You can close this page: the key arrives on its own.',
            ],
          }
        : {
            tone: 'wait',
            title: 'Waiting for the group key…',
            details: [
              side.policy === 'invite-trust'
                ? 'This group gives the key to everyone who joined with an invite: a member who holds it hands it over at once when you are both online, otherwise an admin does through the mailbox.'
                : 'A member who holds it hands it over once they have verified you: at once when you are both online, otherwise through the mailbox.',
            ],
          };
    case 'they-wait':
      return side.waitsFor === 'your-verification'
        ? { tone: 'wait', title: `${side.name} is waiting for the group key.`, details: [`When you verify ${side.name} here, the key goes to their device.`] }
        : {
            tone: 'wait',
            title: `${side.name} gets the group key when their device is online.`,
            details: ['You verified them: the key passes directly when you are both online, or waits for them in the mailbox.'],
          };
  }
}
