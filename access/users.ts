/**
 * Local users (table `app_user`): the embedded default sign-in. Passwords are hashed with
 * argon2id (@node-rs/argon2, OWASP's recommended parameters: 19 MiB, 2 passes); a user may also
 * have no password and sign in only with tokens printed by `bevan token`.
 */
import { hash, verify } from '@node-rs/argon2';
import type { Queryable } from '../db/database.ts';
import { conflict, invalid, isRole, ROLES, type Principal, type Role } from './context.ts';
import { isValidNhsNumber } from '../mpi/nhs-number.ts';

export interface LocalUser {
  username: string;
  role: Role;
  organisation: string | null;
  nhsNumber: string | null;
  disabled: boolean;
}

const USERNAME = /^[a-z0-9][a-z0-9._@-]{0,63}$/i;
const ODS = /^[A-Z0-9-]{3,12}$/;
// argon2id (Algorithm.Argon2id = 2), the library's defaults: m=19456 KiB, t=2, p=1.
const ARGON2ID = 2;

export interface NewUser {
  username: string;
  role: string;
  organisation?: string | null;
  nhsNumber?: string | null;
  password?: string | null;
}

/** Checks a new user into a list of problems (empty when it is fine). */
export function checkNewUser(u: NewUser): string[] {
  const problems: string[] = [];
  if (!USERNAME.test(u.username)) problems.push(`"${u.username}" is not a user name: letters, digits, . _ @ - (up to 64)`);
  if (!isRole(u.role)) problems.push(`"${u.role}" is not a role (roles are ${ROLES.join(', ')})`);
  if (u.organisation && !ODS.test(u.organisation)) problems.push(`"${u.organisation}" is not an ODS code (capitals and digits, e.g. P91001)`);
  if (u.role === 'patient' && !u.nhsNumber) problems.push('a patient user needs --nhs-number (whose record is theirs)');
  if (u.nhsNumber && !isValidNhsNumber(u.nhsNumber.replace(/\s+/g, ''))) problems.push(`${u.nhsNumber} is not a valid NHS number`);
  if (u.password !== undefined && u.password !== null && u.password.length < 12) problems.push('a password needs at least 12 characters');
  return problems;
}

/** Adds a local user; conflict when the name is taken. */
export async function addUser(db: Queryable, u: NewUser): Promise<LocalUser> {
  const problems = checkNewUser(u);
  if (problems.length) throw invalid(problems.join('; '), problems);
  const passwordHash = u.password ? await hash(u.password, { algorithm: ARGON2ID }) : null;
  const r = await db.query(
    `INSERT INTO app_user (username, role, organisation, nhs_number, password_hash) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING`,
    [u.username, u.role, u.organisation ?? null, u.nhsNumber ? u.nhsNumber.replace(/\s+/g, '') : null, passwordHash],
  );
  if (r.rowCount === 0) throw conflict(`user ${u.username} already exists`);
  return { username: u.username, role: u.role as Role, organisation: u.organisation ?? null, nhsNumber: u.nhsNumber ?? null, disabled: false };
}

export async function findUser(db: Queryable, username: string): Promise<(LocalUser & { passwordHash: string | null }) | null> {
  const r = await db.query<{ username: string; role: string; organisation: string | null; nhs_number: string | null; password_hash: string | null; disabled_at: unknown }>(
    'SELECT username, role, organisation, nhs_number, password_hash, disabled_at FROM app_user WHERE username = $1',
    [username],
  );
  const u = r.rows[0];
  if (!u || !isRole(u.role)) return null;
  return { username: u.username, role: u.role, organisation: u.organisation, nhsNumber: u.nhs_number, disabled: u.disabled_at !== null, passwordHash: u.password_hash };
}

// A hash of a random password: checked when the user does not exist, so that the answer takes as long.
let dummyHash: Promise<string> | null = null;

/** The user when the password is right and the user is enabled; null otherwise (same work either way). */
export async function checkPassword(db: Queryable, username: string, password: string): Promise<LocalUser | null> {
  const u = USERNAME.test(username) ? await findUser(db, username) : null;
  dummyHash ??= hash(`no such user ${Math.random()}`, { algorithm: ARGON2ID });
  const stored = u?.passwordHash ?? (await dummyHash);
  let ok = false;
  try {
    ok = await verify(stored, password);
  } catch {
    ok = false;
  }
  if (!u || !u.passwordHash || !ok || u.disabled) return null;
  return { username: u.username, role: u.role, organisation: u.organisation, nhsNumber: u.nhsNumber, disabled: false };
}

export function principalOf(u: LocalUser): Principal {
  return { user: u.username, role: u.role, organisation: u.organisation, nhsNumber: u.nhsNumber };
}
