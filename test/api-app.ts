/**
 * The API on a test database with users signed in, as the route tests need it: each user added
 * (access/users.ts) and given a bearer token, the OpenAPI generator and the API plugin registered.
 */
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { issueToken } from '../access/tokens.ts';
import { addUser } from '../access/users.ts';
import type { Role } from '../access/context.ts';
import type { Database } from '../db/database.ts';
import { bevanApi, registerOpenApi, type ApiOptions } from '../http/app.ts';

/** The analytics route tests' users: a GP of P91001, an ICB analyst, a consultant at RM2. */
export const ANALYTICS_USERS: ReadonlyArray<readonly [string, Role, string]> = [
  ['dr.jones', 'gp', 'P91001'],
  ['ann', 'analyst', 'ICB'],
  ['dr.who', 'consultant', 'RM2'],
];

export interface TestApi {
  app: FastifyInstance;
  /** `Bearer <token>` by user name. */
  bearer: Record<string, string>;
  /** GET with an Authorization header value (a `bearer[...]`), or none. */
  get(url: string, authorization?: string, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
}

export async function apiWithUsers(db: Database, options: Omit<Partial<ApiOptions>, 'db'> = {}, users: ReadonlyArray<readonly [string, Role, string]> = ANALYTICS_USERS): Promise<TestApi> {
  const bearer: Record<string, string> = {};
  for (const [user, role, organisation] of users) {
    await addUser(db, { username: user, role, organisation });
    bearer[user] = `Bearer ${await issueToken(db, { user, role, organisation })}`;
  }
  const app = Fastify({ logger: false });
  await registerOpenApi(app);
  await app.register(bevanApi, { loginPerMinute: 5, ...options, db });
  await app.ready();
  const get = (url: string, authorization?: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers: { ...(authorization ? { authorization } : {}), ...headers } });
  return { app, bearer, get };
}
