/**
 * The risk list's place in the navigation: the roles the shipped policy gives a risk rule
 * (access/policy/policy.json, action risk): GPs and practice nurses (their own practice,
 * identified) and analysts (pseudonymised). The server decides every request; this only keeps
 * the link from those who would be refused. Pure.
 */
export const RISK_PATH = '/analytics/risk';

const RISK_ROLES = new Set(['gp', 'practice-nurse', 'analyst']);

export function maySeeRiskList(role: string): boolean {
  return RISK_ROLES.has(role);
}
