// A Node BullMQ worker that fails each job's first attempt and completes the second.
// argv: redis URL, bullmq prefix, queue, number of jobs to complete. Prints one JSON line per attempt.
import { Worker } from "bullmq";
import IORedis from "ioredis";

const [url, prefix, queueName, wanted] = process.argv.slice(2);
// In native ESM, BullMQ takes a constructed client; workers need maxRetriesPerRequest: null.
const connection = new IORedis(url, { maxRetriesPerRequest: null });
let completed = 0;
let finish;
const done = new Promise((resolve) => (finish = resolve));
const worker = new Worker(
  queueName,
  async (job) => {
    process.stdout.write(JSON.stringify({ event: "attempt", id: job.id, attemptsMade: job.attemptsMade, at: Date.now() }) + "\n");
    if (job.attemptsMade === 0) {
      throw new Error("first attempt fails on purpose");
    }
    return { value: job.data.value, by: "node" };
  },
  { connection, prefix, concurrency: 5 },
);
worker.on("completed", () => {
  completed += 1;
  if (completed >= Number(wanted)) finish();
});
worker.on("failed", (job, err) => {
  process.stdout.write(JSON.stringify({ event: "failed", id: job?.id, reason: err.message }) + "\n");
});
worker.on("error", (err) => {
  process.stdout.write(JSON.stringify({ event: "error", reason: String(err) }) + "\n");
});
await done;
await worker.close();
await connection.quit();
