/**
 * `bevan care-team add|end|list` and `bevan consent record|withdraw|list`: the writers of the
 * relationship and consent facts the access policy reads. Each names its user (--user or
 * BEVAN_USER); who may do what is the policy's (access/policy/policy.json `careTeam`, `consent`),
 * and every use is audited. The commands only translate: the services are access/care-team.ts
 * and access/consent.ts.
 */
import type { Command } from 'commander';
import { addCareTeamMember, endCareTeamMember, listCareTeam, type CareTeamMember } from '../../access/care-team.ts';
import { CONSENT_KINDS, listConsent, recordConsent, withdrawConsent, type ConsentDirective } from '../../access/consent.ts';
import { defaultPurposeFor, invalid, type RequestContext } from '../../access/context.ts';
import type { Database } from '../../db/database.ts';
import { databaseOption, printJson, withDatabase, type DatabaseOptions } from '../context.ts';
import { cliContext, runWithExitCode, type WhoOptions } from './cli-context.ts';
import { parseWho } from './record.ts';

type Opts = DatabaseOptions & WhoOptions & { json?: boolean };

const EXIT_CODES = '\nExit codes: 64 invalid input, 66 not found, 77 refused by the access policy or unknown user.';

function withWho(cmd: Command): Command {
  return databaseOption(
    cmd
      .argument('<who>', "the person: NHS number (spaces allowed) or Bevan person id")
      .option('--user <name>', 'the local user doing it (bevan user add); default $BEVAN_USER')
      .option('--purpose <purpose>', 'purpose of use (default by role: patient-access for a patient, administration for an administrator, else direct-care)')
      .option('--json', 'print one JSON object'),
  );
}

/** The request context: the named user; the purpose their role implies unless given. */
async function contextFor(db: Database, o: WhoOptions): Promise<RequestContext> {
  const ctx = await cliContext(db, o);
  return o.purpose ? ctx : { ...ctx, purpose: defaultPurposeFor(ctx.principal.role) };
}

function personOf(who: string) {
  const parsed = parseWho(who);
  if (parsed.kind === 'error') throw invalid(parsed.message);
  return parsed.query;
}

function showMember(m: CareTeamMember): string {
  return `${m.member}${m.role ? ` (${m.role})` : ''}  from ${m.startsAt.slice(0, 16)}${m.recordedBy ? ` by ${m.recordedBy}` : ''}${m.endsAt ? `  ended ${m.endsAt.slice(0, 16)}${m.endedBy ? ` by ${m.endedBy}` : ''}` : ''}`;
}

function showDirective(d: ConsentDirective): string {
  return `${d.kind}  recorded ${d.recordedAt.slice(0, 16)}${d.recordedBy ? ` by ${d.recordedBy}` : ''}${d.withdrawnAt ? `  withdrawn ${d.withdrawnAt.slice(0, 16)}${d.withdrawnBy ? ` by ${d.withdrawnBy}` : ''}` : '  (in force)'}`;
}

export function registerCareTeam(program: Command): void {
  const ct = program
    .command('care-team')
    .description("a person's care team: named users and organisations caring for them (a relationship that gives direct-care access; who may change it is policy, every use audited)");
  withWho(ct.command('add').description('add a member to the person\'s care team').requiredOption('--member <member>', 'a user name, or org:<ODS code> for a whole organisation').option('--role <role>', 'their part in the care, e.g. named-gp, key-worker')).addHelpText(
    'after',
    `${EXIT_CODES}\nExamples:\n  bevan care-team add "943 476 5919" --member nurse.khan --role lead-nurse --user dr.jones\n  bevan care-team add 9434765919 --member org:RM3 --user admin1`,
  ).action(async (who: string, o: Opts & { member: string; role?: string }) =>
    runWithExitCode(async () => {
      const query = personOf(who);
      const r = await withDatabase(o, async (db) => addCareTeamMember(await contextFor(db, o), query, { member: o.member, ...(o.role !== undefined ? { role: o.role } : {}) }));
      if (o.json) return printJson(r);
      console.log(`${r.changed ? 'added' : 'already on the care team'}: ${showMember(r.member)} (person ${r.personId})`);
    }),
  );
  withWho(ct.command('end').description("end a member's place on the person's care team (kept for the record)").requiredOption('--member <member>', 'a user name, or org:<ODS code>')).addHelpText('after', EXIT_CODES).action(
    async (who: string, o: Opts & { member: string }) =>
      runWithExitCode(async () => {
        const query = personOf(who);
        const r = await withDatabase(o, async (db) => endCareTeamMember(await contextFor(db, o), query, o.member));
        if (o.json) return printJson(r);
        console.log(`ended: ${showMember(r.member)} (person ${r.personId})`);
      }),
  );
  withWho(ct.command('list').description("the person's care team").option('--all', 'members who left too')).addHelpText('after', EXIT_CODES).action(async (who: string, o: Opts & { all?: boolean }) =>
    runWithExitCode(async () => {
      const query = personOf(who);
      const r = await withDatabase(o, async (db) => listCareTeam(await contextFor(db, o), query, { all: o.all }));
      if (o.json) return printJson(r);
      if (!r.members.length) return console.log(`no care team members (person ${r.personId})`);
      for (const m of r.members) console.log(showMember(m));
    }),
  );
}

export function registerConsent(program: Command): void {
  const c = program
    .command('consent')
    .description("a person's consent directives: dissent from sharing between organisations, the national data opt-out (who may record them is policy, every use audited)");
  const kind = (cmd: Command) => cmd.requiredOption('--kind <kind>', CONSENT_KINDS.join(' | '));
  withWho(kind(c.command('record').description('record a directive (dissent-sharing: each user then sees only their own organisation\'s items; national-data-opt-out: no secondary use)'))).addHelpText(
    'after',
    `${EXIT_CODES}\nExamples:\n  bevan consent record 9434765919 --kind dissent-sharing --user jon      (the patient themselves)\n  bevan consent record 9434765919 --kind national-data-opt-out --user admin1`,
  ).action(async (who: string, o: Opts & { kind: string }) =>
    runWithExitCode(async () => {
      const query = personOf(who);
      const r = await withDatabase(o, async (db) => recordConsent(await contextFor(db, o), query, o.kind));
      if (o.json) return printJson(r);
      console.log(`${r.changed ? 'recorded' : 'already in force'}: ${showDirective(r.directive)} (person ${r.personId})`);
    }),
  );
  withWho(kind(c.command('withdraw').description('withdraw a directive in force (kept for the record)'))).addHelpText('after', EXIT_CODES).action(async (who: string, o: Opts & { kind: string }) =>
    runWithExitCode(async () => {
      const query = personOf(who);
      const r = await withDatabase(o, async (db) => withdrawConsent(await contextFor(db, o), query, o.kind));
      if (o.json) return printJson(r);
      console.log(`withdrawn: ${showDirective(r.directive)} (person ${r.personId})`);
    }),
  );
  withWho(c.command('list').description("the person's directives, in force and withdrawn")).addHelpText('after', EXIT_CODES).action(async (who: string, o: Opts) =>
    runWithExitCode(async () => {
      const query = personOf(who);
      const r = await withDatabase(o, async (db) => listConsent(await contextFor(db, o), query));
      if (o.json) return printJson(r);
      if (!r.directives.length) return console.log(`no consent directives (person ${r.personId})`);
      for (const d of r.directives) console.log(showDirective(d));
    }),
  );
}
