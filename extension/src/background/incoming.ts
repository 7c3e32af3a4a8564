/**
 * Incoming peer channels, sorted by their first message: a device link's opening
 * (`isLinkOpening`: an existing device of this person dialling the new device that shows
 * a link code) goes to the link waiting here (device-link.ts); a key offer (`parseKeyOffer`:
 * a holder who just verified this device, with the key at hand) goes to the key wait
 * (key-wait.ts), which answers with the joiner's handshake; everything else is a key
 * handover's hello (holder.ts). The channel is taken over at once and what arrives before
 * its new owner listens is kept and replayed, so nothing is lost while the background
 * loads its keys.
 */
import type { KeyOffer, MessageChannel } from '@conclave/shared/p2p';
import { isLinkOpening, parseKeyOffer } from '@conclave/shared/p2p';

/** A channel whose messages are kept until a handler is attached, and the first message (or null if it closed first). */
export function peekFirst(channel: MessageChannel): { channel: MessageChannel; first: Promise<unknown> } {
  const early: unknown[] = [];
  let closedEarly = false;
  let onMessage: ((data: unknown) => void) | null = null;
  let onClose: (() => void) | null = null;
  let firstSeen: (value: unknown) => void = () => undefined;
  const first = new Promise<unknown>((resolve) => (firstSeen = resolve));
  channel.onMessage((data) => {
    firstSeen(data);
    if (onMessage) onMessage(data);
    else early.push(data);
  });
  channel.onClose(() => {
    firstSeen(null);
    if (onClose) onClose();
    else closedEarly = true;
  });
  return {
    first,
    channel: {
      send: (text) => channel.send(text),
      close: () => channel.close(),
      onMessage: (handler) => {
        onMessage = handler;
        for (const data of early.splice(0)) handler(data);
      },
      onClose: (handler) => {
        onClose = handler;
        if (closedEarly) handler();
      },
    },
  };
}

/**
 * Routes one incoming channel by its first message: `link` takes a device link's opening
 * (and returns false when no link is waiting: the channel is closed), `offered` a key
 * offer (the offer already read: the handshake starts after it), `serve` everything else.
 */
export async function routeIncoming(
  channel: MessageChannel,
  link: (channel: MessageChannel) => boolean,
  serve: (channel: MessageChannel) => Promise<unknown>,
  offered: (channel: MessageChannel, offer: KeyOffer) => Promise<unknown> = async (c) => c.close(),
): Promise<void> {
  const peeked = peekFirst(channel);
  const first = await peeked.first;
  if (first === null) return;
  if (isLinkOpening(first)) {
    if (!link(peeked.channel)) peeked.channel.close();
    return;
  }
  const offer = parseKeyOffer(first);
  if (offer) {
    await offered(afterFirst(peeked.channel), offer);
    return;
  }
  await serve(peeked.channel);
}

/** The channel without its first message (already read and acted on). */
function afterFirst(channel: MessageChannel): MessageChannel {
  let skipped = false;
  return {
    send: (text) => channel.send(text),
    close: () => channel.close(),
    onClose: (handler) => channel.onClose(handler),
    onMessage: (handler) =>
      channel.onMessage((data) => {
        if (!skipped) {
          skipped = true;
          return;
        }
        handler(data);
      }),
  };
}
