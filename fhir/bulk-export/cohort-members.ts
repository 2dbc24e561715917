// A port: the people of a cohort's Group (`Group/cohort-<register>`), for a bulk export. The
// registers and their compiler live in analytics/cohorts (which depends on fhir/, not the other
// way round), so the HTTP layer hands the export an adapter (analytics/cohorts/groups.ts).
import type { Principal, PurposeOfUse } from '../../access/context.ts';
import type { Queryable } from '../../db/database.ts';

export interface CohortMembers {
  /** Whether a register of this name exists. */
  has(register: string): boolean;
  /**
   * The active person ids on the register that the user may export, decided as a register run
   * (a GP: their own practice's people); throws forbidden when the policy refuses the run.
   */
  members(db: Queryable, who: { principal: Principal; purpose: PurposeOfUse }, register: string, now: Date): Promise<string[]>;
}
