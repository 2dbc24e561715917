/**
 * Which of the integration team's screens a role sees in the navigation, and where a role lands
 * after signing in. The server decides every request (access/policy.ts: `quarantine` and
 * `mpiReview` for the integration team, `feeds` for it and administrators, `search` for the
 * direct-care roles); this mirrors the shipped policy so nobody is offered a page that would only
 * say no. Pure.
 */

import { analyticsNav } from '../analytics/dashboards.ts';

export interface NavEntry {
  to: string;
  label: string;
}

export const FEEDS_PATH = '/integration/feeds';
export const QUARANTINE_PATH = '/integration/quarantine';
export const MPI_REVIEW_PATH = '/integration/mpi-review';

const SCREENS: Record<string, NavEntry[]> = {
  integration: [
    { to: FEEDS_PATH, label: 'Feeds' },
    { to: QUARANTINE_PATH, label: 'Quarantine' },
    { to: MPI_REVIEW_PATH, label: 'MPI review' },
  ],
  admin: [{ to: FEEDS_PATH, label: 'Feeds' }],
};

/** Roles the shipped policy lets search for people (`search: false` for the rest). */
const NO_SEARCH = new Set(['integration', 'admin', 'analyst', 'patient']);

export function integrationNav(role: string): NavEntry[] {
  return SCREENS[role] ?? [];
}

export function mayFindPeople(role: string): boolean {
  return !NO_SEARCH.has(role);
}

/** Where sign-in goes when no page was asked for: the first screen the role may use. */
export function homeFor(role: string): string {
  if (mayFindPeople(role)) return '/search';
  return integrationNav(role)[0]?.to ?? analyticsNav(role)[0]?.to ?? '/search';
}

/** The navigation entry a path belongs to (for aria-current), by prefix. */
export function currentEntry(entries: readonly NavEntry[], pathname: string): string | null {
  return entries.find((e) => pathname === e.to || pathname.startsWith(`${e.to}/`))?.to ?? null;
}
