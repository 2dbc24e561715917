/** A failed request on the integration team's pages, in plain words: refused by the access policy, or something else went wrong. */
import { describeFailure, isApiError } from '../api/errors.ts';

/** True when the access policy refused the request (trying again will not help). */
export function isRefused(e: unknown): boolean {
  return isApiError(e) && e.status === 403;
}

export function problemText(e: unknown, what: string): string {
  if (isApiError(e) && e.status === 403) return `You cannot ${what}: ${e.message.replace(/^access denied:\s*/i, '')}.`.replace(/\.\.$/, '.');
  return describeFailure(e);
}

export function Problem({ title, message, retry }: { title: string; message: string; retry?: () => void }) {
  return (
    <div className="nhsuk-error-summary" role="alert" tabIndex={-1}>
      <h2 className="nhsuk-error-summary__title">{title}</h2>
      <div className="nhsuk-error-summary__body">
        <p>{message}</p>
        {retry && (
          <p>
            <button type="button" className="bevan-link-button" onClick={retry}>
              Try again
            </button>
          </p>
        )}
      </div>
    </div>
  );
}
