// Worker entry: registers tsx's loader in this thread (a worker does not inherit one registered
// through tsx's API by bin/bevan.mjs), then runs the TypeScript shard worker.
import { register } from 'tsx/esm/api';
register();
await import('./shard-worker.ts');
