/**
 * The request context every service takes: who is asking (principal: user, role, organisation),
 * for what purpose, from where, and the database. It is built once at the edge (the HTTP
 * sign-in plugin, a CLI command) and never defaulted inside a service: no invented actors.
 *
 * Also the one error type services throw, `BevanError`, whose kind (not-found, invalid,
 * conflict, forbidden, unauthenticated, unavailable) the edges map once: to an
 * OperationOutcome and HTTP status (`http/outcome.ts`) and to an exit code (`exitCodeFor`).
 */
import type { Database } from '../db/database.ts';
import type { SignOutCheck } from './bearer.ts';

/** The roles, named exactly as the interface contract says (issue 9). */
export const ROLES = ['gp', 'practice-nurse', 'consultant', 'community-nurse', 'mental-health', 'social-worker', 'care-coordinator', 'analyst', 'patient', 'integration', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(s: unknown): s is Role {
  return typeof s === 'string' && (ROLES as readonly string[]).includes(s);
}

/**
 * Purposes of use, after the HL7 v3 PurposeOfUse codes (TREAT, HOPERAT, HRESCH, PATRQT,
 * ETREAT): direct care, secondary use (planning, research), the person's own access,
 * administration of the service, and emergency (break-glass) care.
 */
export const PURPOSES = ['direct-care', 'secondary-use', 'patient-access', 'administration', 'emergency'] as const;
export type PurposeOfUse = (typeof PURPOSES)[number];

export function isPurpose(s: unknown): s is PurposeOfUse {
  return typeof s === 'string' && (PURPOSES as readonly string[]).includes(s);
}

/**
 * The purpose of use a request has when the user names none: a patient's own access, an
 * analyst's secondary use, administration for the integration team and administrators (feeds,
 * care teams, consent, audit), direct care for everyone else.
 */
export function defaultPurposeFor(role: Role): PurposeOfUse {
  switch (role) {
    case 'patient':
      return 'patient-access';
    case 'analyst':
      return 'secondary-use';
    case 'integration':
    case 'admin':
      return 'administration';
    default:
      return 'direct-care';
  }
}

export interface Principal {
  /** The user name (local user) or the token subject. */
  user: string;
  role: Role;
  /** ODS code of the user's organisation, when they have one. */
  organisation: string | null;
  /** For role patient: the NHS number of the person whose record is their own. */
  nhsNumber?: string | null;
  /**
   * For a backend client (SMART backend services, access/backend-clients.ts): the system scopes
   * its token was granted, which narrow what it may read to those resource types. Absent for a
   * person signed in (their role's policy alone decides).
   */
  scopes?: readonly string[];
}

export interface RequestContext {
  principal: Principal;
  purpose: PurposeOfUse;
  db: Database;
  /** Where the request came from: an IP address, or `cli:<host>` for a terminal. */
  from: string;
  /** Set when the user declares an emergency for this request (break-glass), with their reason. */
  breakGlassReason?: string;
  /** A bearer token's sign-out check left to the request's first statement (access/bearer.ts): settled before any data is handed back. */
  signOutCheck?: SignOutCheck;
}

export type ErrorKind = 'not-found' | 'invalid' | 'conflict' | 'forbidden' | 'unauthenticated' | 'unavailable' | 'too-costly' | 'unprocessable';

/** An error a service throws on purpose: its kind says what the caller can do about it. */
export class BevanError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    /** Extra issues for an OperationOutcome, e.g. one per unknown search parameter. */
    readonly details: readonly string[] = [],
  ) {
    super(message);
    this.name = 'BevanError';
  }
}

export const notFound = (message: string) => new BevanError('not-found', message);
export const invalid = (message: string, details: readonly string[] = []) => new BevanError('invalid', message, details);
export const conflict = (message: string) => new BevanError('conflict', message);
export const forbidden = (message: string) => new BevanError('forbidden', message);
export const unauthenticated = (message: string) => new BevanError('unauthenticated', message);
export const unavailable = (message: string) => new BevanError('unavailable', message);
export const tooCostly = (message: string) => new BevanError('too-costly', message);
/** Well-formed but cannot be processed as asked (an invalid ViewDefinition: HTTP 422, as SQL-on-FHIR's $run says). */
export const unprocessable = (message: string, details: readonly string[] = []) => new BevanError('unprocessable', message, details);

export function isBevanError(err: unknown): err is BevanError {
  return err instanceof BevanError;
}

/** HTTP status for each kind (one place). */
export const HTTP_STATUS: Record<ErrorKind, number> = {
  'not-found': 404,
  invalid: 400,
  conflict: 409,
  forbidden: 403,
  unauthenticated: 401,
  unavailable: 503,
  'too-costly': 422,
  unprocessable: 422,
};

/** OperationOutcome issue codes (https://hl7.org/fhir/R4/valueset-issue-type.html) for each kind. */
export const ISSUE_CODE: Record<ErrorKind, string> = {
  'not-found': 'not-found',
  invalid: 'invalid',
  conflict: 'conflict',
  forbidden: 'forbidden',
  unauthenticated: 'login',
  unavailable: 'transient',
  'too-costly': 'too-costly',
  unprocessable: 'invalid',
};

/**
 * Exit codes for the CLI (one place): after sysexits.h where one fits — 64 usage/invalid,
 * 66 no input (not found), 69 unavailable, 75 temporary failure (conflict: try again),
 * 77 permission denied, 65 data the command cannot process (an invalid ViewDefinition); 1 for anything unexpected.
 */
export const EXIT_CODE: Record<ErrorKind, number> = {
  invalid: 64,
  'not-found': 66,
  unavailable: 69,
  conflict: 75,
  forbidden: 77,
  unauthenticated: 77,
  'too-costly': 64,
  unprocessable: 65,
};

export function exitCodeFor(err: unknown): number {
  return isBevanError(err) ? EXIT_CODE[err.kind] : 1;
}
