/**
 * What the record page loads beside the record itself, once the record is shown: its sources
 * (identities, disagreements, settings, feed freshness, the address and neighbourhood) and the
 * care team. Each is its own audited request; a failure leaves the rest of the page as it is.
 * A break-glass expiry in an answer is passed on (`onBreakGlass`).
 */
import { useEffect, useState } from 'react';
import { careTeam, recordSources, type Answer } from '../api/record.ts';
import { describeFailure, deniedInPlainWords, isApiError, outcomeText } from '../api/errors.ts';
import type { IdentityState } from './IdentityPanel.tsx';
import type { CareTeamState } from './PatientBanner.tsx';

export interface RecordExtras {
  sources: IdentityState;
  /** The sources answer and when it arrived (for "4 min ago" by the server's clock); null if it failed. */
  feeds: { info: Extract<IdentityState, { kind: 'ok' }>['info']; receivedAt: number } | null | undefined;
  careTeam: CareTeamState;
}

function unavailable(e: unknown, what: string): string {
  if (isApiError(e) && e.status === 403) return `You cannot see ${what}: ${deniedInPlainWords(outcomeText(e.outcome) || e.message).text}`;
  return `${what.charAt(0).toUpperCase()}${what.slice(1)} could not be loaded. ${describeFailure(e)}`;
}

export function useRecordExtras(personId: string, onAnswer: (a: Answer<unknown>) => void): RecordExtras {
  const [sources, setSources] = useState<IdentityState>({ kind: 'loading' });
  const [feeds, setFeeds] = useState<RecordExtras['feeds']>(undefined);
  const [team, setTeam] = useState<CareTeamState>({ kind: 'loading' });
  useEffect(() => {
    const ac = new AbortController();
    setSources({ kind: 'loading' });
    setFeeds(undefined);
    setTeam({ kind: 'loading' });
    const quiet = (e: unknown) => ac.signal.aborted || (isApiError(e) && e.status === 401);
    // One after the other: the server answers them on one connection anyway, and the record came first.
    void (async () => {
      try {
        const a = await recordSources(personId, { signal: ac.signal });
        if (ac.signal.aborted) return;
        onAnswer(a);
        setSources({ kind: 'ok', info: a.body });
        setFeeds({ info: a.body, receivedAt: a.receivedAt });
      } catch (e) {
        if (quiet(e)) return;
        setSources({ kind: 'unavailable', message: unavailable(e, 'the source records') });
        setFeeds(null);
      }
      try {
        const t = await careTeam(personId, { signal: ac.signal });
        if (!ac.signal.aborted) setTeam({ kind: 'ok', members: t.body.members });
      } catch (e) {
        if (!quiet(e)) setTeam({ kind: 'unavailable', message: isApiError(e) && e.status === 403 ? 'Not shown to you' : 'Could not be loaded' });
      }
    })();
    return () => ac.abort();
    // onAnswer is read when an answer comes, not a reason to load again.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [personId]);
  return { sources, feeds, careTeam: team };
}
