/**
 * Errors from Bevan's API: every failure answers with a FHIR OperationOutcome
 * (http/outcome.ts); the status says what the user can do (401 sign in again, 403 denied, …).
 */
import type { OperationOutcome } from '@medplum/fhirtypes';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly outcome: OperationOutcome | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

/** The words of an OperationOutcome's issues, joined. */
export function outcomeText(o: OperationOutcome | null | undefined): string {
  return (o?.issue ?? []).map((i) => i.diagnostics ?? i.details?.text ?? i.code).filter(Boolean).join('; ');
}

/** What went wrong, said to the user (not the raw status), for statuses other than 401 and 403. */
export function describeFailure(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 0) return 'The service could not be reached. Check your connection and try again.';
    if (e.status === 404) return 'No record was found.';
    if (e.status === 413 || e.status === 400) return e.message;
    if (e.status === 429) return 'Too many attempts: wait a minute and try again.';
    if (e.status >= 500) return 'Something went wrong on the server. Try again shortly; if it keeps happening, tell the service desk.';
    return e.message;
  }
  if (e instanceof DOMException && e.name === 'AbortError') return 'The request was cancelled.';
  return 'Something went wrong. Try again.';
}

/**
 * A denial in plain words, from the access decision's reason (access/policy.ts). The server's
 * own words stay available beside it (they name the rule).
 */
export function deniedInPlainWords(reason: string): { text: string; breakGlassPossible: boolean } {
  const r = reason.replace(/^access denied:\s*/i, '');
  if (/restricted/i.test(r)) return { text: 'This record is restricted (a sensitive or protected record). It is not shown to anyone through this service, even in an emergency.', breakGlassPossible: false };
  if (/may not break glass/i.test(r)) return { text: 'You do not have a care relationship with this person, and your role cannot use emergency access.', breakGlassPossible: false };
  if (/break-glass needs a reason of at least (\d+)/i.test(r)) return { text: `Emergency access needs a reason of at least ${/(\d+)/.exec(r)![1]} characters.`, breakGlassPossible: true };
  if (/no legitimate relationship/i.test(r)) {
    return {
      text: 'You do not have a care relationship with this person: they are not registered with your organisation, you are not on their care team, and your organisation has no open referral or recent contact with them.',
      breakGlassPossible: /break-glass[^;]*available/i.test(r),
    };
  }
  if (/only their own record/i.test(r)) return { text: 'You can see only your own record.', breakGlassPossible: false };
  if (/not yet linked to a person/i.test(r)) return { text: 'This item is not yet linked to a person, so nobody can be given access to it yet.', breakGlassPossible: false };
  if (/withheld by the access policy/i.test(r)) return { text: 'This item is withheld by the access policy.', breakGlassPossible: false };
  if (/secondary/i.test(r)) return { text: 'Records used for planning or research are exported, never read one person at a time.', breakGlassPossible: false };
  const sentence = r.charAt(0).toUpperCase() + r.slice(1);
  return { text: /[.!?]$/.test(sentence) ? sentence : `${sentence}.`, breakGlassPossible: /break-glass[^;]*available/i.test(r) };
}
