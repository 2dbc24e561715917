/**
 * A typed client for the dashboards (docs/analytics/dashboards.md): a clinical panel's registers,
 * measures and aims, one measure's SPC chart, commissioners' use and cost, and a register's people
 * (the drill-down). Every figure is decided and disclosure-controlled by the server; this module
 * only asks (apiJson: the session's headers, OperationOutcome errors).
 */
import { apiJson, type RequestOptions } from '../api/integration.ts';
// The freshness and place shapes are the server's own (type-only: nothing of the server is bundled).
import type { FigureFreshness, Freshness, Place, SourceFresh } from '../../../analytics/dashboards/service.ts';

/** null: suppressed (fewer than 8 people behind it) under disclosure control. */
export type Controlled = number | null;

export type { FigureFreshness, Freshness, Place, SourceFresh };

export type Signal = 'improvement' | 'concern' | 'neutral';

export interface ChartPoint {
  label: string;
  value: number;
  rules: string[];
  signal: Signal;
  outsideTolerance: boolean;
}

export interface Measure {
  id: string;
  title: string;
  panel: string;
  unit: string;
  polarity: 'higher-is-better' | 'lower-is-better' | 'neither';
  tolerance?: { lower?: number; upper?: number };
  aim?: { target: number; by: string; statement: string };
}

export interface AimMonth {
  month: string;
  value: number | null;
  trajectory: number | null;
  status: 'met' | 'on-track' | 'behind' | 'no-data';
}

export interface AimProgress {
  target: number;
  by: string;
  statement: string;
  baseline: { month: string; value: number | null } | null;
  latest: { month: string; value: number | null } | null;
  status: 'achieved' | 'on-track' | 'off-track' | 'missed' | 'no-data';
  progress: number | null;
  months: AimMonth[];
}

export interface MeasureView {
  measure: Measure;
  place: Place;
  disclosureControl: boolean;
  points: { month: string; value: Controlled; numerator: Controlled; denominator: Controlled }[];
  chart: {
    mean: number;
    upperProcessLimit: number;
    lowerProcessLimit: number;
    assurance: string;
    points: ChartPoint[];
  } | null;
  aim: AimProgress | null;
  freshness: FigureFreshness;
}

export interface RegisterView {
  name: string;
  title: string;
  description: string | null;
  count: Controlled;
  trend: { month: string; count: Controlled }[];
  drillDown: string;
}

export interface PanelDashboard {
  panel: string;
  title: string;
  place: Place;
  disclosureControl: boolean;
  registers: RegisterView[];
  measures: MeasureView[];
  freshness: Freshness;
}

export type Grouping = 'locality' | 'practice' | 'neighbourhood' | 'setting' | 'cohort';

export interface UseRow {
  month: string;
  key: string;
  name: string;
  people: Controlled;
  costGbp: Controlled;
  activity: Record<string, Controlled>;
  drillDown: string | null;
  freshness: FigureFreshness;
}

export interface CommissioningDashboard {
  by: Grouping;
  from: string;
  to: string;
  months: string[];
  rows: UseRow[];
  shift: { month: string; hospital: Controlled; outOfHospital: Controlled; outOfHospitalShare: number | null }[];
  freshness: Freshness;
}

export interface CohortMembers {
  name: string;
  title: string;
  view: 'identified' | 'pseudonymised';
  count: Controlled;
  disclosureControl: boolean;
  practice: string | null;
  members?: { personId?: string; nhsNumber?: string | null; name?: string | null; birthDate?: string | null; pseudonym?: string; practice: string | null }[];
}

export interface PlaceQuery {
  practice?: string;
  neighbourhood?: string;
}

const query = (q: Record<string, string | undefined>) => {
  const p = new URLSearchParams(Object.entries(q).filter((e): e is [string, string] => !!e[1]));
  const s = p.toString();
  return s ? `?${s}` : '';
};

export const getPanels = (o?: RequestOptions) => apiJson<{ panels: { panel: string; title: string }[] }>('GET', '/analytics/dashboard/panels', undefined, o);
export const getPanel = (panel: string, place: PlaceQuery, o?: RequestOptions) =>
  apiJson<PanelDashboard>('GET', `/analytics/dashboard/panel/${encodeURIComponent(panel)}${query({ ...place })}`, undefined, o);
export const getCommissioning = (q: { by: Grouping; from?: string; to?: string }, o?: RequestOptions) =>
  apiJson<CommissioningDashboard>('GET', `/analytics/commissioning${query(q)}`, undefined, o);
export const getCohortMembers = (name: string, o?: RequestOptions) => apiJson<CohortMembers>('GET', `/analytics/cohorts/${encodeURIComponent(name)}?output=list`, undefined, o);
