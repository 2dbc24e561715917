/**
 * The application shell: header (service name, who is signed in, Sign out), the session
 * expiry notice, and the routes. Real URLs: `/` sign in, `/search?q=…` find a person,
 * `/person/{Patient id}` a record (shareable with a colleague who has access: without a session
 * it asks them to sign in, then opens it). Pages other than sign-in load on demand.
 */
import { lazy, Suspense, useEffect, useState } from 'react';
import { Link, Navigate, Route, Routes, useLocation, useNavigate } from 'react-router';
import * as session from './api/session.ts';
import { ExpiryNotice } from './components/ExpiryNotice.tsx';
import { Loading } from './components/Loading.tsx';
import { SignInPage } from './pages/SignInPage.tsx';
import { analyticsNav, COHORT_PATH, COMMISSIONING_PATH, PANELS_PATH } from './analytics/dashboards.ts';
import { currentEntry, FEEDS_PATH, homeFor, integrationNav, mayFindPeople, MPI_REVIEW_PATH, QUARANTINE_PATH } from './integration/nav.ts';
import { maySeeRiskList, RISK_PATH } from './analytics/nav.ts';

const SearchPage = lazy(() => import('./pages/SearchPage.tsx'));
const PersonPage = lazy(() => import('./pages/PersonPage.tsx'));
const NotFoundPage = lazy(() => import('./pages/NotFoundPage.tsx'));
// The integration team's screens (web/src/integration/), for the roles nav.ts names.
const FeedsPage = lazy(() => import('./integration/FeedsPage.tsx'));
const QuarantinePage = lazy(() => import('./integration/QuarantinePage.tsx'));
const QuarantineItemPage = lazy(() => import('./integration/QuarantineItemPage.tsx'));
const MpiReviewPage = lazy(() => import('./integration/MpiReviewPage.tsx'));
const MpiPairPage = lazy(() => import('./integration/MpiPairPage.tsx'));
const MyAuditPage = lazy(() => import('./pages/MyAuditPage.tsx'));
// The risk of emergency admission list (web/src/analytics/), for the roles with a risk rule.
const RiskPage = lazy(() => import('./analytics/RiskPage.tsx'));
// The dashboards (web/src/analytics/): clinical panels, commissioning, a register's people.
const PanelDashboardPage = lazy(() => import('./analytics/PanelDashboardPage.tsx'));
const CommissionerPage = lazy(() => import('./analytics/CommissionerPage.tsx'));
const CohortPage = lazy(() => import('./analytics/CohortPage.tsx'));

export function useSession(): session.Session | null {
  const [s, setS] = useState(session.current());
  useEffect(() => session.onChange((next) => setS(next)), []);
  return s;
}

export function App() {
  const s = useSession();
  // A browser session the cookie still holds (after a reload) is looked for once, before any route decides.
  const [ready, setReady] = useState(false);
  useEffect(() => {
    void session.restore().finally(() => setReady(true));
  }, []);
  const navigate = useNavigate();
  const location = useLocation();
  const [ended, setEnded] = useState<session.SessionEnd | null>(null);

  useEffect(
    () =>
      session.onChange((next, why) => {
        if (next || !why) return;
        setEnded(why);
        // Back to sign-in; an expired session comes back to the page it was on.
        const here = `${window.location.pathname}${window.location.search}`;
        navigate(why === 'expired' && here !== '/' ? `/?next=${encodeURIComponent(here)}` : '/', { replace: true });
      }),
    [navigate],
  );
  useEffect(() => {
    if (s) setEnded(null);
  }, [s]);

  return (
    <>
      <a className="nhsuk-skip-link" href="#maincontent">
        Skip to main content
      </a>
      <header className="bevan-header" role="banner">
        <div className="bevan-header__inner">
          <Link className="bevan-header__service" to={s ? (s.role === 'patient' ? '/my-audit' : homeFor(s.role)) : '/'}>
            Bevan <span className="bevan-header__descriptor">integrated care record</span>
          </Link>
          {s && (
            <nav className="bevan-header__nav" aria-label="Main">
              {mayFindPeople(s.role) && (
                <Link to="/search" aria-current={location.pathname === '/search' ? 'page' : undefined}>
                  Find a person
                </Link>
              )}
              {analyticsNav(s.role).map((e) => (
                <Link key={e.to} to={e.to} aria-current={currentEntry(analyticsNav(s.role), location.pathname) === e.to ? 'page' : undefined}>
                  {e.label}
                </Link>
              ))}
              {integrationNav(s.role).map((e) => (
                <Link key={e.to} to={e.to} aria-current={currentEntry(integrationNav(s.role), location.pathname) === e.to ? 'page' : undefined}>
                  {e.label}
                </Link>
              ))}
              {maySeeRiskList(s.role) && (
                <Link to={RISK_PATH} aria-current={location.pathname === RISK_PATH ? 'page' : undefined}>
                  Risk list
                </Link>
              )}
              {s.role === 'patient' && (
                <Link to="/my-audit" aria-current={location.pathname === '/my-audit' ? 'page' : undefined}>
                  Who has looked at my record
                </Link>
              )}
            </nav>
          )}
          {s && (
            <div className="bevan-header__account">
              <span className="bevan-header__user">
                {s.user}
                <span className="bevan-header__role">
                  {' '}
                  ({s.role}
                  {s.organisation ? `, ${s.organisation}` : ''})
                </span>
              </span>
              <button type="button" className="bevan-header__signout" onClick={() => void session.signOut()}>
                Sign out
              </button>
            </div>
          )}
        </div>
      </header>
      {s && <ExpiryNotice session={s} />}
      <main className="bevan-main" id="maincontent" tabIndex={-1}>
        <Suspense fallback={<Loading what="the page" />}>
          {!ready ? (
            <Loading what="your session" />
          ) : (
          <Routes>
            <Route path="/" element={s ? <Navigate to={nextFrom(location.search) ?? (s.role === 'patient' ? '/my-audit' : homeFor(s.role))} replace /> : <SignInPage ended={ended} />} />
            <Route path="/search" element={<RequireSession>{<SearchPage />}</RequireSession>} />
            <Route path="/person/:id" element={<RequireSession>{<PersonPage />}</RequireSession>} />
            <Route path={FEEDS_PATH} element={<RequireSession>{<FeedsPage />}</RequireSession>} />
            <Route path={QUARANTINE_PATH} element={<RequireSession>{<QuarantinePage />}</RequireSession>} />
            <Route path={`${QUARANTINE_PATH}/:id`} element={<RequireSession>{<QuarantineItemPage />}</RequireSession>} />
            <Route path={MPI_REVIEW_PATH} element={<RequireSession>{<MpiReviewPage />}</RequireSession>} />
            <Route path={`${MPI_REVIEW_PATH}/:id`} element={<RequireSession>{<MpiPairPage />}</RequireSession>} />
            <Route path={RISK_PATH} element={<RequireSession>{<RiskPage />}</RequireSession>} />
            <Route path={PANELS_PATH} element={<Navigate to={`${PANELS_PATH}/diabetes`} replace />} />
            <Route path={`${PANELS_PATH}/:panel`} element={<RequireSession>{<PanelDashboardPage />}</RequireSession>} />
            <Route path={COMMISSIONING_PATH} element={<RequireSession>{<CommissionerPage />}</RequireSession>} />
            <Route path={`${COHORT_PATH}/:name`} element={<RequireSession>{<CohortPage />}</RequireSession>} />
            <Route path="/my-audit" element={<RequireSession>{<MyAuditPage />}</RequireSession>} />
            <Route path="*" element={<NotFoundPage />} />
          </Routes>
          )}
        </Suspense>
      </main>
      <footer className="bevan-footer">
        <p>Bevan is open-source software for integrated care. Every look at a record is audited.</p>
      </footer>
    </>
  );
}

/** Where sign-in should go next: a path on this site only. */
export function nextFrom(search: string): string | null {
  const next = new URLSearchParams(search).get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? next : null;
}

function RequireSession({ children }: { children: React.ReactNode }) {
  const s = useSession();
  const location = useLocation();
  if (!s) return <Navigate to={`/?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  return <>{children}</>;
}
