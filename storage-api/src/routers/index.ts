/** The whole API. Clients import the type only: `import type { AppRouter } from '…/storage-api/src/routers/index.ts'`. */
import { router } from '../trpc/init.ts';
import { authRouter } from './auth.ts';
import { boxesRouter } from './boxes.ts';
import { eventsRouter } from './events.ts';
import { groupsRouter } from './groups.ts';
import { identitiesRouter } from './identities.ts';
import { invitesRouter } from './invites.ts';
import { linksRouter } from './links.ts';
import { mailboxRouter } from './mailbox.ts';
import { metaRouter } from './meta.ts';
import { notesRouter } from './notes.ts';
import { peopleRouter } from './people.ts';

export const appRouter = router({
  meta: metaRouter,
  auth: authRouter,
  identities: identitiesRouter,
  people: peopleRouter,
  links: linksRouter,
  groups: groupsRouter,
  invites: invitesRouter,
  mailbox: mailboxRouter,
  boxes: boxesRouter,
  notes: notesRouter,
  events: eventsRouter,
});

export type AppRouter = typeof appRouter;
