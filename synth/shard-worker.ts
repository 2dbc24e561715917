/** A generator thread: makes the shards it is sent (shard.ts) and hands back their bytes without copying them. */
import { parentPort } from 'node:worker_threads';
import { generateShard, type ShardResult, type ShardTask } from './shard.ts';

export type ToShardWorker = ShardTask;
export type FromShardWorker = { ok: true; result: ShardResult } | { ok: false; shard: number; error: string };

parentPort!.on('message', (task: ToShardWorker) => {
  let reply: FromShardWorker;
  try {
    reply = { ok: true, result: generateShard(task) };
  } catch (err) {
    reply = { ok: false, shard: task.shard, error: err instanceof Error ? err.stack ?? err.message : String(err) };
  }
  const transfer = reply.ok ? reply.result.files.flatMap(([, chunks]) => chunks.map((c) => c.buffer as ArrayBuffer)) : [];
  parentPort!.postMessage(reply, transfer);
});
