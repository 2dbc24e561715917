/**
 * The risk list's client and its pure pieces: `GET /analytics/risk/cohort` (the latest scoring's
 * high-risk people, identified for a GP's own practice, pseudonymised for an analyst) and
 * `GET /analytics/risk/model`. The server decides and audits every call; this module only asks,
 * and turns the answer into what the page shows (tier labels, a tier history in words).
 */
import { apiJson, type RequestOptions } from '../api/integration.ts';

export const TIERS = ['0.5', '1', '5', '20'] as const;
export type Tier = (typeof TIERS)[number];

export interface RiskFactor {
  name: string;
  label: string;
  value: number;
  contribution: number;
  oddsRatio: number;
}

export interface TierHistoryPoint {
  indexDate: string;
  scoredAt: string;
  modelVersion: number;
  probability: number;
  tier: Tier | null;
}

export interface RiskPerson {
  personId?: string;
  nhsNumber?: string | null;
  name?: string | null;
  birthDate?: string | null;
  age?: number;
  sex?: string | null;
  record?: string;
  pseudonym?: string;
  ageBand?: string;
  practice: string | null;
  neighbourhood: string | null;
  probability: number;
  tier: Tier | null;
  populationRank: number;
  efi: number;
  efiBand: 'fit' | 'mild' | 'moderate' | 'severe';
  factors: RiskFactor[];
  history: TierHistoryPoint[];
}

export interface RiskCohort {
  view: 'identified' | 'pseudonymised';
  practice: string | null;
  neighbourhood: string | null;
  tier: Tier;
  run: { runId: number; indexDate: string; scoredAt: string; modelVersion: number; people: number } | null;
  withheld: { restricted: number; optedOut: number; dissent: number };
  people: RiskPerson[];
}

export interface RiskModelSummary {
  version: number;
  fittedAt: string;
  validationIndexDate: string;
  validationPeople: number;
  metrics: { cStatistic: number; ppv: Record<string, number>; sensitivity: Record<string, number> };
}

export interface RiskQuery {
  practice?: string | null;
  neighbourhood?: string | null;
  tier: Tier;
}

export function riskQueryString(q: RiskQuery): string {
  const p = new URLSearchParams();
  if (q.practice) p.set('practice', q.practice);
  if (q.neighbourhood) p.set('neighbourhood', q.neighbourhood);
  p.set('tier', q.tier);
  return p.toString();
}

/** Reads the page's query (?practice=&neighbourhood=&tier=): an unknown tier falls back to the top 5 %. */
export function parseRiskQuery(params: URLSearchParams): RiskQuery {
  const tier = params.get('tier') ?? '5';
  const code = (v: string | null) => (v && /^[A-Za-z0-9_-]{1,40}$/.test(v) ? v : null);
  return { practice: code(params.get('practice'))?.toUpperCase() ?? null, neighbourhood: code(params.get('neighbourhood')), tier: (TIERS as readonly string[]).includes(tier) ? (tier as Tier) : '5' };
}

export const getRiskCohort = (q: RiskQuery, o: RequestOptions = {}) => apiJson<RiskCohort>('GET', `/analytics/risk/cohort?${riskQueryString(q)}`, undefined, o);
export const getRiskModel = (o: RequestOptions = {}) => apiJson<RiskModelSummary>('GET', '/analytics/risk/model', undefined, o);

export function tierLabel(t: Tier | null): string {
  return t ? `Top ${t}%` : 'Below top 20%';
}

export function percent(p: number): string {
  return `${(100 * p).toFixed(p < 0.1 ? 1 : 0)}%`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
export function monthYear(iso: string): string {
  return `${MONTHS[Number(iso.slice(5, 7)) - 1]} ${iso.slice(0, 4)}`;
}

/** The tier history in words, oldest first: "Jul 2025 top 5%, Jan 2026 top 1% (up)". */
export function historyText(h: readonly TierHistoryPoint[]): string {
  if (!h.length) return 'No earlier scores';
  const rank = (t: Tier | null) => (t ? TIERS.indexOf(t) : TIERS.length);
  const parts = h.map((x) => `${monthYear(x.indexDate)} ${x.tier ? `top ${x.tier}%` : 'below top 20%'}`);
  const last = h[h.length - 1]!;
  const before = h.length > 1 ? h[h.length - 2]! : null;
  const trend = before ? (rank(last.tier) < rank(before.tier) ? ' (risen)' : rank(last.tier) > rank(before.tier) ? ' (fallen)' : ' (same tier)') : '';
  return parts.join(', ') + trend;
}

export const EFI_BAND_LABEL: Record<RiskPerson['efiBand'], string> = { fit: 'Fit', mild: 'Mild frailty', moderate: 'Moderate frailty', severe: 'Severe frailty' };

/** Points of a small line chart of the probabilities over time, in a w × h box (y grows down). */
export function sparkPoints(h: readonly TierHistoryPoint[], w: number, hgt: number): string {
  if (!h.length) return '';
  const max = Math.max(...h.map((x) => x.probability), 0.01);
  return h.map((x, i) => `${h.length === 1 ? w / 2 : (i * w) / (h.length - 1)},${(hgt - (x.probability / max) * (hgt - 2) - 1).toFixed(1)}`).join(' ');
}
