/**
 * Organisations and source systems by name, not code: GP practices from the locality file (table
 * `practice`), the locality's reference data (reference/organisations.csv), then names a feed
 * sent in its own Organization resources (reference data, no person). Pure.
 */
import type { PracticeRow } from './rows.ts';
import type { OrganisationKind, ReferenceData } from './reference/reference-data.ts';

export interface Organisation {
  odsCode: string;
  name: string;
  kind: OrganisationKind;
  /** Where the name comes from: the locality's practice list, its reference data, or a feed's Organization resource. */
  origin: 'practice' | 'reference' | 'feed';
}

export const COMMUNITY = 'csv:community';
export const SOCIAL_CARE = 'csv:socialcare';
export const MENTAL_HEALTH_COMMUNITY = 'csv:mentalhealth';

/** The names of the organisations one record mentions. */
export class OrganisationDirectory {
  private readonly practices = new Map<string, PracticeRow>();
  private readonly fed = new Map<string, PracticeRow>();

  constructor(
    private readonly reference: ReferenceData,
    rows: readonly PracticeRow[],
  ) {
    for (const r of rows) {
      const code = r.ods_code.toUpperCase();
      if (r.origin === 'feed') {
        if (!this.fed.has(code)) this.fed.set(code, r);
      } else this.practices.set(code, r);
    }
  }

  /** The GP practice row of the locality file, if it lists the code. */
  practice(odsCode: string): PracticeRow | undefined {
    return this.practices.get(odsCode.toUpperCase());
  }

  /** An organisation by ODS code: the locality's practice list, then its reference data, then a feed's Organization. */
  get(odsCode: string | null | undefined): Organisation | undefined {
    if (!odsCode) return undefined;
    const code = odsCode.toUpperCase();
    const p = this.practices.get(code);
    if (p) return { odsCode: code, name: p.name, kind: 'gp-practice', origin: 'practice' };
    const r = this.reference.organisations.get(code);
    if (r) return { odsCode: code, name: r.name, kind: r.kind, origin: 'reference' };
    const f = this.fed.get(code);
    if (f) return { odsCode: code, name: f.name, kind: 'other', origin: 'feed' };
    return undefined;
  }

  /** The organisation running a source system: the reference data's `source_systems`, else the code in the key (`gp:P91001`, `hl7:RM2`). */
  ofSource(system: string): Organisation | undefined {
    const listed = this.reference.organisationOfSource.get(system);
    if (listed) return this.get(listed.odsCode);
    const code = odsOfSource(system);
    return code ? this.get(code) : undefined;
  }

  /** The name a clinician recognises for a source system, with its key: "Sale Moor Medical Centre (gp:P91001)". */
  sourceName(system: string): string {
    const org = this.ofSource(system);
    if (org) return `${org.name} (${system})`;
    if (system.startsWith('gp:')) return `GP practice ${system.slice(3)} (${system})`;
    if (system.startsWith('hl7:')) return `Hospital system (${system})`;
    if (system === COMMUNITY) return `Community services (${system})`;
    if (system === SOCIAL_CARE) return `Social care (${system})`;
    if (system === MENTAL_HEALTH_COMMUNITY) return `Mental health services, community (${system})`;
    return system;
  }
}

/** The ODS code in a source system key (`gp:P91001` → P91001, `hl7:RM2` → RM2), or null. */
export function odsOfSource(system: string): string | null {
  const m = /^(?:gp|hl7):([A-Za-z0-9-]{3,12})$/.exec(system);
  return m ? m[1]!.toUpperCase() : null;
}
