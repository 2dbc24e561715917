/**
 * Errors as FHIR OperationOutcomes (https://hl7.org/fhir/R4/operationoutcome.html) with their
 * HTTP status, in one place: a BevanError by its kind; Fastify's own errors (malformed or
 * oversized JSON, unsupported media type) by their status; anything else as 500 with no detail.
 */
import type { OperationOutcome } from '@medplum/fhirtypes';
import { HTTP_STATUS, ISSUE_CODE, isBevanError } from '../access/context.ts';
import { isUnavailable } from '../db/database.ts';

export function operationOutcome(code: string, diagnostics: string, details: readonly string[] = [], severity: 'error' | 'warning' | 'information' = 'error'): OperationOutcome {
  const issue: OperationOutcome['issue'] = [{ severity, code: code as 'invalid', diagnostics }];
  for (const d of details) if (d !== diagnostics) issue.push({ severity, code: code as 'invalid', diagnostics: d });
  return { resourceType: 'OperationOutcome', issue };
}

const FASTIFY_CODES: Record<number, string> = { 400: 'invalid', 401: 'login', 403: 'forbidden', 404: 'not-found', 405: 'not-supported', 406: 'not-supported', 413: 'too-costly', 415: 'not-supported', 429: 'throttled' };

/** The status and OperationOutcome for any error a route throws. */
export function errorReply(err: unknown): { status: number; body: OperationOutcome } {
  if (isBevanError(err)) return { status: HTTP_STATUS[err.kind], body: operationOutcome(ISSUE_CODE[err.kind], err.message, err.details) };
  if (isUnavailable(err)) return { status: 503, body: operationOutcome('transient', 'the database is unavailable; try again shortly') };
  const e = err as { statusCode?: number; message?: string; code?: string };
  const status = typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500;
  if (status >= 500) return { status, body: operationOutcome('exception', 'internal error') };
  const message = e.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'the request body is too large' : (e.message ?? 'bad request');
  return { status, body: operationOutcome(FASTIFY_CODES[status] ?? 'invalid', message) };
}
