/** Sign in at `/`: Username, Password, Sign in. Errors in an error summary that takes focus. */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Button, ErrorSummary, TextInput } from 'nhsuk-react-components';
import * as session from '../api/session.ts';
import { isApiError, type ApiError } from '../api/errors.ts';
import type { SessionEnd } from '../api/session.ts';
import { usePageTitle } from '../components/usePageTitle.ts';

export function SignInPage({ ended }: { ended: SessionEnd | null }) {
  usePageTitle('Sign in');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ field: 'username' | 'password' | null; text: string } | null>(null);
  const summary = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (error) summary.current?.focus();
  }, [error]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!username.trim()) return setError({ field: 'username', text: 'Enter your username' });
    if (!password) return setError({ field: 'password', text: 'Enter your password' });
    setBusy(true);
    setError(null);
    try {
      await session.signIn(username.trim(), password);
      // App redirects to ?next= or the search page.
    } catch (err) {
      const e = err as ApiError;
      setError({
        field: null,
        text: isApiError(e) && e.status === 401 ? 'The username or password is not right' : isApiError(e) && e.status === 429 ? 'Too many attempts: wait a minute, then try again' : isApiError(e) && e.status === 0 ? 'The service could not be reached: check your connection' : `Sign-in failed: ${e.message}`,
      });
      setPassword('');
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="bevan-narrow">
      {ended && !error && (
        <div className="nhsuk-inset-text" role="status">
          <p>{ended === 'expired' ? 'Your session has ended. Sign in again to carry on.' : 'You have signed out.'}</p>
        </div>
      )}
      {error && (
        <ErrorSummary ref={summary} tabIndex={-1} aria-labelledby="signin-error-title">
          <ErrorSummary.Title id="signin-error-title">There is a problem</ErrorSummary.Title>
          <ErrorSummary.List>
            <ErrorSummary.ListItem href={error.field ? `#${error.field}` : '#username'}>{error.text}</ErrorSummary.ListItem>
          </ErrorSummary.List>
        </ErrorSummary>
      )}
      <h1 className="nhsuk-heading-l">Sign in</h1>
      <p className="nhsuk-body">Sign in with the username and password your organisation gave you.</p>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <TextInput id="username" name="username" label="Username" autoComplete="username" spellCheck={false} value={username} onChange={(e) => setUsername(e.currentTarget.value)} error={error?.field === 'username' ? error.text : undefined} width={20} />
        <TextInput id="password" name="password" type="password" label="Password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.currentTarget.value)} error={error?.field === 'password' ? error.text : undefined} width={20} />
        <Button type="submit" disabled={busy} aria-disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </Button>
      </form>
    </div>
  );
}
