/**
 * "Who has looked at this record", in plain words: the audit entries about the person
 * (`GET /audit/person/{id}`, `GET /audit/me`; access/audit-view.ts), newest first, grouped into
 * visits — the same user, role, organisation, purpose and decision, each request within
 * VISIT_GAP_MS of the last — so that opening a record (its Bundle, its sources, its care team)
 * reads as one look, not four. Pure.
 */
import type { RecordAccess } from '../api/record.ts';

export const VISIT_GAP_MS = 5 * 60_000;

export const ACTION_LABEL: Record<string, string> = {
  'record.everything': 'Opened the whole record',
  'record.read': 'Read the record',
  'record.sources': 'Looked at its sources and identity',
  'patient.read': "Read the person's details",
  'patient.vread': "Read a past version of the person's details",
  'patient.history-instance': "Read the history of the person's details",
  'patient.search': 'Found the person in a search',
  'resource.read': 'Read an item',
  'resource.vread': 'Read a past version of an item',
  'resource.history-instance': "Read an item's history",
  'break-glass.start': 'Broke glass (emergency access)',
  'care-team.list': 'Looked at the care team',
  'care-team.add': 'Added a care team member',
  'care-team.end': "Ended a care team member's place",
  'consent.list': 'Looked at consent',
  'consent.record': 'Recorded a consent decision',
  'consent.withdraw': 'Withdrew a consent decision',
  'audit.read': 'Looked at who has looked at the record',
  'quarantine.list': 'Listed a quarantined message about the person',
  'quarantine.read': 'Read a quarantined message about the person',
  'quarantine.replay': 'Replayed a quarantined message',
  'quarantine.discard': 'Discarded a quarantined message',
};

export const ROLE_LABEL: Record<string, string> = {
  gp: 'GP',
  'practice-nurse': 'Practice nurse',
  consultant: 'Consultant',
  'community-nurse': 'Community nurse',
  'mental-health': 'Mental health worker',
  'social-worker': 'Social worker',
  'care-coordinator': 'Care coordinator',
  analyst: 'Analyst',
  patient: 'Patient',
  integration: 'Integration team',
  admin: 'Administrator',
};

export const PURPOSE_LABEL: Record<string, string> = {
  'direct-care': 'Direct care',
  emergency: 'Emergency care',
  'patient-access': 'Own record',
  'secondary-use': 'Planning or research',
  administration: 'Administration',
};

export function actionLabel(action: string): string {
  return ACTION_LABEL[action] ?? action;
}

export interface Visit {
  key: string;
  who: string;
  role: string | null;
  organisation: string | null;
  purpose: string | null;
  /** permit | deny | null (nobody found) */
  decision: string | null;
  /** The newest and oldest entry's time. */
  last: string;
  first: string;
  /** What was done, each once, in the order first done. */
  actions: string[];
  breakGlass: boolean;
  entries: number;
}

/** Entries as visits, newest first. The entries are put in time order first (the audit log lists each of its chains by id). */
export function groupVisits(entries: readonly RecordAccess[], gapMs = VISIT_GAP_MS): Visit[] {
  const out: Visit[] = [];
  const ordered = entries.map((e, i) => ({ e, i, t: Date.parse(e.at) })).sort((a, b) => b.t - a.t || a.i - b.i);
  for (const { e } of ordered) {
    const prev = out.at(-1);
    const same = prev && prev.who === e.who && prev.role === e.role && prev.organisation === e.organisation && prev.purpose === e.purpose && prev.decision === e.decision && Date.parse(prev.first) - Date.parse(e.at) <= gapMs;
    if (same) {
      prev.first = e.at;
      prev.entries++;
      // Entries arrive newest first: an earlier action goes before those already seen.
      if (!prev.actions.includes(e.action)) prev.actions.unshift(e.action);
      prev.breakGlass ||= e.action === 'break-glass.start';
    } else {
      out.push({ key: `${e.at}|${e.who}|${out.length}`, who: e.who, role: e.role, organisation: e.organisation, purpose: e.purpose, decision: e.decision, last: e.at, first: e.at, actions: [e.action], breakGlass: e.action === 'break-glass.start', entries: 1 });
    }
  }
  return out;
}

/** "Opened the whole record; looked at its sources and identity", with "(refused)" for a denial. */
export function describeVisit(v: Visit): string {
  const words = v.actions.map(actionLabel);
  const text = words.map((w, i) => (i ? w.charAt(0).toLowerCase() + w.slice(1) : w)).join('; ');
  return v.decision === 'deny' ? `Tried: ${text.charAt(0).toLowerCase()}${text.slice(1)} (refused)` : text;
}
