// Adds jobs with Node BullMQ. argv: redis URL, bullmq prefix, queue, JSON list of {name, data, opts}.
import { Queue } from "bullmq";
import IORedis from "ioredis";

const [url, prefix, queueName, jobsJson] = process.argv.slice(2);
// In native ESM, BullMQ takes a constructed client; workers need maxRetriesPerRequest: null.
const connection = new IORedis(url, { maxRetriesPerRequest: null });
const queue = new Queue(queueName, { connection, prefix });
const ids = [];
for (const job of JSON.parse(jobsJson)) {
  const added = await queue.add(job.name, job.data, job.opts ?? {});
  ids.push(added.id);
}
process.stdout.write(JSON.stringify(ids) + "\n");
await queue.close();
await connection.quit();
